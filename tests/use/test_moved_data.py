"""A run whose data moved after training (a user walkthrough: `mv data data2`): every command that reads the run's
own data says that the data its config.yaml records are missing and how to go on, never a `--data` the user did
not give; `data:` edited in config.yaml (relative to the run folder) points the run at the new place, where the
same data are accepted and other data refused; `eval --data` says when it could not check for training images;
`advise` finds a source's data as `eval` does and the target where the user's own settings say."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import medtrain
from conftest import fast_config, make_images, make_npz, png_csv, run_cli
from medtrain.external import external_file

pytestmark = pytest.mark.usefixtures("one_thread")


def _own_data(root, n=96, seed=0):
    """A folder of PNGs and its labels.csv (paths relative to the CSV, as a user writes them)."""
    return png_csv(root, *make_images(n, seed=seed), ("normal", "abnormal"), path="img/{i:03d}.png")


def _copy_trained(base: Path, dest: Path) -> None:
    """``base`` (a folder a module fixture trained a run in) copied to ``dest`` as if the run had been trained there:
    every path the run's files record under ``base`` (config.yaml, metrics.json, predictions) now names ``dest``.
    One training a module instead of one a test (each had been ~0.5-0.9 s of the file's ~7 s)."""
    shutil.copytree(base, dest, dirs_exist_ok=True)
    for path in dest.rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".json", ".csv", ".html"):
            text = path.read_text(encoding="utf-8")
            if str(base) in text:
                path.write_text(text.replace(str(base), str(dest)), encoding="utf-8")


@pytest.fixture(scope="module")
def _own_trained(tmp_path_factory):
    """A run trained on data/labels.csv (runs/own), the data still in place: copied by :func:`moved`."""
    base = tmp_path_factory.mktemp("own_trained")
    csv_path = _own_data(base / "data")
    medtrain.train(fast_config(csv_path, base / "runs" / "own", epochs=1, bootstrap=0), verbose=False)
    return base


@pytest.fixture
def moved(_own_trained, tmp_path, monkeypatch):
    """A run trained on data/labels.csv, then `mv data data2`; the working folder is elsewhere."""
    _copy_trained(_own_trained, tmp_path)
    run = tmp_path / "runs" / "own"
    (tmp_path / "data").rename(tmp_path / "data2")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return tmp_path, run


def _point_at(run, data):
    """What the error message tells the user to do: edit `data:` in the run's config.yaml."""
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["data"] = str(data)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))


@pytest.mark.parametrize("command", ["eval", "explain", "resume"])
def test_a_run_whose_data_moved_names_its_config_and_the_ways_on(moved, capsys, command):
    root, run = moved
    if command == "resume":  # an interrupted run (a finished one is returned without reading its data), here one
        for name in ("metrics.json", "model.safetensors"):  # killed before its weights were written
            (run / name).unlink()
    argv = {"eval": ["eval", run], "explain": ["explain", run, "--out", root / "maps"],
            "resume": ["train", "--resume", run]}[command]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    recorded = root / "data" / "labels.csv"
    assert f"records data: {recorded}" in err and str(run / "config.yaml") in err and "missing" in err
    assert "Move them back" in err and "edit data:" in err
    assert "--data" not in err  # the user gave no such flag


def test_a_run_on_in_memory_arrays_whose_cached_copy_is_gone_is_told_to_give_the_arrays_again(moved, capsys):
    # medtrain.train's arrays live only in the cache (<cache>/arrays/<sha256>/arrays.npz): "move them back" had
    # named a file the user never had; giving the same arrays to train again writes it again
    root, run = moved
    _point_at(run, root / "cache" / "arrays" / ("0" * 64) / "arrays.npz")
    code, _, err = run_cli(capsys, "eval", run)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "the arrays" in err and "Train again with the same arrays and settings" in err
    assert "Move them back" not in err


def test_data_edited_relative_to_the_run_folder_is_the_same_data_and_other_data_are_refused(moved, capsys):
    root, run = moved
    trained = json.loads((run / "metrics.json").read_text())["test"]
    _point_at(run, "../../data2/labels.csv")  # from runs/own, whatever the current folder
    code, _, err = run_cli(capsys, "eval", run)
    assert code == 0, err
    got = json.loads((run / "eval_test.json").read_text())
    assert got["data_checked_by"] == "sha256" and got["auc"] == pytest.approx(trained["auc"], abs=1e-9)

    # other images under the same names at the new place: the test split's digest differs, refused
    with open(run / "splits.csv", newline="") as f:
        test_input = next(r["input"] for r in csv.DictReader(f) if r["split"] == "test")
    shutil.copytree(root / "data2", root / "data3")
    img = root / "data3" / test_input
    Image.fromarray(255 - np.asarray(Image.open(img))).save(img)
    _point_at(run, "../../data3/labels.csv")
    code, _, err = run_cli(capsys, "eval", run)
    assert code == 2 and "images or labels changed" in err and len(err.strip().splitlines()) == 1

    # fewer images: re-split, refused by splits.csv before anything is scored
    rows = (root / "data2" / "labels.csv").read_text().splitlines()
    (root / "data2" / "fewer.csv").write_text("\n".join(rows[:-5]) + "\n")
    _point_at(run, "../../data2/fewer.csv")
    code, _, err = run_cli(capsys, "eval", run)
    assert code == 2 and "changed since it was trained" in err and "5 gone" in err


