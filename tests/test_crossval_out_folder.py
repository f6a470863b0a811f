"""``train --folds K --out FOLDER``: a folder of the user's holding files a cross-validation writes there
(``report.html``, ``cv.json``, ``cv.md``, ``folds.png``) is refused in one line, exit 2, before any fold trains, nothing
written or removed: they had been written over without a word (rundir.refuse_others_files had run only in each
fold's folder; a review of session 27). A cross-validation being continued there (a fold's run started) is
accepted, its own files rewritten."""
from __future__ import annotations

import shutil

import pytest

from medtrain import crossval
from medtrain.crossval import cross_validate
from medtrain.errors import MedtrainError
from conftest import fast_config, make_npz, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = ["--model", "resnet10_28_half", "--epochs", 1, "--batch-size", 32, "--bootstrap", 0, "--schedule", "none",
        "--accelerator", "cpu", "--flip", "true", "--precision", "32-true", "--tta", "none", "--class-weights",
        "false", "--no-progress", "--folds", 2]


@pytest.fixture
def data(tmp_path):
    return make_npz(tmp_path / "tiny.npz", sizes=(64, 16, 16))


@pytest.mark.parametrize("theirs", [["report.html", "cv.json", "notes.txt"], ["cv.md"], ["folds.png"]])
def test_a_folder_of_the_users_holding_what_cross_validation_writes_is_refused_untouched(data, tmp_path, capsys,
                                                                                          theirs):
    out = tmp_path / "cvmine"
    out.mkdir()
    for name in theirs:
        (out / name).write_text(f"the user's {name}\n")
    code, _, err = run_cli(capsys, "train", "--data", data, *FAST, "--out", out)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert f"--out {out} holds no cross-validation" in err and theirs[0] in err and "another --out" in err, err
    assert sorted(p.name for p in out.iterdir()) == sorted(theirs)  # no fold trained, nothing written or removed
    assert all((out / n).read_text() == f"the user's {n}\n" for n in theirs)
    with pytest.raises(MedtrainError, match="holds no cross-validation"):  # the Python call alike
        cross_validate(fast_config(data, out, epochs=1, bootstrap=0, folds=2), verbose=False)
    assert sorted(p.name for p in out.iterdir()) == sorted(theirs)


def test_a_cross_validation_of_its_own_is_continued_and_a_folder_of_other_files_trained_into(data, tmp_path,
                                                                                              capsys, monkeypatch):
    out = tmp_path / "cv"
    out.mkdir()
    (out / "notes.txt").write_text("the user's\n")
    code, _, err = run_cli(capsys, "train", "--data", data, *FAST, "--out", out)
    assert code == 0, err
    assert (out / "cv.json").is_file() and (out / "report.html").is_file()
    (out / "cv.json").unlink()  # as if stopped before fold1: fold1 to train, its own report.html and cv.md there
    shutil.rmtree(out / "fold1")
    # stopped while the summary is written: cv.json, which a script takes for "finished", is written last (it had
    # been written first, beside a report and figures still missing: an interrupt walk)
    with monkeypatch.context() as m:
        m.setattr(crossval, "write_crossval_report", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
        code, _, err = run_cli(capsys, "train", "--data", data, *FAST, "--out", out)
    assert code == 130 and not (out / "cv.json").exists() and (out / "fold1" / "metrics.json").is_file()
    code, _, err = run_cli(capsys, "train", "--data", data, *FAST, "--out", out)
    assert code == 0, err
    assert (out / "cv.json").is_file() and (out / "fold1" / "metrics.json").is_file()
    assert (out / "notes.txt").read_text() == "the user's\n"


@pytest.mark.parametrize("where", ["argument", "config"])
def test_an_empty_out_from_python_is_refused_not_taken_for_the_default(data, tmp_path, monkeypatch, where):
    monkeypatch.chdir(tmp_path)
    cfg = fast_config(data, "" if where == "config" else tmp_path / "unused", epochs=1, bootstrap=0, folds=2)
    with pytest.raises(MedtrainError, match="out is empty"):  # rundir.out_folder's rule, as train() applies it
        cross_validate(cfg, **({"out": ""} if where == "argument" else {}), verbose=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.npz"]  # no runs/ trained
