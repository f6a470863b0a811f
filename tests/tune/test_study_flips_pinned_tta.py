"""A search whose base settings pin a TTA that flips the test images keeps flips on for every trial: its pilots
had pinned ``flip: false`` with ``tta: hflip`` (trials and best_config.yaml), a combination ``train`` refuses."""
from __future__ import annotations

import pytest
import yaml

import medtrain.api
import medtrain.tune.flips
from medtrain import config as config_mod
from medtrain.config.checks import check_typed_for_a_new_run
from medtrain.tune import tune

SPACE = {"lr": {"low": 1e-3, "high": 3e-2, "log": True}}


def fast(data, **over) -> dict:
    return {"data": str(data), "model": "resnet10_28_half", "epochs": 1, "batch_size": 32, "schedule": "none",
            "accelerator": "cpu", "bootstrap": 20, "tta": "none", "logger": "none", **over}


def fake_train(calls):
    def train(cfg, resume=None, verbose=True, callbacks=None, evaluate_test=True, idle_settings=False):
        calls.append(cfg)
        return {"best_epoch": 0, "history": [], "val": {"auc": cfg.lr}, "test": {}}
    return train


@pytest.mark.parametrize("tta", ["hflip", "flip"])
def test_a_pinned_flipping_tta_keeps_flips_on_without_pilots(tiny_npz, tmp_path, monkeypatch, tta):
    calls, lines, out, decided = [], [], tmp_path / "tune", []

    def pilots_choose_off(cfg, splits, pilot_dir):  # what the pilots may choose; they must not be asked here
        decided.append(cfg)
        return {"chosen": False, "how": "pilot runs of 1 epoch(s) on validation", "pinned": True}

    monkeypatch.setattr(medtrain.tune.flips, "decide_once", pilots_choose_off)
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    tune(fast(tiny_npz, tta=tta), SPACE, out, trials=2, log=lines.append)
    assert not decided and [c.flip for c in calls] == ["true", "true"] and {c.tta for c in calls} == {tta}
    (line,) = [x for x in lines if x.startswith("tune: flips")]
    assert line.startswith("tune: flips on for every trial (flip: true)") and f"by its pinned tta {tta}, which flips the test images" in line
    best = yaml.safe_load((out / "best_config.yaml").read_text())
    assert best["flip"] == "true" and best["tta"] == tta
    check_typed_for_a_new_run(config_mod.resolve(best))  # what train is given, it accepts


def test_a_tta_that_does_not_flip_still_lets_the_pilots_decide(tiny_npz, tmp_path, monkeypatch):
    calls, decided = [], []

    def pilots_choose_off(cfg, splits, pilot_dir):
        decided.append(cfg)
        return {"chosen": False, "how": "pilot runs of 1 epoch(s) on validation", "pinned": True}

    monkeypatch.setattr(medtrain.tune.flips, "decide_once", pilots_choose_off)
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    tune(fast(tiny_npz, tta="none"), SPACE, tmp_path / "tune", trials=1, log=lambda line: None)
    assert len(decided) == 1 and [c.flip for c in calls] == ["false"]
