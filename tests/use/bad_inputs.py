"""Inputs a model cannot take, shared by the predict and explain bad-input tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def bad_item(case: str, grey: np.ndarray, folder: Path) -> Path:
    """A file in ``folder`` the one-channel 16x16 test run must refuse: ``rgb`` (3 channels), ``volume`` (a 3D
    .npz) or ``corrupt`` (a PNG header and nothing else); ``grey`` is one of the run's own images."""
    if case == "rgb":
        item = folder / "colour.png"
        Image.fromarray(np.stack([grey] * 3, -1) + np.uint8([0, 40, 80])).save(item)
    elif case == "volume":
        item = folder / "vol.npz"
        np.savez(item, **{f"{s}_{k}": (np.zeros((2, 16, 16, 16), np.uint8) if k == "images" else np.array([[0], [1]]))
                          for s in ("train", "val", "test") for k in ("images", "labels")})
    elif case == "corrupt":
        item = folder / "broken.png"
        item.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    else:
        raise ValueError(case)
    return item
