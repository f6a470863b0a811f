"""Voxel geometry of scans: parsing a target spacing, resampling to it, fitting to a fixed size.

A volume ``(D, H, W)`` of voxel size ``spacing`` mm is resampled (trilinear) to ``target_spacing`` mm and
then centre-cropped or padded to exactly ``size``; with no target spacing it is resized to ``size``
directly (each volume then keeps its own voxel size). Used by :mod:`medtrain.data.volumes`.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from medtrain.errors import MedtrainError

#: Most voxels a volume may have after resampling to a target spacing (512 MiB in float32): a
#: millimetre-scale spacing applied to a scan whose header claims metre-sized voxels would otherwise
#: try to allocate terabytes.
MAX_RESAMPLED_VOXELS = 1 << 27


def triple(v, what: str) -> tuple:
    """A positive number or three of them -> a tuple of three positive floats.

    Raises:
        MedtrainError: naming ``what``, for anything else (strings, NaN, zero, negatives, two values).
    """
    t = tuple(v) if isinstance(v, (tuple, list)) else (v, v, v)
    try:
        vals = tuple(float(x) for x in t)
    except (TypeError, ValueError):
        raise MedtrainError(f"{what} must be a positive number or three of them, got {v!r}") from None
    if len(vals) != 3 or not all(math.isfinite(x) and x > 0 for x in vals):
        raise MedtrainError(f"{what} must be a positive number or three of them, got {v!r}")
    return vals


def parse_size(v) -> tuple:
    """A positive whole number or three of them (voxels, D,H,W) -> a tuple of three ints.

    Raises:
        MedtrainError: for anything else.
    """
    vals = triple(v, "size")
    if not all(x == int(x) for x in vals):
        raise MedtrainError(f"size must be a positive whole number of voxels or three of them, got {v!r}")
    return tuple(int(x) for x in vals)


def parse_spacing(text) -> Optional[tuple]:
    """``None``, ``"1.5"``, ``"2,1,1"`` (mm, D,H,W), a number or three of them -> three floats or None.

    Raises:
        MedtrainError: for anything that is not one or three positive, finite numbers.
    """
    if text is None:
        return None
    if isinstance(text, str):
        parts = [p.strip() for p in text.split(",")]
        if len(parts) not in (1, 3):
            raise MedtrainError(f"spacing must be one number or three (D,H,W) in mm, like 1.5 or 2,1,1; "
                                f"got {text!r}")
        text = parts if len(parts) == 3 else parts[0]
    return triple(text, "spacing")


def resample(array: np.ndarray, spacing: Sequence[float], target_spacing: Optional[Sequence[float]],
             size: Sequence[int]) -> np.ndarray:
    """Resample ``(D, H, W)`` voxels of ``spacing`` mm to ``target_spacing`` and fit them to ``size``.

    Trilinear interpolation; the result is centre-cropped or padded with the volume's minimum to exactly
    ``size``. ``target_spacing=None`` resizes the whole volume to ``size`` instead.

    Raises:
        MedtrainError: if the resampled volume would exceed :data:`MAX_RESAMPLED_VOXELS`.
    """
    size = tuple(int(s) for s in size)
    t = torch.from_numpy(np.array(array, dtype=np.float32, order="C"))[None, None]  # a copy: size-1 views keep negative strides
    if target_spacing is None:
        shape = size
    else:
        exact = [n * s / ts for n, s, ts in zip(array.shape, spacing, target_spacing)]
        if not all(math.isfinite(v) for v in exact) or math.prod(max(1.0, v) for v in exact) > MAX_RESAMPLED_VOXELS:
            raise MedtrainError(f"resampling voxels of {tuple(round(float(s), 4) for s in spacing)} mm to "
                                f"{tuple(target_spacing)} mm would give {' x '.join(f'{v:.0f}' for v in exact)} "
                                f"voxels, more than {MAX_RESAMPLED_VOXELS}; choose a coarser spacing")
        shape = tuple(max(1, int(round(v))) for v in exact)
    if shape != tuple(array.shape):
        t = F.interpolate(t, size=shape, mode="trilinear", align_corners=False)
    out = t[0, 0].numpy()
    if out.shape != size:
        fill = float(out.min())
        res = np.full(size, fill, np.float32)
        src, dst = [], []
        for n, m in zip(out.shape, size):
            if n >= m:  # crop the centre
                a = (n - m) // 2
                src.append(slice(a, a + m))
                dst.append(slice(0, m))
            else:  # pad around
                a = (m - n) // 2
                src.append(slice(0, n))
                dst.append(slice(a, a + n))
        res[tuple(dst)] = out[tuple(src)]
        out = res
    return out


def resize2d(img: np.ndarray, size: tuple) -> np.ndarray:
    """Resize a 2D image ``(H, W)`` to ``size`` (bilinear, antialiased)."""
    t = torch.from_numpy(np.array(img, dtype=np.float32, order="C"))[None, None]
    if tuple(img.shape) != tuple(size):
        t = F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
    return t[0, 0].numpy()