def test_external_data_unchecked_for_training_images_is_said_and_recorded(moved, capsys):
    root, run = moved
    ext = _own_data(root / "ext", n=12, seed=7)
    code, _, err = run_cli(capsys, "eval", run, "--data", ext)
    assert code == 0, err
    said = [line for line in err.splitlines() if "could not be checked for images" in line]
    assert len(said) == 1 and str(root / "data" / "labels.csv") in said[0] and "missing" in said[0]
    got = json.loads((run / external_file(ext)).read_text())
    assert got["seen_in_run"] is None and "missing" in got["seen_in_run_reason"]


def test_advise_from_a_source_whose_data_moved_says_so(moved, capsys):
    root, run = moved
    target = make_npz(root / "target.npz")
    code, _, err = run_cli(capsys, "advise", "--source", run, "--target", target, "--max-images", "10")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "unknown dataset" not in err and f"records data: {root / 'data' / 'labels.csv'}" in err


def _offline(url, dest):
    raise OSError("offline (test)")


@pytest.fixture(scope="module")
def _medmnist_trained(tmp_path_factory):
    """A breastmnist run (run) trained from $MEDTRAIN_DATA=first: copied by :func:`medmnist_run`."""
    import medtrain.data.medmnist as mm

    base = tmp_path_factory.mktemp("medmnist_trained")
    first = base / "first"
    first.mkdir()
    make_npz(first / "breastmnist.npz")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mm, "_fetch", _offline)
        mp.setenv("MEDTRAIN_DATA", str(first))
        cfg = fast_config(None, base / "run", epochs=1, bootstrap=0)
        medtrain.train({**cfg, "data": None, "dataset": "breastmnist"}, verbose=False)
    return base


@pytest.fixture
def medmnist_run(_medmnist_trained, tmp_path, monkeypatch):
    """A breastmnist run read from $MEDTRAIN_DATA=first (config.yaml records data_dir: first); no downloads."""
    import medtrain.data.medmnist as mm

    monkeypatch.setattr(mm, "_fetch", _offline)
    _copy_trained(_medmnist_trained.resolve(), tmp_path.resolve())
    first = tmp_path / "first"
    monkeypatch.setenv("MEDTRAIN_DATA", str(first))
    run = tmp_path / "run"
    assert yaml.safe_load((run / "config.yaml").read_text())["data_dir"] == str(first.resolve())
    return tmp_path, run


def test_advise_finds_a_medmnist_source_where_medtrain_data_points_as_eval_does(medmnist_run, capsys, monkeypatch):
    root, run = medmnist_run
    (root / "first").rename(root / "second")
    monkeypatch.setenv("MEDTRAIN_DATA", str(root / "second"))
    assert run_cli(capsys, "eval", run)[0] == 0  # eval finds it there
    code, out, err = run_cli(capsys, "advise", "--source", run, "--target", make_npz(root / "t.npz"),
                             "--max-images", "10")
    assert code == 0, err
    assert "recommendation:" in out


def test_advise_reads_a_named_target_where_the_user_s_settings_say(medmnist_run, capsys, monkeypatch):
    """The source run's recorded folder (another machine's, perhaps) is no place to look for the target."""
    root, run = medmnist_run
    mine = root / "mine"
    mine.mkdir()
    make_npz(mine / "pneumoniamnist.npz")  # only here, not in the source's data_dir
    shutil.copy(root / "first" / "breastmnist.npz", mine)
    monkeypatch.setenv("MEDTRAIN_DATA", str(mine))
    code, out, err = run_cli(capsys, "advise", "--source", run, "--target", "pneumoniamnist", "--max-images", "10")
    assert code == 0, err
    assert "target pneumoniamnist" in out


def test_advise_names_a_missing_target_path_as_a_path(medmnist_run, capsys):
    root, run = medmnist_run
    code, _, err = run_cli(capsys, "advise", "--source", run, "--target", root / "nowhere" / "t.csv")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"--target {root / 'nowhere' / 't.csv'}: no such file or folder" in err and "unknown dataset" not in err
