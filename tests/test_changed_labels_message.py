"""A CSV whose labels were edited since a run was trained (no split column: medtrain drew the split from the
labels): the refusal says the inputs are the same and a label may have changed (it had read "0 input(s) added, 0
gone, 81 in another split", which sent the user looking for moved files)."""
from __future__ import annotations

import pytest

import medtrain
from conftest import fast_config, make_images, png_csv
from medtrain.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


def test_an_edited_label_is_named_as_a_likely_cause_of_the_changed_split(tmp_path, capsys):
    csv = png_csv(tmp_path, *make_images(80), ("plain", "bright"), path="{i:03d}.png")
    rows = csv.read_text().splitlines()
    run = tmp_path / "run"
    medtrain.train(fast_config(csv, run, epochs=1, bootstrap=0), verbose=False)
    flipped = rows[1].rsplit(",", 1)[0] + ("," + ("plain" if rows[1].endswith("bright") else "bright"))
    csv.write_text("\n".join([rows[0], flipped, *rows[2:]]) + "\n")  # one label edited, the same 80 inputs
    capsys.readouterr()
    assert main(["eval", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "0 input(s) added, 0 gone" in err
    assert "the same inputs: a label edited?" in err
