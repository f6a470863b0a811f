"""Tiny learnable multi-label data and runs with ``--operating-point``, shared by the multi-label operating-point
tests (tests/evaluation, tests/use, tests/reports): 3 labels, each a bright square at its own place in a 16x16
grey image, of prevalence 50%, 35% and 20%."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from conftest import fast_config

RATES = (0.5, 0.35, 0.2)
SIZES = {"train": 96, "val": 40, "test": 40}


def make_split(n: int, seed: int, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images and their ``(n, 3)`` 0/1 labels; every label positive and negative at least twice."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, len(RATES))) < RATES).astype(np.uint8)
    y[:2], y[2:4] = 1, 0
    x = rng.integers(0, 90, (n, size, size)).astype(np.uint8)
    for i, j in zip(*np.nonzero(y)):
        r, c = (j // 2) * (size // 2) + 1, (j % 2) * (size // 2) + 1
        x[i, r:r + 6, c:c + 6] = 230
    return x, y


def arrays(seed: int = 0) -> dict:
    out = {}
    for k, (split, n) in enumerate(SIZES.items()):
        out[f"{split}_images"], out[f"{split}_labels"] = make_split(n, seed + k)
    return out


def write_npz(path: Path, data: dict) -> Path:
    np.savez(path, **data)
    return path


def train_run(root: Path, data: dict, rule: str = "youden", name: str = "run", **over) -> Path:
    """A 2-epoch resnet10_28_half run of ``data`` (an :func:`arrays` dict) with ``--operating-point rule``."""
    import medtrain

    npz = write_npz(root / f"{name}.npz", data)
    cfg = fast_config(npz, root / name, epochs=2, bootstrap=0, tta="none", operating_point=rule, lr=3e-3)
    cfg.update(over)
    medtrain.train(cfg, verbose=False)
    return root / name
