"""A linear probe says "every seed gives the same probe" (its summary line, metrics.json's ``probe.seeds``) only
where the seed drew no split: on data that come split (an .npz in MedMNIST layout, MedMNIST itself). It had said so
on every run, also where medtrain drew val and test with the seed (a CSV without a split column) or dealt train+val
into folds (``--folds``), where each seed's probe is fitted and its C chosen on other images."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from conftest import make_images, make_npz, png_csv
from medtrain.config import resolve
from medtrain.data import load_splits
from medtrain.reports.summary import SAME_PROBE
from medtrain.training.probe import fit_probe, same_for_every_seed

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A source network's weights (an untrained resnet10_28_half: random codes, enough to fit a probe on), tiny
    data that come split (an .npz) and a CSV of the same kind of images without a split column."""
    from safetensors.torch import save_file

    from medtrain.training.build import build_model

    root = tmp_path_factory.mktemp("probe_claim")
    npz = make_npz(root / "tiny.npz", sizes=(32, 12, 12))
    images, labels = make_images(56, seed=3)
    (root / "csv").mkdir()
    csv = png_csv(root / "csv", images, labels)
    cfg = resolve({"data": str(npz), "model": "resnet10_28_half"})
    torch.manual_seed(0)
    model, _ = build_model(cfg, load_splits(cfg))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(root / "src.safetensors"))
    return root, npz, csv


def _probe(root, data, name, **over):
    cfg = resolve({"data": str(data), "model": "resnet10_28_half", "pretrained": str(root / "src.safetensors"),
                   "transfer": "linear-probe", "accelerator": "cpu", **over})
    splits = load_splits(cfg)
    return splits, fit_probe(cfg, splits, root / name)


def test_a_probe_on_the_datas_own_split_says_it_is_the_same_for_every_seed(source):
    root, npz, _ = source
    splits, r = _probe(root, npz, "own")
    assert splits.record.origin == "own"
    assert r.metrics["probe"]["seeds"] == SAME_PROBE and SAME_PROBE in r.summary


@pytest.mark.parametrize("where", ["csv", "folds"])
def test_a_probe_on_a_split_the_seed_drew_does_not_claim_it(source, where):
    root, npz, csv = source
    splits, r = _probe(root, csv, "drawn") if where == "csv" else _probe(root, npz, "fold", folds=2, fold=0)
    assert splits.record.origin == ("drawn" if where == "csv" else "own test, fold val")
    assert r.metrics["probe"]["seeds"] is None
    assert "the same probe" not in r.summary and "convex fit" not in r.summary
    assert r.summary.startswith("linear probe (")  # the line is still said, without the claim


def test_splits_given_without_a_record_are_taken_as_they_come(source):
    root, npz, _ = source
    splits = load_splits(resolve({"data": str(npz)}))
    assert same_for_every_seed(dataclasses.replace(splits, record=None)) == SAME_PROBE
