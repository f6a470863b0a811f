"""Every loader records where a run's val and test splits came from (``SplitRecord.origin``,
:mod:`medtrain.data._origin`), the one splitter deciding it: ``own`` (the data's own splits: an .npz, a CSV's split
column, images in memory given as train, val and test), ``drawn`` (drawn with ``val_fraction``/``test_fraction``),
or which of the two each split is; with ``--folds``, the fold held out. The report had guessed it from the data's
path and shown a CSV's split column and in-memory splits as drawn (their fractions listed as read)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import make_images, make_npz, png_csv
from medtrain.config import resolve
from medtrain.data import load_splits
from medtrain.data.arrays import ORIGIN_FILE, arrays_npz

pytestmark = pytest.mark.usefixtures("cache_root")


def _loaded(data, **over):
    splits = load_splits(resolve({"data": str(data), **over}))
    return splits.record.origin, {s: len(splits.split(s)) for s in ("train", "val", "test")}


@pytest.fixture
def sources(tmp_path):
    x, y = make_images(60, seed=1)
    column = {"split": ["train"] * 40 + ["val"] * 10 + ["test"] * 10}
    return {"npz": make_npz(tmp_path / "own.npz"), "csv": png_csv(tmp_path / "csv", x, y),
            "folder": png_csv(tmp_path / "folder", x, y, path="{label}/{i}.png", name=None),
            "csv with split column": png_csv(tmp_path / "split", x, y, columns=column)}


@pytest.mark.parametrize("source, origin, folded", [
    ("npz", "own", "own test, fold val"),
    ("csv with split column", "own", "own test, fold val"),
    ("csv", "drawn", "fold test, drawn val"),
    ("folder", "drawn", "fold test, drawn val"),
])
def test_each_loader_records_whether_its_splits_are_the_datas_own_or_drawn(sources, source, origin, folded):
    recorded, sizes = _loaded(sources[source], val_fraction=0.25, test_fraction=0.25)
    assert recorded == origin
    if origin == "own":  # the fractions drew nothing: the data's 32 / 10 test images, not a quarter of them
        assert sizes["test"] == {"npz": 32, "csv with split column": 10}[source]
    else:
        assert sizes["test"] == 15
    # cross-validation: the held-out fold is val beside the data's own test split, else test (val then drawn)
    assert _loaded(sources[source], folds=3, fold=1)[0] == folded


def _given(x, y, parts):
    cut = {"train": slice(0, 40), "val": slice(40, 50), "test": slice(50, 60)}
    return {s: (x[cut[s]], y[cut[s]]) for s in parts}


@pytest.mark.parametrize("parts, origin, folded", [
    (None, "drawn", "drawn test, fold val"),
    (("train", "val", "test"), "own", "own test, fold val"),
    (("train", "test"), "own test, drawn val", "own test, fold val"),
    (("train", "val"), "drawn test, own val", "drawn test, fold val"),
])
def test_images_given_in_memory_record_which_splits_were_given_and_which_drawn(parts, origin, folded):
    x, y = make_images(60, seed=2)
    path = arrays_npz((x, y) if parts is None else _given(x, y, parts), 0.1, 0.2, 0)
    recorded, sizes = _loaded(path)
    assert recorded == origin
    if parts is not None and "test" in parts:
        assert sizes["test"] == 10  # the test images given
    assert _loaded(path, folds=3, fold=0)[0] == folded


def test_the_same_arrays_given_split_otherwise_record_each_calls_and_a_file_from_before_records_nothing(tmp_path):
    x, y = make_images(60, seed=2)
    drawn = arrays_npz((x, y), 0.1, 0.2, 0)
    with np.load(drawn) as z:  # the same six arrays, given as three splits: their own splits, in a file of their own
        given = {s: (z[f"{s}_images"], z[f"{s}_labels"]) for s in ("train", "val", "test")}
    own = arrays_npz(given)
    assert own != drawn and _loaded(own)[0] == "own" and _loaded(drawn)[0] == "drawn"
    assert arrays_npz((x, y), 0.1, 0.2, 0) == drawn and arrays_npz(given) == own
    (drawn.parent / ORIGIN_FILE).unlink()  # as written before the origin was recorded: which were drawn is unknown
    assert _loaded(drawn)[0] is None
    copy = shutil.copy(drawn, tmp_path / "arrays.npz")  # a user's own .npz, whatever its name: its own splits
    assert _loaded(copy)[0] == "own"
