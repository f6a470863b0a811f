"""load_splits: damaged .npz files, and --spacing / --window checked before any data is read."""
import numpy as np
import pytest

from medtrain.config import resolve
from medtrain.data import load_npz, load_splits
from medtrain.errors import MedtrainError


def _one_line_error(match, fn, *args):
    with pytest.raises(MedtrainError, match=match) as e:
        fn(*args)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_npz_that_starts_like_a_zip_then_is_junk_names_the_file(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    msg = _one_line_error("not a readable .npz", load_splits, resolve({"data": str(bad)}))
    assert str(bad) in msg


def test_truncated_npz_names_the_file(tmp_path, tiny_npz):
    cut = tmp_path / "cut.npz"
    cut.write_bytes(tiny_npz.read_bytes()[: tiny_npz.stat().st_size // 2])
    assert str(cut) in _one_line_error("not a readable .npz", load_npz, cut)


def test_a_plain_npy_file_named_npz_is_refused(tmp_path):
    p = tmp_path / "single.npz"
    with open(p, "wb") as f:
        np.save(f, np.zeros((3, 4), np.uint8))
    _one_line_error("single .npy array, not a .npz archive", load_npz, p)


def test_labels_beyond_the_training_set_are_refused_before_naming_a_billion_classes(tmp_path, tiny_npz):
    arrays = dict(np.load(tiny_npz))
    arrays["train_labels"] = arrays["train_labels"].astype(np.int64) * 10**9
    np.savez(tmp_path / "big.npz", **arrays)
    _one_line_error("labels run up to 1000000000", load_npz, tmp_path / "big.npz")


@pytest.mark.parametrize("key, value, message", [
    ("spacing", "a", "spacing must be one number or three|spacing must be a positive number"),
    ("spacing", "1,2", "spacing must be one number or three"),
    ("spacing", "0", "spacing must be a positive number"),
    ("spacing", "nan", "spacing must be a positive number"),
    ("window", "lungs", "unknown CT window"),
    ("window", "40,x", "CT window must be a preset or level,width"),
    ("window", "40,-5", "width must be positive"),
])
def test_malformed_spacing_or_window_is_one_error(tiny_npz, key, value, message):
    _one_line_error(message, load_splits, resolve({"data": str(tiny_npz), key: value}))


@pytest.mark.parametrize("key, value", [("spacing", "1.5"), ("spacing", "2,1,1"), ("window", "lung")])
def test_spacing_and_window_on_an_npz_or_medmnist_name_are_refused_not_ignored(tiny_npz, key, value):
    msg = _one_line_error(f"--{key} {value} applies to DICOM/NIfTI data only", load_splits,
                          resolve({"data": str(tiny_npz), key: value}))
    assert str(tiny_npz) in msg
    _one_line_error("applies to DICOM/NIfTI data only, not to MedMNIST set breastmnist", load_splits,
                    resolve({"dataset": "breastmnist", key: value}))


def test_without_spacing_or_window_the_npz_loads(tiny_npz):
    s = load_splits(resolve({"data": str(tiny_npz)}))
    assert (len(s.train), len(s.val), len(s.test)) == (96, 32, 32)
