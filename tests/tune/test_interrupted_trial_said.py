"""A trial stopped by Ctrl-C is listed as failed *because it was interrupted* (trials.md and trials.csv had
said only ``fail``, as for an error), and a diverged one with its reason; a study without failures keeps its
columns."""
from __future__ import annotations

import csv

import pytest

import medtrain.api
from medtrain.errors import TrainingDiverged, TrainingInterrupted
from medtrain.tune import tune
from test_search_wording import fake_train as failing_train  # one stand-in for the tune tests' training

SPACE = {"lr": {"low": 1e-3, "high": 3e-2, "log": True}}


def fast(data) -> dict:
    return {"data": str(data), "model": "resnet10_28_half", "epochs": 1, "flip": "false", "tta": "none",
            "accelerator": "cpu", "logger": "none"}


def rows(out) -> list[dict]:
    with open(out / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("error", [KeyboardInterrupt(), TrainingInterrupted("interrupted after epoch 1")])
def test_an_interrupted_trial_says_interrupted(tiny_npz, tmp_path, monkeypatch, error):
    monkeypatch.setattr(medtrain.api, "train", failing_train(2, error))
    out = tmp_path / "tune"
    with pytest.raises(TrainingInterrupted):
        tune(fast(tiny_npz), SPACE, out, trials=3, log=lambda line: None)
    (failed,) = [r for r in rows(out) if r["state"] == "fail"]
    assert failed["trial"] == "1" and failed["why"] == "interrupted"
    md = (out / "trials.md").read_text().splitlines()
    assert md[0].rstrip(" |").endswith("why") and any("| fail |" in line and "interrupted" in line for line in md)


def test_a_diverged_trial_says_why_and_a_study_without_failures_has_no_why_column(tiny_npz, tmp_path, monkeypatch):
    monkeypatch.setattr(medtrain.api, "train", failing_train(2, TrainingDiverged("training diverged in epoch 1")))
    tune(fast(tiny_npz), SPACE, tmp_path / "a", trials=2, log=lambda line: None)
    assert [r["why"] for r in rows(tmp_path / "a")] == ["", "training diverged in epoch 1", ""]
    monkeypatch.setattr(medtrain.api, "train", failing_train(0, None))
    tune(fast(tiny_npz), SPACE, tmp_path / "b", trials=2, log=lambda line: None)
    assert "why" not in rows(tmp_path / "b")[0]
