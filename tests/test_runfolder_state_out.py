"""``--out`` naming a folder that is no run: one holding files a run writes (a user's ``metrics.json``,
``report.html``) had been trained into, written over without a word, and ``--out ""`` trained into the default run
folder (found by a bad-input walk). An empty folder, and one holding only other files (a user's notes: the
workflow of tests/cli/test_refused_run_in_an_existing_folder.py), are still trained into."""
from __future__ import annotations

import pytest

import medtrain
from medtrain.errors import MedtrainError
from conftest import fast_config, make_npz, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = ["--model", "resnet10_28_half", "--epochs", 1, "--batch-size", 32, "--bootstrap", 0, "--schedule", "none",
        "--accelerator", "cpu", "--flip", "true", "--precision", "32-true", "--tta", "none", "--class-weights",
        "false", "--no-progress"]


@pytest.fixture
def data(tmp_path):
    return make_npz(tmp_path / "tiny.npz", sizes=(64, 16, 16))


@pytest.mark.parametrize("theirs", [["metrics.json", "report.html", "notes.txt"], ["model.safetensors"],
                                    ["eval_test.json"], ["checkpoints/"],
                                    ["roc_pr_external_site_1a2b3c4d.png"]])
def test_a_folder_of_the_users_holding_files_a_run_writes_is_refused_untouched(data, tmp_path, capsys, theirs):
    out = tmp_path / "mine"
    out.mkdir()
    for name in theirs:
        (out / name).mkdir() if name.endswith("/") else (out / name).write_text(f"the user's {name}\n")
    before = sorted(p.name for p in out.iterdir())
    code, out_text, err = run_cli(capsys, "train", "--data", data, *FAST, "--out", out)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert f"--out {out} holds no run" in err and theirs[0].rstrip("/") in err and "another --out" in err
    assert sorted(p.name for p in out.iterdir()) == before  # nothing written there, nothing removed
    assert all((out / n).read_text() == f"the user's {n}\n" for n in theirs if not n.endswith("/"))
    with pytest.raises(MedtrainError, match="holds no run"):  # the Python call alike
        medtrain.train(fast_config(data, out, epochs=1, bootstrap=0), verbose=False)
    assert sorted(p.name for p in out.iterdir()) == before


@pytest.mark.parametrize("theirs", [[], ["notes.txt"]])
def test_an_empty_folder_or_one_of_other_files_is_still_trained_into(data, tmp_path, capsys, theirs):
    out = tmp_path / "mine"
    out.mkdir()
    for name in theirs:
        (out / name).write_text("the user's\n")
    code, _, err = run_cli(capsys, "train", "--data", data, *FAST, "--out", out)
    assert code == 0, err
    assert (out / "metrics.json").is_file() and all((out / n).read_text() == "the user's\n" for n in theirs)


@pytest.mark.parametrize("folds", [[], ["--folds", 2]])
def test_an_empty_out_is_refused_not_taken_for_the_default(data, tmp_path, capsys, monkeypatch, folds):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "train", "--data", data, *FAST, *folds, "--out", "")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--out is empty" in err, err
    assert not (tmp_path / "runs").exists()
    with pytest.raises(MedtrainError, match="out is empty"):
        medtrain.train(fast_config(data, "", epochs=1, bootstrap=0), verbose=False)
    assert not (tmp_path / "runs").exists()
