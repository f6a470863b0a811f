"""One-hot labels in a MedMNIST-layout .npz (Keras' ``to_categorical``) are read as multi-label, as any label
matrix is, and said so in one line with the way to give one class per image; genuine multi-label data (rows of no
or several labels, as ChestMNIST's) is read as before, without a word."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from conftest import fast_config, make_images, run_cli, warned
from medtrain.data import load_npz
from medtrain.data.medmnist import OneHotLabelsWarning
from medtrain.tasks import MULTILABEL


def _npz(path, labels_of):
    arrays = {}
    for split, n, seed in (("train", 48, 0), ("val", 16, 1), ("test", 16, 2)):
        images, y = make_images(n, seed=seed)
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels_of(split, y[:, 0])
    np.savez(path, **arrays)
    return path


def _loaded(path):
    return warned(OneHotLabelsWarning, load_npz, path)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.int64])
def test_one_hot_labels_are_said_to_be_read_as_multi_label(tmp_path, dtype):
    s, said = _loaded(_npz(tmp_path / "onehot.npz", lambda _, y: np.eye(2, dtype=dtype)[y]))
    assert len(said) == 1
    msg = str(said[0].message)
    assert "\n" not in msg and "one-hot" in msg and "multi-label" in msg and "(N,)" in msg and "(N, 1)" in msg
    # read as it was: a multi-label task of 2 labels, its rows the file's
    assert s.task == MULTILABEL and s.train.labels.shape == (48, 2)
    assert torch.equal(s.train.labels.argmax(1), torch.from_numpy(make_images(48, seed=0)[1][:, 0]).long())


@pytest.mark.parametrize("odd_split", ["train", "val", "test"])
def test_genuine_multi_label_data_is_read_as_before_without_a_word(tmp_path, odd_split):
    """One row of no label (or of two) in any split makes it multi-label data: no warning."""
    def labels(split, y):
        m = np.eye(3, dtype=np.uint8)[(y + np.arange(len(y))) % 3]  # one-hot but for the odd split's 2 rows
        if split == odd_split:
            m[0] = 0
            m[1] = (1, 0, 1)
        return m

    s, said = _loaded(_npz(tmp_path / "ml.npz", labels))
    assert said == [] and s.task == MULTILABEL and s.split(odd_split).labels[1].tolist() == [1.0, 0.0, 1.0]


def test_class_indices_are_not_warned(tmp_path):
    for shape in ((-1,), (-1, 1)):
        s, said = _loaded(_npz(tmp_path / "idx.npz", lambda _, y: y.reshape(shape)))
        assert said == [] and s.task == "binary-class"


def test_training_on_one_hot_labels_says_it_in_one_line(tmp_path, capsys):
    data = _npz(tmp_path / "onehot.npz", lambda _, y: np.eye(2, dtype=np.uint8)[y])
    cfg = fast_config(data, tmp_path / "run", epochs=1, bootstrap=0, tta="none", flip="false")
    args = [f"--{k.replace('_', '-')}={v}" for k, v in cfg.items() if k not in ("data", "out", "progress")]
    code, _, err = run_cli(capsys, "train", "--data", data, "--out", tmp_path / "run", "--no-progress", *args)
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if "one-hot" in ln]
    assert len(lines) == 1 and lines[0].startswith("medtrain: warning:"), err
