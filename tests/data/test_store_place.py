"""Where the memory-mapped store goes, and converting a .npz once.

``--data-dir`` (``config.data_dir``) is the folder medtrain writes its data into: the memory-mapped store of an
image folder, a CSV or a .npz goes under ``<data_dir>/store/``, as decoded DICOM volumes go under its ``volumes/``,
and nothing into the default cache ($MEDTRAIN_DATA, $XDG_CACHE_HOME): on a cluster that is a small home folder,
and the store the big copy. A run's saved config holds that ``data_dir``, so eval and predict find the same store.

Two processes converting the same .npz at once (two runs started together, the ranks of torchrun) convert it
once: the second waits for the first and maps its store. Threads stand in for processes (each takes the store's
file lock through its own descriptor), and the first conversion pauses until a second starts or a while passed."""
from __future__ import annotations

import csv
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from PIL import Image

from medtrain.config import resolve
from medtrain.data import load_npz, load_splits, medmnist

SPLITS = ("train", "val", "test")


@pytest.fixture
def default_cache(tmp_path, monkeypatch):
    """The default cache ($MEDTRAIN_DATA and $XDG_CACHE_HOME both point into it), empty."""
    root = tmp_path / "default"
    monkeypatch.setenv("MEDTRAIN_DATA", str(root / "medtrain_data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "xdg"))
    return root


def _folder(root):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def _csv(root):
    _folder(root / "images")
    with open(root / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label"])
        for c in ("a", "b"):
            w.writerows([f"images/{c}/{i}.png", c] for i in range(6))
    return root / "labels.csv"


def _npz(root):
    rng = np.random.default_rng(1)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for s, n in zip(SPLITS, (12, 4, 4)):
        arrays[f"{s}_images"] = rng.integers(0, 256, (n, 8, 8), dtype=np.uint8)
        arrays[f"{s}_labels"] = (np.arange(n) % 2).reshape(-1, 1).astype(np.uint8)
    np.savez(root / "tiny.npz", **arrays)
    return root / "tiny.npz"


def _files(root) -> list:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize("make", [_folder, _csv, _npz], ids=["folder", "csv", "npz"])
def test_the_store_of_data_loaded_with_a_data_dir_goes_under_it_and_nothing_into_the_default_cache(
        tmp_path, default_cache, make):
    data, data_dir = make(tmp_path / "data"), tmp_path / "scratch"
    config = resolve({"data": str(data), "data_dir": str(data_dir), "store": "mmap", "image_size": None})
    mapped = load_splits(config)
    stores = [p for p in _files(data_dir) if p.count("/") == 1 and p.startswith("store/") and "/." not in p]
    assert len(stores) == 1, (_files(data_dir), _files(default_cache))
    stores = [data_dir / stores[0]]
    assert (stores[0] / "meta.json").is_file()
    assert _files(default_cache) == []  # not one file in $MEDTRAIN_DATA or $XDG_CACHE_HOME
    # the same tensors as in memory, read from the store under data_dir
    in_memory = load_splits(resolve({"data": str(data), "data_dir": str(data_dir), "store": "memory"}))
    for s in SPLITS:
        assert torch.equal(mapped.split(s).images, in_memory.split(s).images)
    # eval/predict reload the run's saved config, which holds data_dir: the same store, not a second one
    before = _files(data_dir)
    again = load_splits(resolve(config.to_dict()))
    assert _files(data_dir) == before and _files(default_cache) == []
    for s in SPLITS:
        assert torch.equal(again.split(s).images, mapped.split(s).images)


def test_without_a_data_dir_the_store_goes_into_the_default_cache(tmp_path, default_cache):
    load_npz(_npz(tmp_path / "data"), store="mmap")
    assert [p.name for p in (default_cache / "medtrain_data" / "store").iterdir()][0].startswith("tiny-")


def test_two_processes_converting_the_same_npz_at_once_convert_it_once_and_both_get_it(
        tmp_path, default_cache, monkeypatch):
    npz = _npz(tmp_path / "data")
    real, conversions = medmnist.writing, []

    @contextmanager
    def pausing(*args, **kwargs):  # the first conversion waits (a bounded while) for a second to start
        conversions.append(threading.current_thread().name)
        deadline = time.monotonic() + 1.0
        while len(conversions) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        with real(*args, **kwargs) as w:
            yield w

    monkeypatch.setattr(medmnist, "writing", pausing)
    out: dict = {}

    def run(name):
        try:
            out[name] = load_npz(npz, store="mmap")
        except BaseException as e:  # noqa: BLE001  (the test reports what each got)
            out[name] = e

    threads = [threading.Thread(target=run, args=(n,), name=n, daemon=True) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20.0)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    in_memory = load_npz(npz, store="memory")
    for name in ("a", "b"):
        assert not isinstance(out[name], BaseException), out[name]
        for s in SPLITS:
            assert torch.equal(out[name].split(s).images, in_memory.split(s).images)
    assert len(conversions) == 1, conversions  # the second waited for the first and mapped its store
    store = default_cache / "medtrain_data" / "store"
    assert len(list(store.iterdir())) == 1, _files(store)  # one store, no second copy, no lock file left
