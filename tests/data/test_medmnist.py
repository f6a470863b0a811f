"""MedMNIST loading: the real files, the download path (against files on disk) and malformed input."""
import os
import shutil

import numpy as np
import pytest
import torch

from medtrain.data import medmnist as mm
from medtrain.data import load_npz
from medtrain.errors import MedtrainError


def test_real_pneumoniamnist_loads_as_uint8_tensors(real_data):
    s = mm.load_medmnist("pneumoniamnist", 28, real_data)
    assert (len(s.train), len(s.val), len(s.test)) == (4708, 524, 624)
    assert s.train.images.dtype == torch.uint8 and s.train.images.shape[1:] == (1, 28, 28)
    assert s.task == "binary-class" and s.label_names == {"0": "normal", "1": "pneumonia"}
    assert s.train.labels.dtype == torch.int64 and set(s.train.labels.unique().tolist()) == {0, 1}


def test_rgb_and_ordinal_dataset(real_data):
    s = mm.load_medmnist("retinamnist", 28, real_data)
    assert s.in_chans == 3 and s.task == "ordinal-regression" and s.num_classes == 5
    # the README's train channel means (R, G, B) = (101.6, 62.4, 39.7)
    mean = s.train.images.float().mean((0, 2, 3))
    assert torch.allclose(mean, torch.tensor([101.6, 62.4, 39.7]), atol=0.1)


def test_every_2d_name_is_known_with_download_url():
    for name in ("pathmnist", "chestmnist", "dermamnist", "octmnist", "pneumoniamnist", "retinamnist", "breastmnist",
                 "bloodmnist", "tissuemnist", "organamnist", "organcmnist", "organsmnist"):
        for size in mm.SIZES:
            url, md5 = mm._url_md5(name, size)
            assert url.startswith("https://") and len(md5) == 32


def test_download_fetches_into_the_cache_and_checks_md5(real_data, tmp_path, monkeypatch):
    calls = []

    def fake_fetch(url, dest):  # the network stands in for a copy of the official file
        calls.append(url)
        shutil.copy(real_data / "breastmnist.npz", dest)

    monkeypatch.setattr(mm, "_fetch", fake_fetch)
    path = mm.fetch("breastmnist", 28, tmp_path)
    assert path == tmp_path / "breastmnist.npz" and calls == [mm._url_md5("breastmnist", 28)[0]]
    mm.fetch("breastmnist", 28, tmp_path)  # cached: no second download
    assert len(calls) == 1


def test_download_with_wrong_md5_is_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(mm, "_fetch", lambda url, dest: dest.write_bytes(b"not the file"))
    with pytest.raises(MedtrainError, match="MD5"):
        mm.fetch("breastmnist", 28, tmp_path)
    assert not (tmp_path / "breastmnist.npz").exists()


def test_offline_without_file_names_the_file_and_where_to_put_it(tmp_path, monkeypatch):
    def offline(url, dest):
        raise OSError("network unreachable")

    monkeypatch.setattr(mm, "_fetch", offline)
    with pytest.raises(MedtrainError) as e:
        mm.fetch("dermamnist", 64, tmp_path)
    msg = str(e.value)
    assert "dermamnist_64.npz" in msg and str(tmp_path) in msg and "MEDTRAIN_DATA" in msg


def test_unknown_dataset_suggests_the_nearest_name():
    with pytest.raises(MedtrainError, match="did you mean pneumoniamnist"):
        mm.fetch("pneumonimnist")


def _write(tmp_path, **arrays):
    p = tmp_path / "d.npz"
    np.savez(p, **arrays)
    return p


def _valid():
    x = np.zeros((6, 8, 8), np.uint8)
    y = np.array([[0], [1], [0], [1], [0], [1]], np.uint8)
    return {f"{s}_{k}": v for s in ("train", "val", "test") for k, v in (("images", x), ("labels", y))}


def test_npz_missing_keys_is_named(tmp_path):
    a = _valid()
    del a["val_labels"]
    with pytest.raises(MedtrainError, match="val_labels"):
        load_npz(_write(tmp_path, **a))


def test_npz_with_mismatched_counts(tmp_path):
    a = _valid()
    a["test_labels"] = a["test_labels"][:4]
    with pytest.raises(MedtrainError, match="6 images but 4 labels"):
        load_npz(_write(tmp_path, **a))


