"""A run folder whose files are not what its state says (found by a bad-input walk): a damaged weights file was
"is not a readable weights file (MedtrainError)" to eval, predict, export and explain, the reason dropped."""
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
