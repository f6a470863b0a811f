"""A trial is never pruned at its last epoch: it has paid its whole training, so it completes and is ranked by
its run's validation score. Optuna's Lightning callback had pruned it "after epoch 2" of ``--epochs 2``, deleted
its finished folder and recorded the pruner's per-epoch value for it."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import optuna
import torch

import medtrain.api
from medtrain.tune import tune
from medtrain.tune.study import default_storage

SPACE = {"lr": {"low": 1e-3, "high": 3e-2, "log": True}}


def fast(data, **over) -> dict:
    return {"data": str(data), "model": "resnet10_28_half", "epochs": 2, "batch_size": 32, "schedule": "none",
            "accelerator": "cpu", "bootstrap": 20, "tta": "none", "logger": "none", **over}


def reporting_train(values):
    """Stands in for medtrain.api.train: call i reports ``values[i]`` after every epoch to the trial's pruning
    callback (as Lightning calls it), writes a finished-looking folder and returns ``values[i] + 0.01`` as its
    run's validation score (metrics.json's, not the reported one)."""
    calls = []

    def train(cfg, resume=None, verbose=True, callbacks=None, evaluate_test=True, idle_settings=False):
        v = values[len(calls)]
        calls.append(cfg)
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        for epoch in range(cfg.epochs):
            trainer = SimpleNamespace(sanity_checking=False, callback_metrics={cfg.monitor: torch.tensor(v)},
                                      max_epochs=cfg.epochs, should_stop=False)
            for cb in callbacks or []:
                cb.on_validation_end(trainer, SimpleNamespace(current_epoch=epoch))
        return {"best_epoch": cfg.epochs - 1, "history": [], "val": {"auc": v + 0.01}, "test": {}}

    return train, calls


def states(out) -> list[tuple[str, float | None, int]]:
    study = optuna.load_study(study_name="tune", storage=default_storage(out))
    return [(t.state.name, t.value, len(t.intermediate_values)) for t in study.trials]


def test_a_trial_bad_at_its_last_epoch_completes_with_its_runs_score(tiny_npz, tmp_path, monkeypatch):
    train, calls = reporting_train([0.9, 0.9, 0.9, 0.9, 0.1])
    monkeypatch.setattr(medtrain.api, "train", train)
    out = tmp_path / "tune"
    tune(fast(tiny_npz), SPACE, out, trials=5, log=lambda line: None)
    last = states(out)[-1]
    assert last[0] == "COMPLETE" and abs(last[1] - 0.11) < 1e-6 and last[2] == 2  # both epochs reported
    assert Path(calls[-1].out).is_dir()  # its folder is kept with it


def test_a_trial_bad_before_its_last_epoch_is_still_pruned(tiny_npz, tmp_path, monkeypatch):
    train, calls = reporting_train([0.9, 0.9, 0.9, 0.9, 0.1])
    monkeypatch.setattr(medtrain.api, "train", train)
    out = tmp_path / "tune"
    tune(fast(tiny_npz, epochs=3), SPACE, out, trials=5, log=lambda line: None)
    assert states(out)[-1][0] == "PRUNED" and states(out)[-1][2] == 2  # stopped after epoch 2 of 3
    assert not Path(calls[-1].out).exists()
