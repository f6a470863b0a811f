"""Image folders and CSV files."""
import numpy as np
import pytest
from PIL import Image

from medtrain.data import load_csv, load_folder
from medtrain.errors import MedtrainError


def _folder(tmp_path, per_class=10, classes=("benign", "malignant"), size=(12, 12), mode="L"):
    root = tmp_path / "imgs"
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            arr = np.full(size + ((3,) if mode == "RGB" else ()), 40 * (classes.index(c) + 1), np.uint8)
            Image.fromarray(arr, mode).save(root / c / f"{i}.png")
    return root


def test_folder_classes_are_subfolders_and_split_is_stratified(tmp_path):
    s = load_folder(_folder(tmp_path, per_class=20), val_fraction=0.25, test_fraction=0.25, seed=1)
    assert s.label_names == {"0": "benign", "1": "malignant"} and s.in_chans == 1
    assert (len(s.train), len(s.val), len(s.test)) == (20, 10, 10)
    for part in (s.train, s.val, s.test):
        assert part.labels.sum().item() * 2 == len(part)  # stratified: half of each split per class


def _ids(split) -> set[int]:
    return {int(v) for v in split.images[:, 0, 0, 0]}


def test_folder_split_is_seeded(tmp_path):
    root = _folder(tmp_path, per_class=20)
    for c in ("benign", "malignant"):  # every image its own value, so which images a split holds is visible
        for i in range(20):
            Image.fromarray(np.full((12, 12), 100 * (c == "malignant") + i, np.uint8)).save(root / c / f"{i}.png")
    a, b, other = load_folder(root, seed=3), load_folder(root, seed=3), load_folder(root, seed=4)
    assert _ids(a.test) == _ids(b.test) and _ids(a.val) == _ids(b.val)
    assert _ids(a.test) != _ids(other.test)
    assert len(_ids(a.train) | _ids(a.val) | _ids(a.test)) == 40  # every image in exactly one split


def test_rgb_folder_gives_three_channels(tmp_path):
    s = load_folder(_folder(tmp_path, mode="RGB"))
    assert s.in_chans == 3


def test_mixed_sizes_are_an_error_naming_both_files(tmp_path):
    root = _folder(tmp_path)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(root / "benign" / "big.png")
    with pytest.raises(MedtrainError, match="mixed sizes.*--image-size"):
        load_folder(root)
    assert load_folder(root, image_size=12).spatial_shape == (12, 12)


def test_class_with_no_images(tmp_path):
    root = _folder(tmp_path)
    (root / "normal").mkdir()
    with pytest.raises(MedtrainError, match="class 'normal' has no images"):
        load_folder(root)


def test_csv_with_split_column(tmp_path):
    _folder(tmp_path, per_class=4)
    rows = ["path,label,split"]
    for i in range(4):
        for c in ("benign", "malignant"):
            rows.append(f"imgs/{c}/{i}.png,{c},{['train', 'train', 'val', 'test'][i]}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    s = load_csv(tmp_path / "labels.csv")
    assert (len(s.train), len(s.val), len(s.test)) == (4, 2, 2)


def test_csv_missing_image_is_named(tmp_path):
    (tmp_path / "l.csv").write_text("path,label\nnope.png,0\n")
    with pytest.raises(MedtrainError, match="nope.png"):
        load_csv(tmp_path / "l.csv")
