"""A reused memory-mapped store (``--store mmap``) says what the load that wrote it said of the images: that
``--image-size`` squashed images of another aspect ratio, and that 8-bit and 16-bit files are scaled by two rules.
Those lines came from the header survey, made only where the store was written, so a second run on the same data
trained on squashed images without a word. They are kept with the store and said again on every load of it."""
import warnings

import numpy as np
import pytest
from PIL import Image

from medtrain.data import _split_store, load_folder


def _folder(root, copies: bool = False):
    """Per class 10 images of 30x20 pixels (one 16-bit); ``copies``: four pixel-identical copies of one image,
    which the split then keeps together (the store laid out anew as it is written)."""
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(10):
            a = rng.integers(0, 255, (20, 30), np.uint8)
            im = Image.fromarray(a.astype(np.uint16) * 100) if i == 3 else Image.fromarray(a)
            im.save(root / c / f"{i}.png")
    if copies:
        for i in range(4):
            (root / "a" / f"copy{i}.png").write_bytes((root / "a" / "0.png").read_bytes())
    return root


def _said(root) -> list[tuple]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_folder(root, image_size=16, store="mmap", val_fraction=0.2, test_fraction=0.2)
    return [(w.category.__name__, str(w.message)) for w in caught
            if w.category.__name__ in ("SquashedImagesWarning", "BitDepthsWarning")]


@pytest.mark.parametrize("copies", [False, True])
def test_a_reused_store_says_what_its_first_load_said(tmp_path, monkeypatch, copies):
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    root = _folder(tmp_path / "d", copies)
    writes = []
    real = _split_store.write_store
    monkeypatch.setattr(_split_store, "write_store", lambda *a, **k: writes.append(a) or real(*a, **k))
    first = _said(root)
    assert len(writes) == 1  # with copies too: laid out anew, keeping them together, before it is installed
    assert [kind for kind, _ in first] == ["BitDepthsWarning", "SquashedImagesWarning"]
    n = 24 if copies else 20
    assert f"{n} input(s) of another aspect ratio were squashed to the 16x16 square" in first[1][1]
    assert f"{n - 2} image(s) of 8 bits per channel and 2 of more than 8 bits" in first[0][1]
    writes.clear()
    assert _said(root) == first  # reused, not written again, and says the same
    assert not writes
