"""A grid refused when its first cell starts (``--positive-class banana``) leaves nothing behind: ``grid.json``
and an empty cell folder had stayed, and the corrected command was then refused ("--out cmp1 holds this grid run
with other base settings (positive_class: 'banana', now None)")."""
from __future__ import annotations

import pytest

import medtrain.compare
from conftest import run_cli


class Reached(Exception):
    """The corrected grid got as far as training its first cell."""


def test_refused_grid_removes_what_it_wrote_and_corrected_command_runs(tmp_path, tiny_npz, capsys, monkeypatch):
    out = tmp_path / "cmp1"
    argv = ["compare", "--data", tiny_npz, "--model", "resnet10_28_half", "--epochs", 1, "--accelerator", "cpu",
            "--vary", "dropout=0,0.2", "--out", out]
    code, _, err = run_cli(capsys, *argv, "--positive-class", "banana")
    assert code == 2 and "Traceback" not in err
    assert "banana" in err
    assert not (out / "grid.json").exists()
    assert not out.exists()  # made by the refused command: not left empty

    def reached(cfg, *a, **k):
        raise Reached

    monkeypatch.setattr(medtrain.compare, "train_or_reuse", reached)
    with pytest.raises(Reached):  # not refused as "other base settings": it goes on to train
        run_cli(capsys, *argv)


def test_folder_given_before_is_kept(tmp_path, tiny_npz, capsys):
    out = tmp_path / "cmp2"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, _ = run_cli(capsys, "compare", "--data", tiny_npz, "--model", "resnet10_28_half", "--epochs", 1,
                         "--accelerator", "cpu", "--vary", "dropout=0,0.2", "--out", out, "--positive-class", "banana")
    assert code == 2
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
