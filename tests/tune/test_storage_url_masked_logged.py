"""A ``--storage`` URL's password is never printed by a search that uses it: ``tune``'s line ``tune: study 'tune'
in URL (N finished trials so far)`` and its Ctrl-C line, ``augment search``'s study line and the policy file it
writes (which is meant to be shared) had shown ``postgresql://u:secret@h/db`` as given. The database is a local
SQLite one here (a SQLite URL holds no password): ``prepare_storage`` is replaced by one that connects to it and
hands back the PostgreSQL URL, so the lines are formed as they are for a real server, without connecting to one."""
from __future__ import annotations

import pytest

import medtrain.api
import medtrain.tune
from medtrain import config as config_mod
from medtrain.errors import TrainingInterrupted
from medtrain.policy_search import autoaugment_search
from medtrain.tune import tune

URL = "postgresql://u:secret@h/db"
SHOWN = "postgresql://u:***@h/db"
LR = {"lr": {"low": 1e-3, "high": 3e-2, "log": True}}


@pytest.fixture
def server(monkeypatch):
    """The study in ``OUT/study.db``, named by the search as :data:`URL`; trials scored without training."""
    real = medtrain.tune.prepare_storage

    def prepare_storage(out, storage):
        assert storage == URL
        db, _ = real(out, None)
        return db, URL

    def train(cfg, resume=None, verbose=True, callbacks=None, evaluate_test=True, idle_settings=False):
        return {"best_epoch": 0, "history": [], "val": {"auc": cfg.lr}, "test": {}}

    monkeypatch.setattr(medtrain.tune, "prepare_storage", prepare_storage)
    monkeypatch.setattr(medtrain.api, "train", train)


def base(data) -> dict:  # flip true: no flip pilots
    return {"data": str(data), "model": "resnet10_28_half", "epochs": 1, "batch_size": 32, "schedule": "none",
            "accelerator": "cpu", "bootstrap": 20, "logger": "none", "flip": "true"}


def test_tunes_study_line_masks_the_password(tiny_npz, tmp_path, server):
    lines = []
    tune(base(tiny_npz), LR, tmp_path / "tune", trials=1, storage=URL, log=lines.append)
    study = [line for line in lines if line.startswith("tune: study 'tune' in ")]
    trials = tmp_path / "tune" / "trials"
    assert study == [f"tune: study 'tune' in {SHOWN} (0 finished trials so far); trials in {trials}"]
    assert not [line for line in lines if "secret" in line]


def test_tunes_interrupted_line_masks_the_password(tiny_npz, tmp_path, server, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(medtrain.tune, "run_study", interrupted)
    with pytest.raises(TrainingInterrupted) as stopped:
        tune(base(tiny_npz), LR, tmp_path / "tune", trials=1, storage=URL, log=lambda line: None)
    assert str(stopped.value) == (f"tune interrupted; 0 finished trials are kept in {SHOWN}; run the same command "
                                  "again to continue")


def test_augment_searchs_line_and_policy_file_mask_the_password(tiny_npz, tmp_path, server, monkeypatch):
    from test_studies import finished_run_train  # a finished run left without training

    monkeypatch.setattr(medtrain.api, "train", finished_run_train([]))
    cfg = config_mod.resolve({**base(tiny_npz), "tta": "none"})
    lines, policy = [], tmp_path / "policy.yaml"
    autoaugment_search(cfg, tmp_path / "work", policy, base_augment=[], budget_epochs=1, trials=1, sub_policies=1,
                       storage=URL, log=lines.append)
    assert f"augment search: study 'autoaugment' in {SHOWN} (0 finished trials so far)" in lines
    assert not [line for line in lines if "secret" in line]
    text = policy.read_text(encoding="utf-8")
    assert "secret" not in text and SHOWN in text
