"""Shared fixtures: tiny synthetic datasets made in the test, and the real MedMNIST files if present."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def make_images(n: int, size: int = 16, channels: int = 1, seed: int = 0):
    """Learnable two-class images: class 1 carries a bright square, class 0 does not."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    shape = (n, size, size) if channels == 1 else (n, size, size, channels)
    images = rng.integers(0, 90, shape).astype(np.uint8)
    for i in np.flatnonzero(labels):
        r, c = rng.integers(0, size - 6, 2)
        images[i, r:r + 6, c:c + 6] = 230
    return images, labels.reshape(-1, 1).astype(np.uint8)


@pytest.fixture
def tiny_npz(tmp_path) -> Path:
    """A 2-class grey dataset in MedMNIST layout: 96 / 32 / 32 images of 16x16."""
    arrays = {}
    for split, n, seed in (("train", 96, 0), ("val", 32, 1), ("test", 32, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, seed=seed)
    path = tmp_path / "tiny.npz"
    np.savez(path, **arrays)
    return path


@pytest.fixture
def real_data() -> Path:
    if not (SHARED_DATA / "pneumoniamnist.npz").is_file():
        pytest.skip(f"REAL DATA ABSENT: {SHARED_DATA}/pneumoniamnist.npz not found; real-data tests skipped")
    return SHARED_DATA


def fast_config(data: Path, out: Path, **over) -> dict:
    cfg = dict(data=str(data), model="resnet10_28_half", epochs=2, batch_size=32, progress=False, bootstrap=50,
               out=str(out), schedule="none", accelerator="cpu")
    cfg.update(over)
    return cfg


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A finished 1-epoch resnet18_28_half run on 16x16 grey two-class images (default TTA, hflip), with its .npz and
    arrays; shared by the predict and export tests (training is their slow part)."""
    import medtrain

    root = tmp_path_factory.mktemp("use")
    arrays = {}
    for split, n, seed in (("train", 64, 0), ("val", 16, 1), ("test", 40, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, seed=seed)
    data = root / "tiny.npz"
    np.savez(data, **arrays)
    run = root / "run"
    # the default 2D network, so exporting this run is also the default network's dynamo export test
    medtrain.train(fast_config(data, run, model="resnet18_28_half", epochs=1, bootstrap=0), verbose=False)
    return run, data, arrays
