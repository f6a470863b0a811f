"""``medtrain.train({"data": (images, labels), ...})``: images in memory, as a notebook holds them, written once as a
MedMNIST-layout .npz in the cache (named by its content) and trained on as such (medtrain.data.arrays)."""
from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import medtrain
from conftest import make_images, run_cli
from medtrain import api
from medtrain._train_inputs import _as_config
from medtrain.config import Config
from medtrain.data.arrays import arrays_npz
from medtrain.data.split import stratified_split
from medtrain.errors import MedtrainError

FAST = dict(model="resnet10_28_half", epochs=1, batch_size=32, progress=False, bootstrap=0, schedule="none",
            accelerator="cpu", flip="true", precision="32-true")


def _split_sizes(run: Path) -> dict:
    with open(run / "splits.csv", newline="") as f:
        return dict(Counter(row["split"] for row in csv.DictReader(f)))


@pytest.fixture(scope="module")
def tuple_run(tmp_path_factory):
    """A 1-epoch run on a tuple of 160 grey 16x16 images, in its default folder, the cache in a folder of its own."""
    root = tmp_path_factory.mktemp("arrays")
    x, y = make_images(160, seed=3)
    y[::12] = 1 - y[::12]  # some labels wrong: a test AUC below 1 that depends on the exact scores
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDTRAIN_DATA", str(root / "cache"))
        mp.chdir(root)
        result = medtrain.train({"data": (x, y), **FAST})
    return root, x, y, result


def test_a_tuple_of_arrays_trains_in_runs_arrays_and_eval_reproduces_its_test_metrics(tuple_run, capsys, monkeypatch):
    root, x, y, result = tuple_run
    run = root / "runs" / "arrays-resnet10_28_half-s0"
    assert Path(result.run_dir).resolve() == run.resolve() and (run / "metrics.json").is_file()
    data = Path(medtrain.rundir.load_config(run).data)
    assert data.parent.parent == root / "cache" / "arrays" and data.name == "arrays.npz" and len(data.parent.name) == 64
    # split as a CSV of these labels without a split column is: 0.1 / 0.2 stratified, seed 0
    drawn = stratified_split(y.reshape(-1), 0.1, 0.2, 0, each_part=True)
    assert _split_sizes(run) == {s: int((drawn == i).sum()) for i, s in enumerate(("train", "val", "test"))}
    with np.load(data) as z:  # the drawn test images are the user's, in their order
        assert np.array_equal(z["test_images"], x[drawn == 2]) and np.array_equal(z["test_labels"], y[drawn == 2, 0])
    monkeypatch.chdir(root)
    monkeypatch.delenv("MEDTRAIN_DATA", raising=False)  # a shell without it: the run names the file itself
    code, out, err = run_cli(capsys, "eval", str(run))
    assert code == 0, err
    again = json.loads((run / "eval_test.json").read_text())
    assert 0.5 < result["test"]["auc"] < 1
    assert again["confusion"] == result["test"]["confusion"] and again["data_checked_by"] == "sha256"
    for key in ("auc", "acc", "balanced_acc"):
        assert again[key] == pytest.approx(result["test"][key], abs=1e-6), key


def test_the_same_arrays_again_return_the_finished_run_and_other_arrays_are_refused(tuple_run, capsys, monkeypatch):
    root, x, y, result = tuple_run
    run = root / "runs" / "arrays-resnet10_28_half-s0"
    monkeypatch.setenv("MEDTRAIN_DATA", str(root / "cache"))
    monkeypatch.chdir(root)
    written = (run / "metrics.json").stat().st_mtime_ns
    capsys.readouterr()
    again = medtrain.train({"data": (x.copy(), list(y.reshape(-1))), **FAST})  # equal arrays, other objects
    said = capsys.readouterr().out
    assert "already finished (same settings)" in said and again == result
    assert (run / "metrics.json").stat().st_mtime_ns == written
    changed = y.copy()
    changed[:3] = 1 - changed[:3]
    with pytest.raises(MedtrainError) as e:
        medtrain.train({"data": (x, changed), **FAST}, verbose=False)
    assert "data" in str(e.value) and "another --out" in str(e.value) and "\n" not in str(e.value)
    assert (run / "metrics.json").stat().st_mtime_ns == written
    # the refused arrays leave nothing in the cache: only the run's own file is there
    own = medtrain.rundir.load_config(run).data
    assert [str(p / "arrays.npz") for p in (root / "cache" / "arrays").iterdir()] == [own]


