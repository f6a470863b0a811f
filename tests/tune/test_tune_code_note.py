"""A study resumed after an upgrade names the trials another medtrain trained, as compare names its cells: trials
of two commits had been summarised into one best trial without a word (an upgrade walkthrough)."""
from __future__ import annotations

import json

import pytest

from medtrain.tune import tune

pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")


def _base(data) -> dict:
    return {"data": str(data), "model": "resnet10_28_half", "epochs": 1, "batch_size": 32, "schedule": "none",
            "accelerator": "cpu", "bootstrap": 0, "tta": "none", "logger": "none", "flip": "false", "progress": False}


def test_trials_of_another_medtrain_are_named_in_best_json_and_the_log(tiny_npz, tmp_path):
    out, space = tmp_path / "tune", {"lr": {"low": 1e-3, "high": 3e-2, "log": True}}
    tune(_base(tiny_npz), space, out, trials=2, log=lambda line: None)
    assert "code_note" not in json.loads((out / "best.json").read_text())  # one medtrain made both
    older = out / "trials" / "000" / "metrics.json"
    m = json.loads(older.read_text())
    m["provenance"]["medtrain"], m["provenance"]["medtrain_git"] = "0.2.9", {"commit": "b" * 40, "modified": False}
    older.write_text(json.dumps(m))
    lines = []
    tune(_base(tiny_npz), space, out, trials=2, log=lines.append)  # the same search again: its reports rewritten
    note = json.loads((out / "best.json").read_text())["code_note"]
    assert note.startswith("Not all trials were made by the same medtrain: 1 of 2 by medtrain ")
    assert "medtrain 0.2.9 at commit bbbbbbbb unmodified" in note  # (one each: either is named as the other)
    assert "other code in trial #0: " in note or "other code in trial #1: " in note
    assert any(note in line for line in lines)
