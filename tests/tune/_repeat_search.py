"""What the tests of ``augment search --method autoaugment`` with repeated trainings (``--seeds K``, ``--folds K``)
share: a stand-in for ``medtrain.api.train`` whose runs score by their seed, fold and trial, the search in a work
folder, its study, and the budget's clock. (Imported by those test files; not a test file itself.)"""
from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import torch

import medtrain.api
import medtrain.tune.pruning
from medtrain import config as config_mod
from medtrain import rundir
from medtrain._io import write_json
from medtrain.policy_search import autoaugment_search
from medtrain.tune.study import default_storage

SETTINGS = {"model": "resnet10_28_half", "batch_size": 32, "accelerator": "cpu", "tta": "none", "logger": "none",
            "flip": "false"}


def score(cfg) -> float:
    """A run's validation AUC: 0.6 + 0.1 x its seed + 0.1 x its fold (0 without folds) + 0.01 x its trial's number
    (the repeats differ, as real ones do)."""
    return 0.6 + 0.1 * cfg.seed + 0.1 * (cfg.fold or 0) + 0.01 * int(Path(cfg.out).name[:3])


def repeat_train(calls, interrupt=lambda cfg: False, slow=None, clock=None, epochs_run=None):
    """Stands in for medtrain.api.train: each epoch calls the callbacks as Lightning would (stopping where one sets
    ``should_stop``), then leaves a finished run (config.yaml, metrics.json) scoring :func:`score`; ``interrupt``:
    the configs stopped by Ctrl-C in their first epoch; ``slow``: a predicate of the config whose first epoch "takes"
    an hour on ``clock``; ``epochs_run``: a list given the epochs each call trained."""
    def train(cfg, resume=None, verbose=True, callbacks=None, evaluate_test=True, idle_settings=False):
        calls.append(cfg)
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        if interrupt(cfg):
            raise KeyboardInterrupt
        trainer = SimpleNamespace(sanity_checking=False, callback_metrics={cfg.monitor: torch.tensor(score(cfg))},
                                  max_epochs=cfg.epochs, should_stop=False)
        epochs = 0
        for epoch in range(cfg.epochs):
            if slow is not None and slow(cfg) and epoch == 0:
                clock.skip(3600)
            epochs += 1
            for cb in callbacks or []:
                cb.on_validation_end(trainer, SimpleNamespace(current_epoch=epoch))
            if trainer.should_stop:
                break
        if epochs_run is not None:
            epochs_run.append(epochs)
        result = {"best_epoch": epochs - 1, "history": [{"epoch": e, "val_auc": score(cfg)} for e in range(epochs)],
                  "val": {"auc": score(cfg)}, "test": {}}
        rundir.write_config(Path(cfg.out), cfg)
        write_json(Path(cfg.out) / "metrics.json", result)
        return result

    return train


@pytest.fixture
def search(tiny_npz, tmp_path, monkeypatch):
    """``search(trials, base=None, seeds=K | folds=K, **kw)`` in ``tmp_path/work`` with :func:`repeat_train` (``base``:
    settings over :data:`SETTINGS`); ``.calls``: the configs trained."""
    calls = []
    monkeypatch.setattr(medtrain.api, "train", repeat_train(calls))

    def run(trials: int, base: dict | None = None, **kw):
        cfg = config_mod.resolve({"data": str(tiny_npz), **SETTINGS, **(base or {})})
        return autoaugment_search(cfg, tmp_path / "work", tmp_path / "policy.yaml", base_augment=[],
                                  budget_epochs=1, trials=trials, sub_policies=1, log=lambda line: None, **kw)

    run.calls = calls
    return run


def study_of(work: Path) -> optuna.Study:
    return optuna.load_study(study_name="autoaugment", storage=default_storage(work))


@pytest.fixture
def clock(monkeypatch):
    """The budget's clock (pruning's and trial_runs' ``time.monotonic``), ``skip(seconds)`` moving it on."""
    shift = [0.0]
    real = time.monotonic
    fake = SimpleNamespace(monotonic=lambda: real() + shift[0])
    monkeypatch.setattr(medtrain.tune.pruning, "time", fake, raising=False)
    monkeypatch.setattr("medtrain.tune.trial_runs.time", fake, raising=False)
    return SimpleNamespace(skip=lambda s: shift.__setitem__(0, shift[0] + s))
