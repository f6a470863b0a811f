"""Every transfer strategy from a source model A trained earlier in the session, through ``medtrain.train``.

Model A is a run on the bright-square task (``pretrained=<run dir>``). Each test trains model B with one
strategy, checks that it learned and that ``medtrain.evaluate`` reproduces it, and compares B's weights as
training starts (and, for frozen stages, as it ends) with A's: copied stages equal A's, frozen stages do
not train, re-drawn ones have A's per-tensor scale but none of its values.
"""
from __future__ import annotations

import json

import pytest
import torch

import medtrain
from medtrain.models.weights import load_state
from medtrain.config import STRATEGIES
from medtrain.models.stages import HEAD, model_stages
from technique_helpers import Inspect, technique_config, train_check


@pytest.fixture(scope="module")
def source_a(learnable_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("transfer") / "A"
    medtrain.train(technique_config(learnable_npz, out), verbose=False)
    return out


def _start(trainer, pl_module):
    model = pl_module.model
    stages = model_stages(model)
    return {"state": {k: v.detach().clone() for k, v in model.state_dict().items()}, "stages": stages,
            "grad": {n: p.requires_grad for n, p in model.named_parameters()},
            "optimised": {id(p) for g in trainer.optimizers[0].param_groups for p in g["params"]},
            "params": dict(model.named_parameters())}


def _by_stage(seen, which):
    return [n for n, s in seen["stages"].items() if s != HEAD and which(s)]


def _train_b(learnable_npz, source_a, tmp_path, transfer):
    seen = Inspect(_start)
    m = train_check(learnable_npz, tmp_path / "B", callbacks=[seen], pretrained=str(source_a), transfer=transfer)
    return m, seen.seen, load_state(source_a / "model.safetensors"), load_state(tmp_path / "B" / "model.safetensors")


def test_every_strategy_is_covered():
    assert set(STRATEGIES) == {"scratch", "linear-probe", "finetune", "finetune-top:K", "partial:K", "scale"}


def test_scratch_copies_nothing(learnable_npz, source_a, tmp_path):
    m, seen, a, _ = _train_b(learnable_npz, source_a, tmp_path, "scratch")
    convs = [n for n in _by_stage(seen, lambda s: True) if seen["state"][n].ndim == 4]
    assert convs and not any(torch.equal(seen["state"][n], a[n]) for n in convs)
    assert all(seen["grad"].values())


def test_finetune_copies_every_stage_and_trains_all(learnable_npz, source_a, tmp_path):
    m, seen, a, b = _train_b(learnable_npz, source_a, tmp_path, "finetune")
    backbone = _by_stage(seen, lambda s: True)
    assert all(torch.equal(seen["state"][n], a[n]) for n in backbone)
    assert all(seen["grad"].values()) and m["transfer"]["strategy"] == "finetune"
    assert not all(torch.equal(b[n], a[n]) for n in backbone)  # and then trained them


def test_finetune_top_1_freezes_all_but_the_top_stage(learnable_npz, source_a, tmp_path):
    m, seen, a, b = _train_b(learnable_npz, source_a, tmp_path, "finetune-top:1")
    top = max(s for s in seen["stages"].values() if s != HEAD)
    frozen, trained = _by_stage(seen, lambda s: s < top), _by_stage(seen, lambda s: s == top)
    assert frozen and trained
    assert not any(seen["grad"][n] for n in frozen) and all(seen["grad"][n] for n in trained)
    assert all(torch.equal(b[n], a[n]) for n in frozen)  # frozen stages end as A's weights
    frozen_bn = [k for k in a if k.endswith("running_mean") and seen["stages"].get(k[:-12] + "weight", HEAD) in
                 range(top)]
    assert frozen_bn and all(torch.equal(b[k], a[k]) for k in frozen_bn)  # batch-norm statistics too
    assert not all(torch.equal(b[n], a[n]) for n in trained)
    assert len(m["transfer"]["frozen"]) == top


def test_partial_2_copies_the_two_lowest_stages(learnable_npz, source_a, tmp_path):
    m, seen, a, _ = _train_b(learnable_npz, source_a, tmp_path, "partial:2")
    low, high = _by_stage(seen, lambda s: s < 2), _by_stage(seen, lambda s: s >= 2)
    assert all(torch.equal(seen["state"][n], a[n]) for n in low)
    assert not any(torch.equal(seen["state"][n], a[n]) for n in high if seen["state"][n].ndim == 4)
    assert all(seen["grad"].values()) and m["transfer"]["copied"] == m["transfer"]["stages"][:2]


def test_scale_redraws_with_the_sources_per_tensor_statistics(learnable_npz, source_a, tmp_path):
    m, seen, a, _ = _train_b(learnable_npz, source_a, tmp_path, "scale")
    convs = [n for n in _by_stage(seen, lambda s: True) if seen["state"][n].ndim == 4]
    for n in convs:
        w, src = seen["state"][n], a[n].float()
        assert not torch.equal(w, src)
        assert w.std().item() == pytest.approx(src.std().item(), rel=0.25 if w.numel() >= 200 else 0.6)
    assert m["transfer"]["redrawn"] == m["transfer"]["stages"]


def test_linear_probe_keeps_the_source_network_and_fits_a_linear_layer(learnable_npz, source_a, tmp_path):
    # no Lightning loop here (CNN codes + logistic regression): the saved run holds A's network unchanged
    m = train_check(learnable_npz, tmp_path / "B", pretrained=str(source_a), transfer="linear-probe")
    assert m["transfer"]["frozen"] == m["transfer"]["stages"]
    a, b = load_state(source_a / "model.safetensors"), load_state(tmp_path / "B" / "model.safetensors")
    shared = [k for k in a if "model." + k in b and not k.startswith("fc.")]  # ProbeModel wraps A as `model`
    assert len(shared) > 10 and [k for k in shared if not torch.equal(a[k], b["model." + k])] == []
    assert b["linear.weight"].shape[0] == 2
    # counted as it computes: A's network up to its pooled codes and the probe's linear layer (as wide as A's
    # classifier, which the probe network holds but never calls)
    source = json.loads((source_a / "metrics.json").read_text())["parameters"]
    assert m["parameters"] == {"total": source["total"], "trainable": b["linear.weight"].numel() + 2}
