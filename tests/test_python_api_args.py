"""The Python API's arguments as a notebook gives them (a user walkthrough from ``help()`` alone):
``medtrain.compare.compare`` takes a Config as ``medtrain.train`` does and a grid's values as ``--vary`` writes
them; an argument of another kind, and a flag that is not True or False, are refused in one line naming it; the
arrays of ``train({"data": (x, y), ...})`` are written only once the settings are checked. Training is replaced by
canned metrics where what is tested is how the arguments are read."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import medtrain
from medtrain.compare import compare, parse_vary
from medtrain.config import Config
from medtrain.errors import MedtrainError

from conftest import fast_config, make_images
from test_compare_typed import _fake_training  # compare's cells given canned metrics


def test_compare_takes_a_config_as_its_base_as_train_does(tiny_npz, tmp_path, monkeypatch):
    """``compare(Config(...), ...)`` had been "argument of type 'Config' is not iterable"."""
    trained = _fake_training(monkeypatch)
    base = Config(data=str(tiny_npz), model="resnet10_28_half", epochs=1, batch_size=32)
    rows = compare(base, {"dropout": [0.0, 0.2]}, [0], tmp_path / "grid", verbose=False)
    assert [r["dropout"] for r in rows] == [0.0, 0.2]
    assert [(c.data, c.model, c.epochs, c.batch_size, c.dropout) for c in trained] == [
        (str(tiny_npz), "resnet10_28_half", 1, 32, 0.0), (str(tiny_npz), "resnet10_28_half", 1, 32, 0.2)]
    # the base the grid records is the Config's: its data, not a default MedMNIST set beside them
    recorded = json.loads((tmp_path / "grid" / "grid.json").read_text())["base"]
    assert recorded["data"] == str(tiny_npz) and recorded["dataset"] is None and recorded["epochs"] == 1
    # the summary's header names the settings the Config changes, not its defaults (milestones, augment, ...)
    header = (tmp_path / "grid" / "summary.md").read_text().splitlines()[0]
    assert header.split("base settings: ")[1].split() == [
        "--data", str(tiny_npz), "--model", "resnet10_28_half", "--epochs", "1", "--batch-size", "32"]
    # a setting the Config changes from its default is the base's: varying it too is refused, as for a dict
    with pytest.raises(MedtrainError, match="dropout is both varied and given"):
        compare(Config(data=str(tiny_npz), dropout=0.3), {"dropout": [0.0, 0.2]}, [0], tmp_path / "other",
                verbose=False)
    assert not (tmp_path / "other").exists()


def test_a_grids_values_given_as_one_string_are_split_as_vary_splits_them(tiny_npz, tmp_path, monkeypatch):
    """``{"dropout": "0.0,0.2"}`` had been read character by character ("dropout: cannot read '.' as float")."""
    trained = _fake_training(monkeypatch)
    base = fast_config(tiny_npz, tmp_path / "unused", epochs=1)
    del base["out"]
    rows = compare(base, {"dropout": "0.0,0.2"}, [0], tmp_path / "grid", verbose=False)
    assert [c.dropout for c in trained] == [0.0, 0.2] and len(rows) == 2
    assert [c.out for c in trained] == [str(tmp_path / "grid" / f"dropout={v}" / "seed0") for v in ("0.0", "0.2")]
    recorded = json.loads((tmp_path / "grid" / "grid.json").read_text())["grid"]
    assert recorded == parse_vary(["dropout=0.0,0.2"])  # the command line's --vary dropout=0.0,0.2, the same grid


@pytest.mark.parametrize("key, values, message", [
    ("seed", [0, 1], r"^--vary seed: --seeds sets it, not --vary$"),  # its row "seed 1" had been a seed-0 run
    ("dropout", [0, 0.0], r"^--vary dropout: 0.0 repeats a value given before it$"),  # one setting, two rows
    ("dropout", (0.2, "0.20"), r"^--vary dropout: '0.20' repeats a value given before it$"),
    ("out", ("a", "b"), r"^--vary out: --out sets it, not --vary$"),  # two cells of one run, out ignored
    ("progress", [True, False], r"^--vary progress: it does not change a run's result; give it once as --progress$"),
])
def test_a_grids_list_of_values_is_refused_as_vary_refuses_them_before_any_cell_trains(tiny_npz, tmp_path,
                                                                                      monkeypatch, key, values,
                                                                                      message):
    """A list (or tuple) of values is checked as ``--vary KEY=V1,V2`` and one string are: it had gone straight
    into the grid, so ``{"seed": [0, 1]}`` labelled a seed-0 run "seed 1" and ``{"dropout": [0, 0.0]}`` trained
    the same setting twice as two rows, where the command line refuses both."""
    trained = _fake_training(monkeypatch)
    with pytest.raises(MedtrainError, match=message) as as_list:
        compare({"data": str(tiny_npz), "epochs": 1}, {key: values}, [0], tmp_path / "grid", verbose=False)
    assert not trained and not (tmp_path / "grid").exists()
    with pytest.raises(MedtrainError) as on_the_command_line:
        parse_vary([f"{key}={','.join(map(str, values))}"])
    assert str(as_list.value).replace("'", "") == str(on_the_command_line.value).replace("'", "")


def test_a_grids_setting_is_named_alike_given_as_a_list_or_as_one_string(tiny_npz, tmp_path, monkeypatch):
    """``{"batch-size": [8, 16]}`` names its cells as ``{"batch-size": "8,16"}`` and ``--vary batch-size=8,16`` do
    (``batch_size=8``), not ``batch-size=8``."""
    trained = _fake_training(monkeypatch)
    base = {"data": str(tiny_npz), "epochs": 1}
    compare(base, {"batch-size": [8, 16]}, [0], tmp_path / "list", verbose=False)
    compare(base, {"batch-size": "8,16"}, [0], tmp_path / "string", verbose=False)
    cells = [(Path(c.out).relative_to(tmp_path).parts, c.batch_size) for c in trained]
    assert cells == [(("list", "batch_size=8", "seed0"), 8), (("list", "batch_size=16", "seed0"), 16),
                     (("string", "batch_size=8", "seed0"), 8), (("string", "batch_size=16", "seed0"), 16)]


def test_a_folder_holding_a_list_grid_refuses_another_grid_in_one_line(tiny_npz, tmp_path, monkeypatch):
    # grid.json keeps a list grid's values as given (8, not "8"): naming them in the refusal had raised TypeError
    _fake_training(monkeypatch)
    base = {"data": str(tiny_npz), "epochs": 1}
    compare(base, {"batch_size": [8, 16]}, [0], tmp_path / "g", verbose=False)
    with pytest.raises(MedtrainError, match="--vary batch_size=8,16") as refused:
        compare(base, {"dropout": [0.1, 0.2]}, [0], tmp_path / "g", verbose=False)
    assert len(str(refused.value).splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (dict(seeds=0), r"^seeds must be a list of seeds \(\[0, 1, 2\] or range\(3\)\); got int 0$"),
    (dict(seeds=["0"]), r"^seeds: '0' is not an integer seed$"),
    (dict(grid={"dropout": 0.2}), r"^grid dropout: give its values as a list \(\[0.2\]\) or as one string"),
    (dict(grid={"dropout": []}), r"^grid dropout has no values$"),
    (dict(grid=["dropout=0,0.2"]), r"^grid must be a dict of settings and their values"),
    (dict(grid={1: [0, 1]}), r"^grid: its keys are settings' names \('dropout'\); got int 1$"),
    (dict(base=[("epochs", 1)]), r"^base must be a dict of settings or a Config; got list"),
    (dict(out=123), r"^out must be the grid's folder, a path; got int 123$"),
    (dict(verbose="no"), r"^verbose must be True or False, got 'no'$"),
])
def test_compare_refuses_an_argument_of_another_kind_in_one_line_naming_it(tiny_npz, tmp_path, monkeypatch,
                                                                          args, message):
    trained = _fake_training(monkeypatch)
    given = dict(base={"data": str(tiny_npz), "epochs": 1}, grid={"dropout": [0.0, 0.2]}, seeds=[0],
                 out=tmp_path / "grid", verbose=False)
    with pytest.raises(MedtrainError, match=message):
        compare(**{**given, **args})
    assert not trained and not (tmp_path / "grid").exists()


@pytest.mark.parametrize("flag", ["verbose", "evaluate_test", "idle_settings"])
def test_train_refuses_a_flag_that_is_not_true_or_false(tmp_path, flag):
    """``train(..., verbose="no")`` had been verbose (any non-empty string is true), as ``load(calibrated="false")``
    is refused. A misspelt model here: had the flag been read, train would have refused the model instead."""
    with pytest.raises(MedtrainError, match=rf"^{flag} must be True or False, got 'no'$"):
        medtrain.train({"dataset": "breastmnist", "model": "nosuch", "out": str(tmp_path / "run")}, **{flag: "no"})
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("over, message", [
    ({"model": "nosuch"}, "nosuch"),
    ({"augment": ["flip", "nosuch"]}, "nosuch"),
    ({"image_size": 32}, "--image-size 32 applies to image folders and CSVs only"),
])
def test_arrays_in_memory_are_written_only_once_the_settings_are_checked(tmp_path, over, message):
    """``train({"data": (x, y), "model": "nosuch"})`` had written the arrays' .npz into the cache (``data_dir``)
    before refusing the model."""
    x, y = make_images(40)
    cache = tmp_path / "cache"
    with pytest.raises(MedtrainError, match=message):
        medtrain.train({"data": (x, y), "data_dir": str(cache), "out": str(tmp_path / "run"), "epochs": 1,
                        "progress": False, **over}, verbose=False)
    assert not cache.exists() and not (tmp_path / "run").exists()