def test_npz_labels_outside_class_range(tmp_path):
    a = _valid()
    a["val_labels"] = np.array([[0], [1], [0], [1], [0], [-1]])
    with pytest.raises(MedtrainError, match="labels must lie in"):
        load_npz(_write(tmp_path, **a))


def test_multilabel_npz_gives_float_label_matrix(tmp_path):
    a = _valid()
    for s in ("train", "val", "test"):
        a[f"{s}_labels"] = np.array([[0, 1, 1], [1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 0]], np.uint8)
    s = load_npz(_write(tmp_path, **a))
    assert s.task == "multi-label, binary-class" and s.num_classes == 3 and s.train.labels.dtype == torch.float32


@pytest.mark.parametrize("split, value, message", [
    ("val", 1, "in the val split, label '0' (no negative)"),     # accepted: val AUC logged 0.0, the epoch chosen by it
    ("train", 0, "in the train split, label '0' (no positive)"),  # accepted: a pos_weight of 1080, never predicted
    ("test", 0, "in the test split, label '0' (no positive)"),    # accepted: 'test AUC nan'
])
def test_a_multi_label_split_where_a_label_never_varies_is_refused(tmp_path, capsys, split, value, message):
    from medtrain.cli import main

    rng = np.random.default_rng(0)
    arrays = {}
    for s, n in (("train", 40), ("val", 20), ("test", 20)):
        arrays[f"{s}_images"] = rng.integers(0, 256, (n, 8, 8), dtype=np.uint8)
        labels = rng.integers(0, 2, (n, 3)).astype(np.uint8)
        labels[:2] = [[0, 0, 0], [1, 1, 1]]  # every label varies in every split
        if s == split:
            labels[:, 0] = value
        arrays[f"{s}_labels"] = labels
    np.savez(tmp_path / "ml.npz", **arrays)
    code = main(["train", "--data", str(tmp_path / "ml.npz"), "--epochs", "1", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err and not (tmp_path / "run").exists()


def test_a_label_column_count_that_differs_from_train_names_the_split_not_none(tmp_path):
    # it said "val_labels has 2 columns but bm2col is None"
    arrays = {f"{s}_images": np.zeros((4, 8, 8), np.uint8) for s in ("train", "val", "test")}
    arrays.update({f"{s}_labels": np.array([[0], [1], [0], [1]], np.uint8) for s in ("train", "test")})
    arrays["val_labels"] = np.array([[0, 1], [1, 0], [0, 1], [1, 0]], np.uint8)
    np.savez(tmp_path / "bm2col.npz", **arrays)
    with pytest.raises(MedtrainError, match="val_labels has 2 columns but train_labels has one; a single-label"):
        load_npz(tmp_path / "bm2col.npz")


class _Runs:
    """An object that, unpickled, makes a folder: proof that unpickling ran code."""

    def __init__(self, proof):
        self.proof = proof

    def __reduce__(self):
        return os.mkdir, (str(self.proof),)


@pytest.mark.parametrize("key", ["test_images", "train_labels"])
def test_an_npz_of_pickled_arrays_is_refused_as_such_and_never_unpickled(tmp_path, key):
    """A received .npz whose arrays are pickled objects: refused (it had been, as "truncated or damaged"), said
    to hold pickled arrays, and nothing in it run, for training and (its images) for predicting alike."""
    a = _valid()
    proof = tmp_path / "unpickled"
    a[key] = np.array([_Runs(proof)] * 6, dtype=object)
    path = _write(tmp_path, **a)
    said = (f"{path}: {key} holds pickled (object) arrays, which medtrain does not load (unpickling could run "
            f"code); save images and labels as numeric arrays")
    with pytest.raises(MedtrainError) as e:
        load_npz(path)
    assert str(e.value) == said
    if key == "test_images":
        with pytest.raises(MedtrainError) as e:
            mm.load_npz_images(path, "test")
        assert str(e.value) == said
    assert not proof.exists()


def test_a_pickle_named_npz_is_refused_as_pickled_and_never_unpickled(tmp_path):
    import pickle

    proof = tmp_path / "unpickled"
    path = tmp_path / "d.npz"
    path.write_bytes(pickle.dumps(_Runs(proof)))
    with pytest.raises(MedtrainError, match=r"d\.npz holds pickled \(object\) arrays, which medtrain does not load"):
        load_npz(path)
    assert not proof.exists()
