"""``medtrain.train`` from a notebook, as a user walking through the Python API met it: the same settings given
again on changed data, Ctrl-C inside a sweep loop, what ``train`` returns, and the messages of the Python forms."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import medtrain
from conftest import InterruptAt, fast_config, make_images, png_csv, run_cli
from medtrain import api, rundir
from medtrain._train_inputs import _as_config
from medtrain.config import Config
from medtrain.errors import MedtrainError, TrainingInterrupted

pytestmark = pytest.mark.usefixtures("one_thread")


def _fast(data, out, **over):
    return fast_config(data, out, **{"epochs": 1, "bootstrap": 0, "tta": "none", "flip": "false", **over})


def _other_npz(path: Path, n_train: int) -> None:
    """``path`` rewritten with ``n_train`` other training images (the other splits as they were)."""
    arrays = dict(np.load(path))
    arrays["train_images"], arrays["train_labels"] = make_images(n_train, seed=5)
    np.savez(path, **arrays)


def test_a_finished_run_whose_npz_was_rewritten_is_refused_not_returned(tiny_npz, tmp_path, capsys):
    out = tmp_path / "run"
    first = medtrain.train(_fast(tiny_npz, out), verbose=False)
    again = medtrain.train(_fast(tiny_npz, out))  # the same data: the finished run, said so
    assert again == first and "already finished (same settings)" in capsys.readouterr().out
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    for n, changed in ((96, "the train split"), (120, "24 input(s) added")):  # other pixels; more images
        _other_npz(tiny_npz, n)
        with pytest.raises(MedtrainError) as e:
            medtrain.train(_fast(tiny_npz, out), verbose=False)
        said = str(e.value)
        assert "\n" not in said and f"{out} is finished with these settings but not on these data" in said
        assert changed in said and said.endswith("another --out (out= in Python)"), said
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # nothing rewritten
    # the commands that reuse runs (compare, augment search...) refuse it too, rather than reuse its numbers
    with pytest.raises(MedtrainError, match="not on these data"):
        api.train_or_reuse(_fast(tiny_npz, out))


def _csv_data(root: Path, n: int) -> Path:
    return png_csv(root, *make_images(n, seed=3), ("well", "sick"), path="img/{i:03d}.png")


def test_the_same_command_on_a_csv_that_gained_rows_exits_2_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default --out, runs/labels-...
    csv = _csv_data(tmp_path, 60)
    argv = ["train", "--data", csv, "--model", "resnet10_28_half", "--epochs", 1, "--flip", "false", "--tta",
            "none", "--bootstrap", 0, "--no-progress", "--accelerator", "cpu", "--precision", "32-true"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err
    code, said, _ = run_cli(capsys, *argv)
    assert code == 0 and "already finished (same settings)" in said
    _csv_data(tmp_path, 90)  # 30 rows more
    code, said, err = run_cli(capsys, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "30 input(s) added" in err and "another --out" in err, err
    assert "already finished" not in said


def test_an_interrupted_train_says_how_to_continue_from_python_too(tiny_npz, tmp_path):
    """The interrupt's message gives the way on from the shell (what the CLI prints, as before) and from Python,
    where the same call again continues the run."""
    out = tmp_path / "run"
    with pytest.raises(TrainingInterrupted) as e:
        medtrain.train(_fast(tiny_npz, out, epochs=2), verbose=False, callbacks=[InterruptAt(1)])
    said = str(e.value)
    assert said.startswith(f"interrupted after epoch 1; continue with `medtrain train --resume {out}`; ")
    assert "in Python, train() with the same settings continues it" in said and "\n" not in said
    assert e.value.command_line == f"interrupted after epoch 1; continue with `medtrain train --resume {out}`"
    done = medtrain.train(_fast(tiny_npz, out, epochs=2), verbose=False)
    assert len(done["history"]) == 2


def _leaves(tree):
    if isinstance(tree, dict):
        tree = list(tree.values())
    if isinstance(tree, (list, tuple)):
        return [leaf for t in tree for leaf in _leaves(t)]
    return [tree]


def _nans(tree):
    return [v for v in _leaves(tree) if isinstance(v, float) and math.isnan(v)]


def test_train_returns_the_file_s_content_and_the_run_directory(tiny_npz, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = _fast(tiny_npz, None)  # bootstrap 0: per-class intervals undefined, NaN in memory, null in the file
    del cfg["out"]  # the default run directory, which the user then needs for evaluate/export/explain
    first = medtrain.train(cfg, verbose=False)
    saved = rundir.read_metrics(first.run_dir)
    assert first.run_dir == (tmp_path / rundir.default_run_dir(_as_config(cfg))).absolute()
    assert first == saved == json.loads(json.dumps(first))  # NaN (an undefined interval) had been returned as nan
    assert not any(_nans(first)) and None in _leaves(first["test"])  # the file's null: an undefined interval
    again = medtrain.train(cfg, verbose=False)
    assert again == first and again.run_dir == first.run_dir
    assert medtrain.evaluate(first.run_dir, verbose=False)["auc"] == pytest.approx(first["test"]["auc"])


def test_a_setting_changed_on_a_finished_run_is_told_another_out_not_resume(tiny_npz, tmp_path):
    out = tmp_path / "run"
    medtrain.train(_fast(tiny_npz, out), verbose=False)
    with pytest.raises(MedtrainError) as e:
        medtrain.train(_fast(tiny_npz, out, epochs=2), verbose=False)
    said = str(e.value)
    assert "(epochs: 1, now 2)" in said and "--resume" not in said and "another --out (out= in Python)" in said


def test_config_with_data_is_not_refused_for_the_default_dataset(tiny_npz, tmp_path):
    cfg = _as_config(Config(data=str(tiny_npz), out=str(tmp_path / "run")))
    assert cfg.data == str(tiny_npz) and cfg.dataset is None
    assert _as_config(Config()).dataset == "pneumoniamnist"  # without data: the default dataset


def test_images_in_memory_without_labels_are_refused_in_one_short_line_saying_how_to_give_them(tmp_path):
    # (images, labels) in memory train since 490a524 (tests/test_train_arrays.py, its refusals there too)
    with pytest.raises(MedtrainError) as e:
        medtrain.train({"data": np.zeros((50, 28, 28), np.uint8), "out": str(tmp_path / "run")}, verbose=False)
    said = str(e.value)
    assert "not read" in said and "np.savez" in said and "train_images" in said and "CSV" in said
    assert "array(" not in said and "0." not in said and len(said) < 240 and "\n" not in said
    assert not (tmp_path / "run").exists()
