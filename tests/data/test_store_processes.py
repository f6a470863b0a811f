"""``--store auto`` counts every training process of the machine, each of which holds its own copy of in-memory
data: training's processes, from the run's devices (Lightning's own launcher, ``--devices N`` on one machine, sets no
LOCAL_WORLD_SIZE in any of its processes, which each read the data before training), or the launcher's
LOCAL_WORLD_SIZE where set; a command that only reads a run's data is one process."""
import numpy as np
import pytest
from PIL import Image

from medtrain.config import resolve
from medtrain.data import load_splits, store

from conftest import make_images

IMAGE_BYTES = 110 * 16 * 16 * 3  # the .npz below: 84,480 bytes of images
# a quarter of it (126,720 bytes) holds one process's copy, not two (63,360 each)
AVAILABLE = 6 * IMAGE_BYTES


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("MEDTRAIN_DATA", str(root))
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)  # as under Lightning's own launcher
    monkeypatch.setattr(store, "available_memory", lambda: AVAILABLE)
    return root


def _stores(cache):
    return sorted((cache / "store").iterdir()) if (cache / "store").is_dir() else []


def _npz(path):
    arrays = {}
    for split, n, seed in zip(("train", "val", "test"), (70, 20, 20), (0, 1, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, channels=3, seed=seed)
    np.savez_compressed(path, **arrays)
    return path


def _folder(root):
    """110 RGB images of 16x16 in two class folders: the same 84,480 bytes as the .npz."""
    images, labels = make_images(110, channels=3, seed=5)
    for i, (image, label) in enumerate(zip(images, labels)):
        (root / f"c{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / f"c{label}" / f"{i:03d}.png")
    return root


def _load(data, processes=None, **settings):
    return load_splits(resolve({"data": str(data), "store": "auto", "accelerator": "cpu", **settings}), processes)


@pytest.mark.parametrize("kind", ["npz", "folder"])
def test_auto_maps_data_that_fits_one_process_but_not_the_training_processes(tmp_path, cache, kind):
    data = _npz(tmp_path / "rgb.npz") if kind == "npz" else _folder(tmp_path / "imgs")
    one = _load(data, devices=2)  # a command reading a run's data (eval, explain): one process, whatever it trained on
    assert _stores(cache) == []  # its copy fits, held in memory
    two = _load(data, 2, devices=2)  # training's two processes, two copies: 168,960 bytes > a quarter of memory
    assert len(_stores(cache)) == 1  # read through the store, which both processes share
    assert np.array_equal(one.train.images.numpy(), two.train.images.numpy())


def test_training_counts_the_processes_of_its_devices(tmp_path, cache, monkeypatch):
    """``train`` passes the processes its ``devices`` start on this machine to the data it reads (review C: every
    reader of a run's data had counted the run's devices)."""
    import medtrain
    from medtrain import api

    class Read(Exception):
        pass

    def read(cfg, processes=None):
        raise Read(processes)

    monkeypatch.setattr(api, "check_devices", lambda *a, **k: None)  # (two processes cannot start under pytest)
    monkeypatch.setattr(api, "load_splits", read)
    with pytest.raises(Read) as got:
        medtrain.train({"data": str(_npz(tmp_path / "rgb.npz")), "devices": 2, "accelerator": "cpu",
                        "out": str(tmp_path / "run"), "epochs": 1})
    assert got.value.args == (2,)


def test_the_launchers_local_world_size_counts_where_set(tmp_path, cache, monkeypatch):
    npz = _npz(tmp_path / "rgb.npz")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # torchrun: 2 processes here (devices 1 x num_nodes 2 on one node)
    _load(npz, devices=1, num_nodes=2)
    assert len(_stores(cache)) == 1


@pytest.mark.parametrize("devices, accelerator, expected", [
    (1, "cpu", 1), (2, "cpu", 2), ("3", "cpu", 3), ([0, 1], "gpu", 2), ("0,1,2", "gpu", 3), ("auto", "cpu", 1)])
def test_the_processes_of_a_runs_devices(monkeypatch, devices, accelerator, expected):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert store.local_processes(devices, accelerator) == expected
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # a launcher's count, where it sets one, is the count
    assert store.local_processes(devices, accelerator) == 4


def test_use_mmap_divides_memory_by_the_processes_passed(monkeypatch):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setattr(store, "available_memory", lambda: 4000)  # a quarter: 1000 bytes
    assert not store.use_mmap("auto", 600, 1) and store.use_mmap("auto", 600, 2)
    assert not store.use_mmap("auto", 600)  # none passed: the environment's count, here one
