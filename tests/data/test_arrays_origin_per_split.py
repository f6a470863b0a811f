"""Images in memory: the origin of their splits (``split_origin.txt``, given or drawn) is kept with the .npz it
describes. The same six arrays given split otherwise (a tuple whose splits medtrain drew, then those splits given
back as a dict: ``own``) had shared one file and one origin, the last writer's: the first run's eval or resume then
recorded ``own`` for splits it had drawn, and its report dropped the fractions that drew them. Each origin now has
its file, and an origin once written is never replaced, also where two writers race for it."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import make_images
from medtrain.data import arrays
from medtrain.data.arrays import ORIGIN_FILE, arrays_npz, arrays_origin

pytestmark = pytest.mark.usefixtures("cache_root")


def _as_given(path) -> dict:
    with np.load(path) as z:
        return {s: (z[f"{s}_images"], z[f"{s}_labels"]) for s in ("train", "val", "test")}


def test_the_first_writer_reads_back_its_own_origin_after_another_writes_the_same_arrays():
    x, y = make_images(60, seed=3)
    drawn = arrays_npz((x, y), 0.1, 0.2, 0)
    given = _as_given(drawn)
    own = arrays_npz(given)  # the same arrays, given as train, val and test
    assert arrays_origin(drawn) == "drawn" and arrays_origin(own) == "own"
    assert _as_given(own).keys() == given.keys() and all(
        np.array_equal(_as_given(own)[s][0], given[s][0]) for s in given)
    assert arrays_npz((x, y), 0.1, 0.2, 0) == drawn and arrays_npz(given) == own  # each call again: its file


def test_an_origin_written_by_another_writer_meanwhile_stands(monkeypatch):
    """Two writers of the same arrays, split otherwise, at once: the one that records its origin second finds the
    first's, and writes its arrays to a folder of their own."""
    x, y = make_images(60, seed=4)
    first = arrays_npz((x, y), 0.1, 0.2, 0)
    given = _as_given(first)
    (first.parent / ORIGIN_FILE).unlink()  # the folder as the racing writers both find it: no origin yet
    write_text = arrays.write_text

    def other_writer_first(path, text):  # the other writer links its origin in between
        (first.parent / ORIGIN_FILE).write_text("drawn\n", encoding="utf-8")
        monkeypatch.setattr(arrays, "write_text", write_text)
        write_text(path, text)

    monkeypatch.setattr(arrays, "write_text", other_writer_first)
    own = arrays_npz(given)
    assert own != first and arrays_origin(own) == "own" and arrays_origin(first) == "drawn"
    assert sorted(p.name for p in first.parent.iterdir()) == [arrays.FILE, ORIGIN_FILE]  # no staged file left
