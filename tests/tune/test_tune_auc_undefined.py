"""A search whose best trial's test split lacks a class (its AUC undefined) ends with the line train prints and
writes its report and best.json: it had crashed formatting a None AUC, and again on every rerun."""
from __future__ import annotations

import json
import sys

import medtrain.api
import medtrain.tune  # noqa: F401  (the module, for monkeypatching what it imported)
from medtrain.tune import tune

SPACE = {"lr": {"low": 1e-3, "high": 3e-2, "log": True}}
TUNE = sys.modules["medtrain.tune"]
UNDEFINED = {"auc": None, "acc": 0.5, "auc_ci": [None, None], "acc_ci": [0.3, 0.7],
             "auc_undefined": {"unit": "class", "no_positive": ["0"], "no_negative": [], "rest": 0,
                               "mean_over_rest": None},
             "per_class": {}}


def _fake(monkeypatch):
    from test_studies import finished_run_train

    calls = []
    monkeypatch.setattr(medtrain.api, "train", finished_run_train(calls))
    monkeypatch.setattr(TUNE, "evaluate", lambda run, split, verbose=True: dict(UNDEFINED))
    return calls


def _cfg(data) -> dict:
    return {"data": str(data), "model": "resnet10_28_half", "epochs": 1, "batch_size": 32, "schedule": "none",
            "accelerator": "cpu", "bootstrap": 20, "tta": "none", "logger": "none"}


def test_an_undefined_test_auc_is_said_and_the_search_writes_its_report(tiny_npz, tmp_path, monkeypatch):
    _fake(monkeypatch)
    out, lines = tmp_path / "tune", []
    record = tune(_cfg(tiny_npz), SPACE, out, trials=2, log=lines.append)
    (line,) = [x for x in lines if x.startswith("tune: best trial")]
    assert "test AUC undefined (no '0' image in the test split)" in line and "test ACC 0.5000" in line
    best = json.loads((out / "best.json").read_text())
    assert best["test"]["auc_undefined"]["no_positive"] == ["0"] and record["test"]["auc"] is None
    page = (out / "report.html").read_text()
    assert "undefined: no &#39;0&#39; image in the test split" in page or "undefined: no '0' image" in page
    # a rerun reads the stored evaluation and ends the same way
    again = []
    tune(_cfg(tiny_npz), SPACE, out, trials=2, log=again.append)
    assert any("test AUC undefined (no '0' image" in x for x in again)
