"""The memory-mapped store: the same data and batches as in memory, converted once, bad input refused
cleanly, resident memory bounded."""
import errno
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

import medtrain
from medtrain.cli import main
from medtrain.config import resolve
from medtrain.data import load_folder, load_npz, store
from medtrain.errors import MedtrainError
from medtrain.training.loader import TensorBatches

from conftest import fast_config, find_real_data, make_images


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache directory (where stores are written)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("MEDTRAIN_DATA", str(root))
    return root


def _rgb_npz(path, sizes=(70, 20, 20), compressed=True):
    """RGB (N, H, W, 3) images, as MedMNIST's colour sets store them; compressed like the real files."""
    arrays = {}
    for split, n, seed in zip(("train", "val", "test"), sizes, (0, 1, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, channels=3, seed=seed)
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def _stores(cache):
    return sorted((cache / "store").iterdir()) if (cache / "store").is_dir() else []


def test_mapped_and_in_memory_paths_yield_identical_batches_for_a_seed(tmp_path, cache):
    npz = _rgb_npz(tmp_path / "rgb.npz")
    mem, mapped = load_npz(npz, store="memory"), load_npz(npz, store="mmap")
    assert len(_stores(cache)) == 1  # it really came from a store
    for s in ("train", "val", "test"):
        assert torch.equal(mem.split(s).images, mapped.split(s).images)
        assert mapped.split(s).images.is_contiguous() and mapped.split(s).images.shape[1] == 3
    # the training loader: same seeded order, same bytes, epoch after epoch
    a = TensorBatches(mem.train.images, mem.train.labels, 16, shuffle=True, seed=7, drop_last=True)
    b = TensorBatches(mapped.train.images, mapped.train.labels, 16, shuffle=True, seed=7, drop_last=True)
    for epoch in (0, 1):
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        pairs = list(zip(a, b))
        assert len(pairs) == 4
        for (xa, ya), (xb, yb) in pairs:
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
    # the unseeded in-memory order would differ: the check above could fail
    b.seed = 8
    assert not torch.equal(next(iter(a))[0], next(iter(b))[0])


@pytest.mark.parametrize("name", ["pneumoniamnist", "adrenalmnist3d"])
def test_real_medmnist_files_stream_into_the_same_tensors(name, tmp_path, monkeypatch):
    """The official (deflated) files, a grey 2D set and a 3D set, through the streaming conversion."""
    npz = find_real_data(f"{name}.npz") / f"{name}.npz"
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    mem, mapped = load_npz(npz), load_npz(npz, store="mmap")
    for s in ("train", "val", "test"):
        assert torch.equal(mem.split(s).images, mapped.split(s).images)
        assert torch.equal(mem.split(s).labels, mapped.split(s).labels)
    assert (mapped.task, mapped.label_names) == (mem.task, mem.label_names)


@pytest.mark.slow
def test_training_from_the_store_matches_training_in_memory(tmp_path, cache):
    """Same batches, augmentation on the device as before: the whole run (statistics, augmented epochs,
    checkpoint selection, test metrics) is the same."""
    npz = _rgb_npz(tmp_path / "rgb.npz", sizes=(48, 16, 16))
    runs = {}
    for mode in ("memory", "mmap"):
        m = medtrain.train(fast_config(npz, tmp_path / mode, epochs=2, store=mode, augment="flip,shift",
                                       bootstrap=0, logger="none", tta="none"), verbose=False)
        runs[mode] = [{k: v for k, v in h.items() if k != "epoch_s"} for h in m["history"]], m["test"]["auc"]
    assert len(_stores(cache)) == 1
    assert runs["mmap"] == runs["memory"]  # losses and metrics bit for bit


def _class_folders(root, per_class: int, shape: tuple):
    """Random PNGs of ``shape`` in class folders ``a`` and ``b``; returns the root and the generator drawn from."""
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(root / c / f"{i}.png")
    return root, rng


def test_a_folder_store_holds_the_decoded_images_in_split_order(tmp_path, cache):
    root, rng = _class_folders(tmp_path / "imgs", 12, (10, 14, 3))
    Image.fromarray(rng.integers(0, 256, (10, 14), dtype=np.uint8)).save(root / "a" / "grey.png")  # mixed modes
    mem = load_folder(root, image_size=8, seed=3, store="memory")
    mapped = load_folder(root, image_size=8, seed=3, store="mmap")
    assert len(_stores(cache)) == 1
    for s in ("train", "val", "test"):
        assert torch.equal(mem.split(s).images, mapped.split(s).images)
        assert torch.equal(mem.split(s).labels, mapped.split(s).labels)
    # another split seed is another store (the split is part of the layout)
    assert torch.equal(load_folder(root, image_size=8, seed=4, store="mmap").train.images,
                       load_folder(root, image_size=8, seed=4, store="memory").train.images)
    assert len(_stores(cache)) == 2


def test_conversion_happens_once_and_a_changed_source_replaces_its_store(tmp_path, cache, monkeypatch):
    npz = _rgb_npz(tmp_path / "rgb.npz")
    conversions = []
    writing = store.writing
    monkeypatch.setattr("medtrain.data.medmnist.writing", lambda *a: conversions.append(a) or writing(*a))
    load_npz(npz, store="mmap")
    load_npz(npz, store="mmap")
    assert len(conversions) == 1
    _rgb_npz(npz, sizes=(40, 20, 20))  # the file changes: a fresh store, the old one removed
    assert len(load_npz(npz, store="mmap").train) == 40
    assert len(conversions) == 2 and len(_stores(cache)) == 1


def test_an_image_rewritten_with_its_old_size_and_mtime_is_not_read_from_a_stale_store(tmp_path, cache):
    # cp -p, rsync -t or an archive restore keep size and mtime: the old store had been reused silently
    import os

    root, _ = _class_folders(tmp_path / "imgs", 8, (8, 8))
    load_folder(root, seed=0, store="mmap")
    f = root / "a" / "0.png"
    before = f.stat()
    pixels = np.asarray(Image.open(f)).copy()
    pixels[0, 0] ^= 0xFF  # one pixel: the same PNG size, restored mtime
    Image.fromarray(pixels).save(f)
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert f.stat().st_size == before.st_size and f.stat().st_mtime_ns == before.st_mtime_ns
    mapped, mem = load_folder(root, seed=0, store="mmap"), load_folder(root, seed=0, store="memory")
    for s in ("train", "val", "test"):
        assert torch.equal(mapped.split(s).images, mem.split(s).images)


@pytest.mark.parametrize("damage", ["truncate", "meta"])
def test_a_damaged_store_is_one_error_line_and_exit_2(tmp_path, cache, capsys, damage):
    npz = _rgb_npz(tmp_path / "rgb.npz")
    load_npz(npz, store="mmap")
    (dest,) = _stores(cache)
    if damage == "truncate":
        f = dest / "train_images.npy"
        f.write_bytes(f.read_bytes()[:-100])
    else:
        (dest / "meta.json").write_text("{not json")
    with pytest.raises(MedtrainError, match="store .* is damaged"):
        load_npz(npz, store="mmap")
    code = main(["train", "--data", str(npz), "--store", "mmap", "--epochs", "1", "--no-progress",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and str(dest) in err and "Traceback" not in err


def test_a_full_disk_while_converting_leaves_nothing_behind(tmp_path, cache, monkeypatch, capsys):
    npz = _rgb_npz(tmp_path / "rgb.npz")
    append = store.ArrayWriter.append
    calls = []

    def fails_on_second_write(self, rows):  # the disk fills up part-way through the conversion
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        append(self, rows)

    monkeypatch.setattr(store.ArrayWriter, "append", fails_on_second_write)
    code = main(["train", "--data", str(npz), "--store", "mmap", "--epochs", "1", "--no-progress",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "No space left on device" in err
    assert list((cache / "store").iterdir()) == []  # no store, no temporary folder
    # too little free space for the whole store is refused before anything is written
    monkeypatch.setattr(store.ArrayWriter, "append", append)
    monkeypatch.setattr(store.shutil, "disk_usage", lambda p: type("U", (), {"free": 1000})())
    with pytest.raises(MedtrainError, match=r"needs [\d.]+kB in .*, only 1.00kB are free"):
        load_npz(npz, store="mmap")
    assert list((cache / "store").iterdir()) == []
    monkeypatch.undo()
    assert torch.equal(load_npz(npz, store="mmap", ).train.images, load_npz(npz).train.images)


def test_auto_maps_only_images_too_big_for_memory(tmp_path, cache, monkeypatch):
    npz = _rgb_npz(tmp_path / "rgb.npz")  # 110 images of 16x16x3: 84 kB
    monkeypatch.setattr(store, "available_memory", lambda: 10**9)
    load_npz(npz, store="auto")
    assert _stores(cache) == []
    monkeypatch.setattr(store, "available_memory", lambda: 200_000)  # 84 kB > a quarter of 200 kB
    load_npz(npz, store="auto")
    assert len(_stores(cache)) == 1


def test_store_setting_is_validated():
    assert resolve({}).store == "auto"
    with pytest.raises(MedtrainError, match="store"):
        resolve({"store": "disk"})


def _rss_file_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssFile:"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_reading_a_store_does_not_keep_its_pages_resident(tmp_path, cache):
    arrays = {f"{s}_images": np.full((n, 64, 64, 3), 7, np.uint8) for s, n in (("train", 5000), ("val", 4),
                                                                               ("test", 4))}
    arrays |= {f"{s}_labels": np.arange(n) % 2 for s, n in (("train", 5000), ("val", 4), ("test", 4))}
    np.savez(tmp_path / "big.npz", **arrays)  # 61 MB of training images
    images = load_npz(tmp_path / "big.npz", store="mmap").train.images
    before = _rss_file_kb()
    total = sum(int(images[i:i + 500].sum()) for i in range(0, len(images), 500))  # touches every page
    assert total == 7 * images.numel()
    time.sleep(5 * store.RELEASE_EVERY_S)
    assert _rss_file_kb() - before < 20_000  # the 61 MB read are no longer resident in this process


def test_a_folder_decodes_into_memory_at_about_its_own_size(tmp_path):
    # every image was held decoded, then stacked, then transposed: 4.3x a 307 MB folder at the peak, where
    # --store auto assumes 2x when it decides whether the images fit in memory
    import tracemalloc

    from medtrain.data.folder import _decode

    rng = np.random.default_rng(0)
    paths = []
    for i in range(100):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(paths[-1])
    tracemalloc.start()
    try:
        images = _decode(paths, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert images.shape == (100, 3, 64, 64)
    assert torch.equal(images[7], torch.from_numpy(np.asarray(Image.open(paths[7]))).permute(2, 0, 1))
    assert peak < 1.5 * images.numel()  # numpy's allocations, as tracemalloc sees them


def test_the_temporary_folder_of_a_killed_build_is_removed_by_the_next_build_and_a_live_one_is_not(tmp_path):
    # SIGKILL skips every clean-up: its half-written arrays (gigabytes for the data this is for) stayed for good
    import os

    dead = tmp_path / ".imgs-abc.killed.tmp"
    live = tmp_path / ".imgs-abc.building.tmp"
    for d in (dead, live):
        d.mkdir()
        (d / "train_images.npy").write_bytes(b"\0" * 1000)
    old = time.time() - 2 * 3600  # unwritten for two hours (store.ABANDONED_S: one)
    for p in (dead / "train_images.npy", dead):
        os.utime(p, (old, old))
    with store.writing(tmp_path / "other-def", "other", "c", needed_bytes=0) as w:
        w.array("x", (2, 2)).append(np.zeros((2, 2), np.uint8))
    assert not dead.exists() and live.exists() and (tmp_path / "other-def").is_dir()
