"""A network trained with a custom head (``--head maxout:K``, ``--dropout-kind``, MC dropout: its weights are
``backbone.*`` + ``head.*``) is a transfer source like any other, and a target with a custom head takes a plain
source: the backbone is what transfers, the head is always new (a user walkthrough)."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from medtrain.api import train
from medtrain.config import resolve
from medtrain.models.pretrained import load_source, source_model
from medtrain.models.weights import load_state
from medtrain.training.build import build_model, uses_custom_head

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import fast_config, make_npz  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A source with a custom head (dropout 0.3, standout) and a plain one, 1 epoch each."""
    root = tmp_path_factory.mktemp("headsrc")
    data = make_npz(root / "d.npz", sizes=(64, 16, 16))
    train(fast_config(data, root / "custom", epochs=1, dropout=0.3, dropout_kind="standout"), verbose=False)
    train(fast_config(data, root / "plain", epochs=1), verbose=False)
    return root, data


def start_weights(cfg: dict) -> dict:
    """The target's state right after the source was applied (what training starts from)."""
    c = resolve(cfg)
    splits = SimpleNamespace(in_chans=1, num_classes=2, spatial_shape=(16, 16), name="d")
    model, plan = build_model(c, splits, transfer=True, resume=False)
    assert plan.copied_tensors > 0
    return model.state_dict()


def backbone(state: dict) -> dict:
    return {k.removeprefix("backbone."): v for k, v in state.items() if not k.startswith(("head.", "fc."))}


def test_a_custom_head_source_saves_backbone_and_head(runs):
    root, _ = runs
    keys = load_state(root / "custom" / "model.safetensors")
    assert any(k.startswith("backbone.") for k in keys) and any(k.startswith("head.") for k in keys)
    assert uses_custom_head(resolve({"data": "x.npz", "head": "maxout:2"}))


@pytest.mark.parametrize("target", [{}, {"dropout": 0.3, "dropout_kind": "standout"}, {"transfer": "linear-probe"}],
                         ids=["plain", "custom-head", "linear-probe"])
def test_a_custom_head_run_is_a_source_of_its_backbone(runs, tmp_path, target):
    root, data = runs
    cfg = fast_config(data, tmp_path / "B", epochs=1, pretrained=str(root / "custom"), **target)
    src = backbone(load_state(root / "custom" / "model.safetensors"))
    start = backbone(start_weights(cfg))
    assert set(start) == set(src) - {k for k in src if k.endswith("_extra_state")}
    for k, v in start.items():
        assert torch.equal(v, src[k]), k
    m = train(cfg, verbose=False)  # and it trains
    assert m["transfer"]["copied_tensors"] == len(start)


def test_advise_rebuilds_a_custom_head_source(runs):
    """advise computes the source's features with the network rebuilt from its weights (source_model)."""
    root, _ = runs
    model = source_model(load_source(root / "custom"))
    src = backbone(load_state(root / "custom" / "model.safetensors"))
    got = model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in src.items() if not k.endswith("_extra_state"))


def test_a_maxout_target_takes_a_plain_source(runs, tmp_path):
    root, data = runs
    cfg = fast_config(data, tmp_path / "B", epochs=1, head="maxout:2", pretrained=str(root / "plain"))
    src = backbone(load_state(root / "plain" / "model.safetensors"))
    start = start_weights(cfg)
    assert any(k.startswith("head.maxout") for k in start)
    start = backbone(start)
    assert start and set(start) <= set(src)
    for k, v in start.items():
        assert torch.equal(v, src[k]), k
    train(cfg, verbose=False)
