"""Intensity of scans, mapped to [0, 1]: CT windows in Hounsfield units, or robust percentiles.

CT (DICOM CT, and NIfTI, assumed to hold Hounsfield units) goes through the HU window ``(level, width)``
when one is given; otherwise, and for MR, values are mapped between the scan's own 1st and 99th
percentiles (Nyul & Udupa, MRM 1999, use the same robust landmarks), since MR intensities have no
physical unit. Used by :mod:`medtrain.data.dicom` (2D images) and :mod:`medtrain.data.volumes`.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from medtrain.errors import MedtrainError, suggest

#: CT windows ``(level, width)`` in Hounsfield units, as commonly used in radiology reading.
WINDOW_PRESETS = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "abdomen": (40.0, 400.0),
}


def parse_window(window) -> Optional[tuple]:
    """``None``, a preset name, ``"level,width"`` or ``(level, width)`` -> ``(level, width)`` or None.

    Raises:
        MedtrainError: for an unknown preset, anything but two finite numbers, or a width that is not
            positive.
    """
    if window is None or (isinstance(window, str) and window.strip().lower() in ("", "none", "percentile")):
        return None
    if isinstance(window, str):
        if window.strip().lower() in WINDOW_PRESETS:
            return WINDOW_PRESETS[window.strip().lower()]
        parts = window.split(",")
        if len(parts) != 2:
            raise suggest(window, WINDOW_PRESETS, "CT window (or give level,width)")
        window = parts
    try:
        level, width = (float(v) for v in window)
    except (TypeError, ValueError):
        raise MedtrainError(f"CT window must be a preset or level,width in HU, got {window!r}") from None
    if not (math.isfinite(level) and math.isfinite(width)):
        raise MedtrainError(f"CT window level and width must be finite numbers, got {level}, {width}")
    if not width > 0:
        raise MedtrainError(f"CT window width must be positive, got {width}")
    return level, width


def apply_window(hu: np.ndarray, level: float, width: float) -> np.ndarray:
    """Hounsfield units -> [0, 1]: ``level - width/2`` maps to 0, ``level + width/2`` to 1, clipped."""
    lo = level - width / 2
    return np.clip((np.asarray(hu, np.float32) - lo) / width, 0, 1).astype(np.float32)


PERCENTILES = (1.0, 99.0)  #: the window of :func:`normalise_percentile`: an image's own 1st..99th percentile


def normalise_percentile(x: np.ndarray, lower: float = PERCENTILES[0], upper: float = PERCENTILES[1]) -> np.ndarray:
    """Map the ``lower``..``upper`` percentile range of ``x`` to [0, 1], clipped (constant input -> 0).

    The window is taken over the finite values only, and non-finite ones (NaN, +-inf: a float image's
    "no data") map to 0: one NaN had made every percentile NaN and the whole image black."""
    x = np.asarray(x, np.float32)
    finite = np.isfinite(x)
    if not finite.any():
        return np.zeros_like(x)
    values = x if finite.all() else x[finite]
    lo, hi = np.percentile(values, [lower, upper])
    if not hi > lo:
        lo, hi = float(values.min()), float(values.max())
    if not hi > lo:
        return np.zeros_like(x)
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.clip((x - lo) / (hi - lo), 0, 1)
    return np.where(finite, out, 0).astype(np.float32)


def normalise_intensity(x: np.ndarray, window: Optional[tuple]) -> np.ndarray:
    """Window (``(level, width)`` in HU) or, with None, 1-99 percentile normalisation, to [0, 1]."""
    return apply_window(x, *window) if window is not None else normalise_percentile(x)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 0..255, rounded."""
    return np.round(np.asarray(x, np.float32) * 255).astype(np.uint8)
