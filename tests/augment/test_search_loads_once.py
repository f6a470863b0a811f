"""``medtrain augment search`` reads its data once: the CLI reads it to check it before any folder exists and hands
it to the flips' pilots (:func:`medtrain.policy_search.grid_flips`, :func:`~medtrain.policy_search.autoaugment_search`),
which had read it a second time. The pilots get the same images and labels a read of their own settings gives, so
the flips decided and the scores are those of before (measured: the same flip.json and candidates' val AUCs)."""
from __future__ import annotations

import pytest
import torch

import medtrain.api
import medtrain.data
import medtrain.tune.flips
import medtrain.tune.study
from conftest import run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

#: a decision as the pilots make it (flips off), without training them
MADE = {"chosen": False, "how": "pilot runs of 1 epoch(s) on validation", "val_auc": {"with": 0.5, "without": 0.6},
        "margin": 0.01, "pinned": True}


@pytest.mark.parametrize("method, flags", [("randaugment", ["--n-values", "1", "--m-values", "5"]),
                                           ("autoaugment", ["--trials", "2"])])
def test_a_search_reads_its_data_once_and_the_pilots_train_on_it(tiny_npz, tmp_path, capsys, monkeypatch, method,
                                                                 flags):
    loaded, real = [], medtrain.data.load_splits
    monkeypatch.setattr(medtrain.data, "load_splits", lambda cfg: loaded.append(real(cfg)) or loaded[-1])
    pilots = []
    monkeypatch.setattr(medtrain.tune.flips, "decide_once", lambda cfg, splits, d: pilots.append((cfg, splits)) or MADE)
    monkeypatch.setattr(medtrain.api, "train", lambda *a, **k: {"val": {"auc": 0.7}})  # the candidates: faked
    monkeypatch.setattr(medtrain.tune.study, "train_trial", lambda trial, cfg, deadline=None: 0.7)
    code, out, err = run_cli(capsys, "augment", "search", "--data", tiny_npz, "--budget-epochs", "1", "--method",
                             method, *flags, "--out", tmp_path / "p.yaml")
    assert code == 0, err
    assert len(loaded) == 1  # had been 2: the check, then the pilots
    ((cfg, splits),) = pilots
    assert splits is loaded[0] and "flips off for every" in out
    own = real(cfg)  # what the pilots had read for themselves
    for name in ("train", "val", "test"):
        assert torch.equal(splits.split(name).images, own.split(name).images)
        assert torch.equal(splits.split(name).labels, own.split(name).labels)
