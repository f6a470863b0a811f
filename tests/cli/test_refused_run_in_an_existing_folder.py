"""A run refused before it trained, in an ``--out`` folder that exists but holds no run (made empty by the user, or
holding their own files), leaves the folder as it found it: its config.yaml and splits.csv had stayed, and the
command corrected as the refusal says was then refused too ("run with other settings"; a user walkthrough)."""
from __future__ import annotations

import pytest

from conftest import make_images, png_csv, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def side_csv(tmp_path):
    images, labels = make_images(60, seed=3)
    return png_csv(tmp_path / "data", images, labels, classes=["left", "right"])


@pytest.mark.parametrize("own_files", [[], ["notes.txt"]])
def test_a_refused_run_leaves_an_existing_folder_as_it_was(side_csv, tmp_path, capsys, own_files):
    out = tmp_path / "runs" / "mine"
    out.mkdir(parents=True)
    for name in own_files:
        (out / name).write_text("the user's\n")
    args = ["train", "--data", side_csv, "--model", "resnet10_28_half", "--epochs", 1, "--accelerator", "cpu",
            "--bootstrap", 0, "--no-progress", "--out", out]
    code, _, err = run_cli(capsys, *args, "--tta", "hflip")  # refused: the labels name a side
    assert code == 2 and "name a side (left, right)" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == own_files
    assert all((out / n).read_text() == "the user's\n" for n in own_files)
    code, _, err = run_cli(capsys, *args, "--tta", "none")  # the command as the refusal says: it trains
    assert code == 0, err
    assert (out / "metrics.json").exists() and all((out / n).exists() for n in own_files)
