"""Intensity of scans, mapped to [0, 1]: CT windows in Hounsfield units, or robust percentiles.

CT (DICOM CT, and NIfTI, assumed to hold Hounsfield units) goes through the HU window ``(level, width)``
when one is given; otherwise, and for MR, values are mapped between the scan's own 1st and 99th
percentiles (Nyul & Udupa, MRM 1999, use the same robust landmarks), since MR intensities have no
physical unit. Used by :mod:`medtrain.data.dicom` (2D images) and :mod:`medtrain.data.volumes`.
"""
from __future__ import annotations

import math
import warnings
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


#: a CT scan holds air (-1000 HU, noisy) around the body or in the lungs: the values a volume of unknown modality
#: (NIfTI) must hold, on at least :data:`AIR_SHARE` of its voxels, to look like Hounsfield units ...
AIR_HU_RANGE = (-1100.0, -900.0)
AIR_SHARE = 0.005
#: ... beside values reaching this far into the positive (soft tissue 20-80 HU; contrast, calcium and bone above)
DENSE_HU = 100.0


def looks_like_hounsfield(values: np.ndarray) -> bool:
    """Whether a volume's values (as read, before any normalisation) look like CT in Hounsfield units: at least
    :data:`AIR_SHARE` of its finite voxels lie in :data:`AIR_HU_RANGE` (air) and some reach :data:`DENSE_HU`. MR and
    PET values (no unit, nothing near -1000), a rescaled copy of a CT, and 8-bit volumes (0..255) do not."""
    x = np.asarray(values)
    if x.dtype.kind not in "fi" or x.size == 0:  # unsigned (uint8 0..255): never -1000
        return False
    finite = x[np.isfinite(x)] if x.dtype.kind == "f" else x.ravel()
    if finite.size == 0:
        return False
    air = np.count_nonzero((finite >= AIR_HU_RANGE[0]) & (finite <= AIR_HU_RANGE[1]))
    return bool(air >= AIR_SHARE * finite.size and float(finite.max()) >= DENSE_HU)


class HounsfieldPercentileWarning(UserWarning):
    """A data set whose volumes look like CT in Hounsfield units, read without ``--window``: each is stretched between
    its own 1st and 99th percentiles (:func:`normalise_percentile`), so a small finding denser than 99% of its
    voxels is clipped to the tissue's level. Said in one line per data set read (:func:`hounsfield_note`)."""


def hounsfield_note(found: int, total: int, what: str = "volume") -> str:
    """The one line said of a data set of which ``found`` of ``total`` ``what``s look like CT in Hounsfield units
    (:func:`looks_like_hounsfield`, or DICOM Modality CT) and no CT window was given. A walkthrough's 400 HU lesions
    (<1% of the voxels) were mapped 10 grey levels above the tissue: test AUC 0.625, 1.000 with ``--window``."""
    return (f"{found} of {total} {what}(s) look like CT in Hounsfield units (air at -1000), but no --window was given: "
            f"each is mapped between its own 1st and 99th percentile, so a small dense finding (a lesion, "
            f"calcification or contrast brighter than 99% of the voxels) is clipped to the tissue's level and can lose "
            f"its contrast; give a CT window in HU as level,width, e.g. --window 0,2000 (-1000..1000 HU) or the "
            f"soft-tissue --window abdomen (40,400: -160..240 HU)")


def say_hounsfield(source, record: dict, what: str = "volume") -> None:
    """Say :func:`hounsfield_note` of the data set ``source`` in one line (a :class:`HounsfieldPercentileWarning`)
    where its :func:`intensity_record` shows most of its entries looking like CT in HU and no window given; as the
    loader's other lines, each time the data set is loaded (a finished run's own data read again is not:
    :mod:`medtrain.data._quiet`)."""
    found, total = record.get("looks_like_hu", 0), record.get("entries", 0)
    if not record.get("window") and 2 * found > total:
        warnings.warn(HounsfieldPercentileWarning(f"{source}: " + hounsfield_note(found, total, what)), stacklevel=3)


def intensity_record(found: int, total: int, window: Optional[tuple], windowed: int) -> dict:
    """What a run records of its data's intensities (``metrics.json`` ``data.intensity``): how many of the ``total``
    entries looked like CT in Hounsfield units (``looks_like_hu``), and the rule each was mapped by: the CT ``window``
    (level, width; ``windowed`` entries) or each entry's own ``percentiles`` (the rest)."""
    return {"looks_like_hu": found, "entries": total, "window": list(window) if window else None,
            "windowed": windowed, "percentiles": list(PERCENTILES), "by_percentiles": total - windowed}


def to_uint8(x: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 0..255, rounded."""
    return np.round(np.asarray(x, np.float32) * 255).astype(np.uint8)
