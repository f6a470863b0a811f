"""``--resume ""`` (an unset shell variable: ``--resume "$RUN"``) is refused in one line, exit 2, nothing written: the
CLI had taken it for no ``--resume`` and trained a new run into the default folder, and ``train(resume="")`` had said
``. is not a run directory``, as if the current folder had been named (a review of session 27)."""
from __future__ import annotations

import pytest

import medtrain
from medtrain.errors import MedtrainError
from conftest import make_npz, run_cli

FAST = ["--model", "resnet10_28_half", "--epochs", 1, "--batch-size", 32, "--bootstrap", 0, "--schedule", "none",
        "--accelerator", "cpu", "--flip", "true", "--precision", "32-true", "--tta", "none", "--no-progress"]


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("blank", ["", "  "])
def test_an_empty_resume_is_refused_not_taken_for_a_new_run(tmp_path, capsys, monkeypatch, blank):
    data = make_npz(tmp_path / "tiny.npz", sizes=(64, 16, 16))
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "train", "--data", data, *FAST, "--resume", blank)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "--resume is empty" in err and "name the run folder" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.npz"]  # no runs/ trained, nothing written


@pytest.mark.parametrize("blank", ["", " "])
def test_an_empty_resume_in_python_is_said_as_such(tmp_path, monkeypatch, blank):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MedtrainError) as e:
        medtrain.train(resume=blank, verbose=False)
    assert "resume is empty" in str(e.value) and "name the run folder" in str(e.value), str(e.value)
    assert list(tmp_path.iterdir()) == []
