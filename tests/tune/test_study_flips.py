"""``flip: auto`` is decided once per study (two pilot runs on the base settings), kept in the study and pinned
for every trial and in ``best_config.yaml``: every trial had run the two pilots again, unsaid (a 1-epoch trial
took twice as long)."""
from __future__ import annotations

import optuna
import yaml

import medtrain.api
import medtrain.tune.flips
from medtrain.tune import tune
from medtrain.tune.flips import FLIP_ATTR
from medtrain.tune.study import default_storage

SPACE = {"lr": {"low": 1e-3, "high": 3e-2, "log": True}}


def fast(data, **over) -> dict:
    return {"data": str(data), "model": "resnet10_28_half", "epochs": 1, "batch_size": 32, "schedule": "none",
            "accelerator": "cpu", "bootstrap": 20, "tta": "none", "logger": "none", **over}


def fake_train(calls):
    def train(cfg, resume=None, verbose=True, callbacks=None, evaluate_test=True, idle_settings=False):
        calls.append(cfg)
        return {"best_epoch": 0, "history": [], "val": {"auc": cfg.lr}, "test": {}}
    return train


def counting_pilots(monkeypatch):
    pilots = []
    real = medtrain.tune.flips.fit

    def fit(cfg, splits, run_dir, **kw):
        pilots.append(cfg)
        return real(cfg, splits, run_dir, **kw)

    monkeypatch.setattr(medtrain.tune.flips, "fit", fit)
    return pilots


def test_flips_are_decided_once_for_the_study_and_pinned_for_every_trial(tiny_npz, tmp_path, monkeypatch):
    calls, lines, out = [], [], tmp_path / "tune"
    pilots = counting_pilots(monkeypatch)
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    tune(fast(tiny_npz), SPACE, out, trials=3, log=lines.append)
    assert len(pilots) == 2  # one pair of pilots, with and without flips, for three trials
    study = optuna.load_study(study_name="tune", storage=default_storage(out))
    made = study.user_attrs[FLIP_ATTR]
    pinned = "true" if made["chosen"] else "false"
    assert [c.flip for c in calls] == [pinned] * 3
    assert any(line.startswith("tune: flips ") and "decided once for the study" in line for line in lines)
    assert yaml.safe_load((out / "best_config.yaml").read_text())["flip"] == pinned  # retrained as its trial was
    assert not (out / "trials" / "flip-pilots").exists()
    # a rerun continuing the study takes its decision: no pilots, the same flips
    tune(fast(tiny_npz), SPACE, out, trials=4, log=lines.append)
    assert len(pilots) == 2 and len(calls) == 4 and calls[-1].flip == pinned


def test_a_space_searching_flip_or_the_augmentation_leaves_each_trial_its_own_decision(tiny_npz, tmp_path,
                                                                                        monkeypatch):
    calls, lines = [], []
    pilots = counting_pilots(monkeypatch)
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    tune(fast(tiny_npz), {**SPACE, "augment": ["none", "flip,shift"]}, tmp_path / "tune", trials=2,
         log=lines.append)
    assert pilots == [] and {c.flip for c in calls} == {"auto"}
    assert any("flips: decided by each trial" in line and "augment" in line for line in lines)


def test_pinned_flips_need_no_pilots(tiny_npz, tmp_path, monkeypatch):
    calls = []
    pilots = counting_pilots(monkeypatch)
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    tune(fast(tiny_npz, flip="false"), SPACE, tmp_path / "tune", trials=2, log=lambda line: None)
    assert pilots == [] and {c.flip for c in calls} == {"false"}
