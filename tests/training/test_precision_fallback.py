"""``precision: auto`` trains again in float32 when bf16 skips most steps of a first epoch; a pinned precision never
falls back but warns of skipped steps; a failed cross-validation fold leaves no empty folder.

A user walk (16^3 CT volumes, CPU with native bf16): 11 of 15 bf16 steps were skipped as not finite and the run was
reported, essentially untrained; in float32 none was. That was not reproducible step for step, so here the skip is
made certain: every bf16 step of the first epoch gets gradients that are not finite."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import medtrain
from conftest import fast_config
from medtrain.crossval import cross_validate
from medtrain.errors import TrainingDiverged
from medtrain.runmodel import load_run_module
from medtrain.training import build
from medtrain.training import fit as fit_mod
from medtrain.training.callbacks import SkipNonFiniteSteps
from medtrain.training.precision import PrecisionFallback, SkippedSteps


class Bf16StepsNotFinite(SkipNonFiniteSteps):
    """The run's own skip, after bf16 gradients that are not finite on every step of the first epoch (``every``:
    of every epoch); float32 steps are left as they are."""

    every = False

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if trainer.precision == "bf16-mixed" and (self.every or trainer.current_epoch == 0):
            next(p for g in optimizer.param_groups for p in g["params"] if p.grad is not None).grad.view(-1)[0] = \
                float("inf")
        super().on_before_optimizer_step(trainer, pl_module, optimizer)


@pytest.fixture
def bf16_fails(monkeypatch):
    monkeypatch.setattr(build.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(build, "_cpu_has_bf16", lambda: True)  # auto is bf16-mixed, as on the walk's CPU
    monkeypatch.setattr(fit_mod, "SkipNonFiniteSteps", Bf16StepsNotFinite)
    return Bf16StepsNotFinite


def _volumes(path, side: int = 8):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 24), ("val", 8), ("test", 8)):
        y = np.arange(n) % 2
        x = rng.integers(0, 60, (n, side, side, side)).astype(np.uint8)
        x[y == 1, 2:6, 2:6, 2:6] += 150  # (8^3 volumes: no number here depends on the size; 12^3 had cost 3x)
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = x, y.reshape(-1, 1).astype(np.uint8)
    np.savez(path, **arrays)
    return path


def _train(cfg: dict):
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        m = medtrain.train(cfg, verbose=False)
    return m, [w for w in said if issubclass(w.category, (PrecisionFallback, SkippedSteps))]


@pytest.mark.parametrize("flip", ["true", "auto"])  # auto: the flip pilots fall back first, the run follows them
def test_auto_precision_trains_again_in_float32_when_bf16_skips_most_first_epoch_steps(bf16_fails, tmp_path, flip):
    run = tmp_path / "r"
    # the default 3D recipe (members: auto, two networks in bf16): 3 steps an epoch. One epoch: the fallback is
    # decided in the first, which float32 then trains again (a second epoch had trained on after it)
    cfg = fast_config(_volumes(tmp_path / "v.npz"), run, model="auto", epochs=1, batch_size=8,
                      bootstrap=0, tta="none", flip=flip)
    del cfg["precision"]  # the default, auto
    m, said = _train(cfg)
    assert m["precision"] == "32-true"
    fallback = m["precision_fallback"]
    assert (fallback["from"], fallback["skipped"], fallback["steps"], fallback["in"]) == \
        ("bf16-mixed", 3, 3, "flip pilot" if flip == "auto" else "run")
    assert "skipped_steps" not in m  # trained from scratch in float32, every step taken
    assert [w.category for w in said] == [PrecisionFallback]  # said once, pilots and run alike
    line = str(said[0].message)
    assert "\n" not in line and "skipped 3 of 3 optimiser steps of epoch 1" in line and "float32" in line
    # members: auto follows the float32 rule (one network), recorded so, and the run loads as trained
    assert "members_val_auc" not in m and load_run_module(run).cfg.members == 1
    assert medtrain.evaluate(run, verbose=False)["auc"] == pytest.approx(m["test"]["auc"], abs=1e-6)
    assert json.loads((run / "metrics.json").read_text())["precision"] == "32-true"
    again, _ = _train(cfg)  # the same command again: the finished run, not "other settings"
    assert again["wall_s"] == m["wall_s"]


def test_a_pinned_bf16_run_does_not_fall_back_but_warns_of_its_skipped_steps(bf16_fails, tiny_npz, tmp_path):
    m, said = _train(fast_config(tiny_npz, tmp_path / "r", precision="bf16-mixed", epochs=2, bootstrap=0,
                                 tta="none"))
    assert m["precision"] == "bf16-mixed" and "precision_fallback" not in m
    steps = m["optimizer_steps"]
    assert m["skipped_steps"] == steps // 2 and steps >= 2  # the whole first epoch
    assert [w.category for w in said] == [SkippedSteps]
    line = str(said[0].message)
    assert "\n" not in line and f"{steps // 2} of {steps} optimiser step(s) skipped" in line
    assert "--precision 32-true" in line


def test_a_cross_validation_whose_first_fold_fails_leaves_no_folder(bf16_fails, tiny_npz, tmp_path, monkeypatch):
    monkeypatch.setattr(bf16_fails, "every", True)  # pinned bf16, no step taken: the fold is refused, as the walk's fold 0 was
    out = tmp_path / "cv"
    with pytest.raises(TrainingDiverged, match="none of the"):
        cross_validate(fast_config(tiny_npz, out, precision="bf16-mixed", folds=2, epochs=1, bootstrap=0,
                                   tta="none"), verbose=False)
    assert not out.exists()
