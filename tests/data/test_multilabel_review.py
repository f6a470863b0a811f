"""Multi-label CSVs as a reviewer found them: a label of too few negatives refused by the splitter's one check,
before any image is decoded or a store written (it had been refused by ``Splits.validate`` after both, in another
wording)."""
from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medtrain.data import load_csv
from medtrain.data.split import split_record
from medtrain.errors import MedtrainError


def _csv(root: Path, cells: list[str], name: str = "labels.csv") -> Path:
    """A CSV of path,label with one grey 8x8 PNG per cell (labels joined by ``|``)."""
    rng = np.random.default_rng(0)
    for i in range(len(cells)):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(root / f"{i}.png")
    with open(root / name, "w", newline="") as f:
        csv.writer(f).writerows([["path", "label"], *([f"{i}.png", c] for i, c in enumerate(cells))])
    return root / name


def _two_negatives_of_b() -> list[str]:
    """100 rows: A on about 40%, B on all but the first two (2 negatives cannot fill train, val and test)."""
    rng = np.random.default_rng(0)
    return ["|".join((["A"] if rng.random() < 0.4 else []) + (["B"] if i >= 2 else [])) for i in range(100)]


def test_a_label_of_two_negatives_is_refused_by_the_splitter_naming_its_negatives():
    rng = np.random.default_rng(0)
    y = np.zeros((100, 2), np.int64)
    y[:, 0] = rng.random(100) < 0.4
    y[2:, 1] = 1  # label B: 2 negatives
    with pytest.raises(MedtrainError) as e:
        split_record([str(i) for i in range(100)], y, None, 0.1, 0.2, 0, label_names={"0": "A", "1": "B"})
    msg = str(e.value)
    assert msg.startswith("label 'B' has 2 negative images (none in ") and "\n" not in msg
    assert "every label needs a positive and a negative image in each of train, val, test" in msg


def test_a_csv_whose_label_has_two_negatives_is_refused_before_a_store_is_written(tmp_path):
    data, cache = _csv(tmp_path, _two_negatives_of_b()), tmp_path / "cache"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(MedtrainError) as e:
            load_csv(data, store="mmap", data_dir=cache)
    msg = str(e.value)
    # the splitter's line (Splits.validate's had been "in the val split, label 'B' (no negative): ...")
    assert msg.startswith(f"{data}: label 'B' has 2 negative images (none in ") and "\n" not in msg
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))  # nothing decoded into a store


def test_a_given_test_split_without_a_negative_is_refused_by_the_splitter_too(tmp_path):
    y = np.array([[1, 0], [0, 1], [1, 1], [1, 0], [0, 1], [1, 1], [0, 1]])
    splits = ["train"] * 3 + ["val"] * 2 + ["test"] * 2  # test: label 1 never negative
    with pytest.raises(MedtrainError) as e:
        split_record([str(i) for i in range(len(y))], y, splits, 0.1, 0.2, 0, label_names={"0": "A", "1": "B"})
    assert str(e.value).startswith("the test split has no negative image of label 'B' (2 in all), so the test AUC "
                                   "is undefined")
