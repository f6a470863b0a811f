"""``medtrain explain`` and ``medtrain eval --data`` say the inputs they squash to the model's square in predict's
line, which says what the run did with its own images (resized by ``--image-size``, or read at their size): they
had said it without the run ("squashed to the model's square size"), claiming nothing of it, while predict's line
for the same inputs said "16x16 square; the run's own images were not resized". One function words all three
(``medtrain.cli.predict.squash_note``); these check that explain and eval give it the run."""
from __future__ import annotations

import csv

import numpy as np
from PIL import Image

from conftest import run_cli


def _wide_pngs(tmp_path, arrays, n: int = 3) -> list:
    """``n`` of the run's test images side by side with themselves: 32x16, another aspect ratio than 16x16."""
    paths = []
    for i in range(n):
        p = tmp_path / f"wide{i}.png"
        Image.fromarray(np.tile(arrays["test_images"][i], (1, 2))).save(p)
        paths.append(p)
    return paths


def _note(err: str) -> str:
    lines = [line for line in err.splitlines() if "of another aspect ratio were squashed" in line]
    assert len(lines) == 1, err
    return lines[0]


def _predicts_note(capsys, run, paths, tmp_path) -> str:
    code, _, err = run_cli(capsys, "predict", run, *paths, "--out", tmp_path / "p.csv")
    assert code == 0, err
    note = _note(err)
    # the run of trained_run reads a .npz at its size: the line says so (predict's own test is test_sizes_rows)
    assert "the model's 16x16 square" in note and "the run's own images were not resized" in note
    return note


def test_explains_note_on_squashed_inputs_is_predicts_naming_what_the_run_did(trained_run, tmp_path, capsys):
    run, _, arrays = trained_run
    paths = _wide_pngs(tmp_path, arrays)
    code, _, err = run_cli(capsys, "explain", run, *paths, "--out", tmp_path / "maps")
    assert code == 0, err
    assert _note(err) == _predicts_note(capsys, run, paths, tmp_path)


def test_eval_datas_note_on_squashed_inputs_is_predicts_naming_what_the_run_did(trained_run, tmp_path, capsys):
    run, _, arrays = trained_run
    paths = _wide_pngs(tmp_path, arrays, n=6)
    with open(tmp_path / "ext.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label"])
        w.writerows([p, int(arrays["test_labels"][i, 0])] for i, p in enumerate(paths))
    code, _, err = run_cli(capsys, "eval", run, "--data", tmp_path / "ext.csv")
    assert code == 0, err
    assert _note(err) == _predicts_note(capsys, run, paths, tmp_path)
