"""``medtrain.train(resume=...)`` refuses a value that is no path in one MedtrainError line naming ``resume``, by the
rule ``medtrain.load`` checks ``run_dir`` with (:func:`medtrain.runmodel.check_run_dir`): ``train(resume=123)`` and
``train(resume=result)`` (``result``: what ``train()`` returned, whose ``.run_dir`` is the folder) had ended in
pathlib's TypeError. No run is needed: the argument is refused before anything is read or written."""
from __future__ import annotations

import pytest

import medtrain
from medtrain.errors import MedtrainError
from medtrain.reuse import RunResult

RESULT = RunResult({"model": "resnet18", "test": {"auc": 0.9}}, "runs/x")  # train()'s result, as a notebook holds it
BEST = {"run_dir": "runs/x", "val_auc": 0.9}  # tune()'s result: best.json's content


@pytest.mark.parametrize("resume, shown", [
    (123, "resume must be the path of a run directory (str or Path), got int 123"),
    (RESULT, "; give train()'s result's .run_dir"),
    (BEST, "; give its ['run_dir']"),
    (b"runs/x", "resume must be the path of a run directory (str or Path), got bytes"),
], ids=["int", "result", "tune-dict", "bytes"])
def test_a_resume_that_is_no_path_is_one_line_naming_resume(resume, shown, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MedtrainError) as e:
        medtrain.train(resume=resume, verbose=False)
    line = str(e.value)
    assert line.startswith("resume must be the path of a run directory") and shown in line and "\n" not in line, line
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_resume_path_that_holds_no_run_keeps_its_own_message(tmp_path):
    with pytest.raises(MedtrainError) as e:
        medtrain.train(resume=tmp_path / "none", verbose=False)
    assert "resume must" not in str(e.value) and "none" in str(e.value)