def test_explicit_splits_are_used_as_given(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    parts = {s: make_images(n, seed=i) for i, (s, n) in enumerate((("train", 64), ("val", 24), ("test", 40)))}
    parts["val"] = (parts["val"][0][:, :, :, None], parts["val"][1].reshape(-1))  # (N, H, W, 1), (N,): read alike
    medtrain.train({"data": parts, **FAST, "out": str(tmp_path / "run")}, verbose=False)
    assert _split_sizes(tmp_path / "run") == {"train": 64, "val": 24, "test": 40}
    with np.load(medtrain.rundir.load_config(tmp_path / "run").data) as z:
        assert all(np.array_equal(z[f"{s}_images"], parts[s][0].reshape(-1, 16, 16)) for s in ("train", "val", "test"))


def test_a_missing_split_is_drawn_from_the_training_images_only(tmp_path):
    (x, y), val = make_images(100, seed=0), make_images(20, seed=1)
    with np.load(arrays_npz({"train": (x, y), "val": val}, 0.1, 0.2, 0, tmp_path)) as z:
        drawn = stratified_split(y.reshape(-1), 0.2, 0.0, 0, each_part=True)  # test_fraction of train
        assert np.array_equal(z["val_images"], val[0]) and len(z["test_images"]) == int((drawn == 1).sum()) == 20
        assert np.array_equal(z["train_images"], x[drawn == 0]) and np.array_equal(z["test_images"], x[drawn == 1])
    with np.load(arrays_npz({"train": (x, y), "test": val}, 0.1, 0.2, 0, tmp_path)) as z:
        assert np.array_equal(z["test_images"], val[0]) and len(z["val_images"]) == 10  # val_fraction of train


def _x(n=40, dtype=np.uint8):
    return np.zeros((n, 16, 16), dtype)


@pytest.mark.parametrize("data, says", [
    ((_x(), np.array(["benign", "malignant"] * 20)), "CSV of path,label"),
    ((_x(), np.arange(40) % 2, np.arange(40) // 4), "--group-column"),
    ((_x(dtype=np.float32), np.arange(40) % 2), "astype(np.uint8)"),
    (_x(), "np.savez"),
    ({"train": (_x(), np.arange(40) % 2), "valid": (_x(), np.arange(40) % 2)}, "val"),
    ((_x(), np.arange(30) % 2), "40 images but 30 labels"),
    ((np.zeros((40, 16, 20), np.uint8), np.arange(40) % 2), "not square (data: the train images are 20x16)"),
    ((np.zeros((40, 20, 16, 3), np.uint8), np.arange(40) % 2), "not square (data: the train images are 16x20)"),
], ids=["string-labels", "patient-groups", "float-images", "array-alone", "unknown-split",
        "lengths", "not-square", "not-square-rgb"])
def test_arrays_it_cannot_read_are_refused_in_one_line_naming_the_way(data, says, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    with pytest.raises(MedtrainError) as e:
        medtrain.train({"data": data, **FAST, "out": str(tmp_path / "run")}, verbose=False)
    said = str(e.value)
    assert says in said and "\n" not in said and "array(" not in said and len(said) < 300
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


def test_a_dataframe_is_refused_naming_the_csv():
    pd = pytest.importorskip("pandas")
    with pytest.raises(MedtrainError, match=r"to_csv"):
        medtrain.train({"data": pd.DataFrame({"path": ["a.png"], "label": [0]})}, verbose=False)


def test_where_only_a_path_is_read_arrays_are_refused_naming_train_dict(tmp_path):
    for call in (lambda: _as_config(Config(data=(_x(), np.arange(40) % 2))),
                 lambda: api.train_or_reuse({"data": (_x(), np.arange(40) % 2), "out": str(tmp_path / "r")})):
        with pytest.raises(MedtrainError) as e:
            call()
        assert "medtrain.train({'data': (images, labels)" in str(e.value) and "np.savez" in str(e.value)


@pytest.mark.parametrize("out", ["users", ""], ids=["a-folder-of-the-users", "empty"])
def test_arrays_for_an_out_that_is_refused_are_not_written_to_the_cache(out, tmp_path, monkeypatch):
    """The run folder is checked before the arrays' .npz is written (as the settings are): a folder of the user's
    holding a report.html, or an empty out, had been refused after the file was written to the cache."""
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    if out:
        out = tmp_path / out
        out.mkdir()
        (out / "report.html").write_text("the user's\n")
    with pytest.raises(MedtrainError, match="holds no run" if out else "out is empty"):
        medtrain.train({"data": (_x(), np.arange(40) % 2), **FAST, "out": str(out)}, verbose=False)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "runs").exists()
    if out:
        assert sorted(p.name for p in out.iterdir()) == ["report.html"]


@pytest.mark.parametrize("labels, says", [
    (np.zeros(40, int), "class 1 has no training images"),
    (np.arange(40) % 2 + 1, "class 0 has no training images"),
    (np.arange(40) % 2 - 1, "labels must lie in 0..1, found -1..0"),
], ids=["one-class", "labels-1-2", "labels-minus-1-0"])
def test_arrays_refused_for_their_labels_leave_nothing_in_the_cache(labels, says, tmp_path, monkeypatch):
    """The labels are checked as the .npz is read, after it is written: a refused call removes it (each corrected
    and retried mistake had left a whole uncompressed copy of the images in the cache, listed as a run's data)."""
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    (tmp_path / "cache" / "arrays" / "older").mkdir(parents=True)  # what was there before the call stays
    with pytest.raises(MedtrainError, match=says):
        medtrain.train({"data": (make_images(40)[0], labels), **FAST, "out": str(tmp_path / "run")}, verbose=False)
    assert [p.name for p in (tmp_path / "cache" / "arrays").iterdir()] == ["older"]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("store", ["memory", "mmap"])
def test_a_npz_of_non_square_images_is_refused_in_one_line_before_anything_is_written(store, tmp_path, capsys,
                                                                                       monkeypatch):
    """As a folder's: 20x16 images had trained at 20x16, recorded one side, and the run's own predict then squashed
    its test images to 20x20 (probabilities 0.27 off its predictions_test.csv). Volumes keep their own shape."""
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    x, y = np.zeros((40, 16, 20), np.uint8), np.arange(40) % 2
    np.savez(tmp_path / "wide.npz", **{f"{s}_{k}": v for s in ("train", "val", "test") for k, v in
                                       (("images", x), ("labels", y))})
    code, out, err = run_cli(capsys, "train", "--data", tmp_path / "wide.npz", "--epochs", 1, "--store", store,
                             "--no-progress", "--out", tmp_path / "run")
    assert code == 2 and err.count("\n") == 1, err
    assert "images are not square" in err and "train_images are 20x16" in err and "before saving" in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()  # no run, no memory-mapped store
    # (N, D, H, W): read as volumes, at their own shape, as before
    volumes = np.random.default_rng(0).integers(0, 255, (40, 8, 12, 16), np.uint8)
    with np.load(arrays_npz((volumes, y), 0.1, 0.2, 0, tmp_path)) as z:
        assert z["train_images"].shape[1:] == (8, 12, 16)
