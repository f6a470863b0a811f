"""A folder's memory-mapped store whose images the duplicate-aware split moves (pixel-identical copies dealt into one
split) is laid out anew in place before it is installed: the disk never holds it twice, and the free space the
conversion asks for is what it peaks at. A second layout written beside the first had needed twice the store's
size: on a disk that held the store once the conversion failed with "needs 546kB ..., only 0.00B are free" (its own
first layout had filled the disk) and left that first layout behind, so that every rerun failed the same way."""
from __future__ import annotations

import errno
import os

import numpy as np
import pytest
import torch
from PIL import Image

from medtrain.data import _split_store, load_folder, store
from medtrain.data.split import PARTS
from medtrain.errors import MedtrainError


def _folder(root, n=48, size=64):
    """``n`` random 64 px grey images in classes a/b, and copies of four of them under other names: the split that
    keeps copies together moves images, so the store is laid out anew (4 kB a row)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
    for a, b in ((0, 13), (4, 5), (7, 20), (9, 30)):
        images[b] = images[a]
    for i, im in enumerate(images):
        (root / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(root / "ab"[i % 2] / f"{i:02d}.png")
    return root


def _on_disk(folder) -> int:
    """Bytes allocated under ``folder`` (as ``du``: a file's holes take none)."""
    return sum(os.lstat(os.path.join(d, f)).st_blocks * 512 for d, _, fs in os.walk(folder) for f in fs)


def test_a_store_laid_out_anew_needs_the_disk_once_and_asks_for_what_it_peaks_at(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    root = _folder(tmp_path / "d")
    monkeypatch.setattr(_split_store, "CHUNK", 8 << 10, raising=False)  # the re-layout's rows read at a time
    peak, asked = [0], []
    sample = lambda: peak.__setitem__(0, max(peak[0], _on_disk(cache)))  # noqa: E731

    def sampled(f):
        def g(*a, **k):
            sample()
            out = f(*a, **k)
            sample()
            return out
        return g

    for owner, name in ((store.ArrayWriter, "append"), (store, "_install"), (_split_store, "_put")):
        if hasattr(owner, name):  # (_put: the re-layout's writes)
            monkeypatch.setattr(owner, name, sampled(getattr(owner, name)))
    writing = _split_store.writing
    monkeypatch.setattr(_split_store, "writing", lambda dest, source, content, needed, **k: asked.append(needed)
                        or writing(dest, source, content, needed, **k))
    mapped = load_folder(root, seed=0, store="mmap", data_dir=cache)
    first = load_folder(root, seed=0, store="memory")
    (dest,) = (cache / "store").iterdir()  # one store: no first layout, no temporary left
    stored = _on_disk(dest)
    blocks = 4096 * 12  # a partly filled block per file, of the store's and the re-layout's
    assert peak[0] <= stored + _split_store.CHUNK + blocks, (peak[0], stored)  # a second copy had doubled it
    assert len(asked) == 1  # written once
    assert peak[0] <= asked[0] + blocks  # the free space asked for is what it takes
    assert np.array_equal(mapped.record.assign, first.record.assign)
    assert mapped.record.ungrouped is not None  # the copies moved images: laid out anew indeed
    for part in PARTS:
        assert torch.equal(mapped.split(part).images, first.split(part).images), part


def test_a_full_disk_while_laying_out_anew_is_one_error_and_leaves_nothing(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    root = _folder(tmp_path / "d", size=8)

    def full(*a):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_split_store, "_put", full)
    with pytest.raises(MedtrainError, match=r"could not write the memory-mapped store .*\(No space left on device\); "
                                            r"nothing was kept"):
        load_folder(root, seed=0, store="mmap", data_dir=cache)
    assert list((cache / "store").iterdir()) == []  # no store, no temporary, no lock
