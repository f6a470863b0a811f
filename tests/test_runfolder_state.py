"""A run folder whose files are not what its state says (found by a bad-input walk): a finished run whose
``model.safetensors`` was deleted or damaged had been returned by the same command again and by ``--resume`` as
"already finished (same settings); nothing to do", exit 0, while every use of it then refused it; a damaged weights
file was "is not a readable weights file (MedtrainError)" to eval, predict, export and explain, the reason dropped."""
from __future__ import annotations

import shutil

import pytest

from conftest import make_npz, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = ["--model", "resnet10_28_half", "--epochs", 1, "--batch-size", 32, "--bootstrap", 0, "--schedule", "none",
        "--accelerator", "cpu", "--flip", "true", "--precision", "32-true", "--tta", "none", "--class-weights",
        "false", "--no-progress"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run (trained once for the module) and the command that trained it."""
    from medtrain.cli import main

    root = tmp_path_factory.mktemp("state")
    data = make_npz(root / "tiny.npz", sizes=(64, 16, 16))
    run = root / "run"
    assert main([str(a) for a in ["train", "--data", data, *FAST, "--out", run]]) == 0
    return run, data


@pytest.fixture
def copy(finished, tmp_path):
    """A copy of the finished run and its command (``--out`` the copy)."""
    run, data = finished
    got = tmp_path / "run"
    shutil.copytree(run, got)
    return got, ["train", "--data", data, *FAST, "--out", got]


def _damage(weights, how):
    if how == "deleted":
        weights.unlink()
    elif how == "cut short":
        with open(weights, "r+b") as f:
            f.truncate(100)
    else:
        weights.write_bytes(b"not a safetensors file\n" * 10)


@pytest.mark.parametrize("how", ["deleted", "cut short", "garbage"])
@pytest.mark.parametrize("given", ["the same command", "--resume"])
def test_a_finished_run_without_whole_weights_is_refused_not_returned_as_finished(copy, capsys, how, given):
    run, command = copy
    metrics = (run / "metrics.json").read_bytes()
    _damage(run / "model.safetensors", how)
    code, out, err = run_cli(capsys, *(command if given == "the same command" else ["train", "--resume", run]))
    assert code == 2 and "already finished" not in out and "report:" not in out
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert f"{run} is incomplete" in err and str(run / "model.safetensors") in err
    assert ("is missing" if how == "deleted" else "is not a readable safetensors file") in err
    assert "another --out" in err and f"delete {run}" in err
    assert (run / "metrics.json").read_bytes() == metrics  # nothing trained over it


def test_the_way_on_for_a_run_whose_weights_are_gone_trains_it_again(copy, capsys, tmp_path):
    run, _ = copy
    (run / "model.safetensors").unlink()
    new = tmp_path / "again"
    code, _, err = run_cli(capsys, "train", "--config", run / "config.yaml", "--out", new)
    assert code == 0, err
    assert (new / "model.safetensors").is_file() and (new / "metrics.json").is_file()


def test_a_finished_run_with_whole_weights_is_still_returned(copy, capsys):
    run, command = copy
    code, out, err = run_cli(capsys, *command)
    assert code == 0 and f"{run} is already finished (same settings); nothing to do" in out, err


@pytest.mark.parametrize("how", ["cut short", "garbage"])
def test_damaged_weights_are_named_with_the_reason_and_the_way_on(copy, capsys, how, tmp_path):
    run, _ = copy
    _damage(run / "model.safetensors", how)
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("L", (16, 16)).save(image)
    for command in (["eval", run], ["predict", run, image], ["export", run, "--out", tmp_path / "m.onnx"]):
        code, _, err = run_cli(capsys, *command)
        assert code == 2 and len(err.strip().splitlines()) == 1, (command, err)
        assert "(MedtrainError)" not in err and f"{run / 'model.safetensors'} is not a readable safetensors file (" \
            in err, err
        assert "damaged" in err and "another --out" in err, err


def test_a_finished_run_without_weights_is_said_alike_by_train_and_by_what_uses_it(copy, capsys, tmp_path):
    """One wording of a run whose metrics.json says finished but whose model.safetensors is gone: eval, predict,
    export and explain had said "is not a finished run directory (no model.safetensors)" where train said "is
    incomplete: ... is missing"."""
    run, _ = copy
    (run / "model.safetensors").unlink()
    code, _, said = run_cli(capsys, "train", "--resume", run)
    assert code == 2 and f"{run} is incomplete: its metrics.json says finished, but {run / 'model.safetensors'} " \
        "is missing; train it again into another --out" in said, said
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("L", (16, 16)).save(image)
    for command in (["eval", run], ["predict", run, image], ["export", run, "--out", tmp_path / "m.onnx"],
                    ["explain", run, image, "--out", tmp_path / "maps"]):
        code, _, err = run_cli(capsys, *command)
        assert code == 2 and err == said, (command, err)  # the one line, word for word
    import medtrain

    with pytest.raises(medtrain.MedtrainError) as e:
        medtrain.load(run)
    assert f"medtrain: error: {e.value}\n" == said
