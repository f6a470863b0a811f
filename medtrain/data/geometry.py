"""Voxel geometry of scans: parsing a target spacing, resampling to it, fitting to a fixed size.

A volume ``(D, H, W)`` of voxel size ``spacing`` mm is resampled (trilinear) to ``target_spacing`` mm and
then centre-cropped or padded to exactly ``size`` (not resized: a field of view larger than ``size`` voxels of
``target_spacing`` loses its periphery, said by :func:`cut_one` / :func:`cut_note`); with no target spacing it is
resized to ``size`` directly (each volume then keeps its own voxel size). Used by :mod:`medtrain.data.volumes`.
"""
from __future__ import annotations

import math
import warnings
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from medtrain.errors import MedtrainError

#: Most voxels a volume may have after resampling to a target spacing (512 MiB in float32): a
#: millimetre-scale spacing applied to a scan whose header claims metre-sized voxels would otherwise
#: try to allocate terabytes.
MAX_RESAMPLED_VOXELS = 1 << 27
#: Fewest voxels of the target spacing a volume must span along each axis (:data:`medtrain.data.nifti.MIN_SIDE`):
#: a header in micrometres had collapsed a scan to one voxel, padded to ``size`` and predicted without a word.
MIN_RESAMPLED_SIDE = 2
#: A crop to ``size`` that cuts away more than this share of a volume's extent along an axis is said
#: (:class:`CutVolumeWarning`).
CUT_SAID = 0.10


class CutVolumeWarning(UserWarning):
    """Volumes whose field of view ``--volume-size`` voxels at ``--spacing`` cut by more than :data:`CUT_SAID` along
    an axis: said in one line per data set loaded (:func:`cut_note`), and per command by predict, explain and
    ``eval --data`` (:mod:`medtrain.data._volume_notes`; one input alone: :func:`cut_alone`)."""


def _mm(values) -> str:
    return " x ".join(f"{float(v):.4g}" for v in values)


def _setting(values) -> str:
    """``(32, 32, 32)`` -> ``32``, ``(16, 32, 32)`` -> ``16,32,32``: a setting as its option is written."""
    vals = [f"{float(v):g}" for v in values]
    return vals[0] if len(set(vals)) == 1 else ",".join(vals)


def cut_share(extent: Sequence[float], target_spacing: Optional[Sequence[float]], size: Sequence[int]) -> float:
    """The largest share of a volume's ``extent`` (mm along D, H, W) that :func:`resample` cuts away along one axis
    when it crops to ``size`` voxels of ``target_spacing`` mm: 0 when none is cut, and with no target spacing (the
    whole volume is resized)."""
    if target_spacing is None:
        return 0.0
    return max([0.0] + [1 - n * ts / e for e, n, ts in zip(extent, size, target_spacing) if e > 0])


def cut_one(name, extent: Sequence[float], target_spacing: Sequence[float], size: Sequence[int]) -> str:
    """One volume of ``extent`` mm cut to its centre by :func:`resample`, as :func:`cut_note` names it."""
    box = [min(e, n * ts) for e, n, ts in zip(extent, size, target_spacing)]  # (an axis it fills is padded)
    return (f"{name}: {_mm(extent)} mm cut to its central {_mm(box)} mm "
            f"({100 * cut_share(extent, target_spacing, size):.0f}% of its extent along an axis cut away)")


def cut_alone(name, extent: Sequence[float], target_spacing: Sequence[float], size: Sequence[int]) -> str:
    """One input cut by :func:`resample` (predict, explain, ``eval --data``), said on its own: :func:`cut_one` and
    the settings that cut it."""
    return (f"{cut_one(name, extent, target_spacing, size)} by the run's --volume-size {_setting(size)} at --spacing "
            f"{_setting(target_spacing)} mm: the network sees only what is kept")


def say_cut(name, extent, target_spacing, size, facts: dict | None = None) -> None:
    """A volume of ``extent`` mm (None: unknown) whose crop to ``size`` voxels of ``target_spacing`` mm cuts away more
    than :data:`CUT_SAID` along an axis: kept in ``facts["cut"]`` for the folder loader, which says them all in one
    line (:func:`cut_note`), or else said of it alone in a :class:`CutVolumeWarning` (predict, explain and
    ``eval --data`` collect them instead, :mod:`medtrain.data._volume_notes`)."""
    if not extent or target_spacing is None or cut_share(extent, target_spacing, size) <= CUT_SAID:
        return
    if facts is not None:
        facts["cut"] = list(extent)
    else:
        warnings.warn(CutVolumeWarning(cut_alone(name, extent, target_spacing, size)), stacklevel=3)


def cut_note(count: int, total: int, target_spacing: Sequence[float], size: Sequence[int], first: str,
             whose: str = "") -> str:
    """The one line said of ``count`` of ``total`` volumes cut by more than :data:`CUT_SAID` of their extent along an
    axis when ``size`` voxels of ``target_spacing`` mm are kept (``first``: the first, :func:`cut_one`; ``whose``:
    ``"the run's "`` where a finished run's settings cut them). A 96 mm scan had been cut to its central 48 mm, its
    finding with the rest, and predicted as an empty volume without a word."""
    box = [n * ts for n, ts in zip(size, target_spacing)]
    return (f"{count} of {total} volume(s) were cut to their central {_mm(box)} mm by {whose}--volume-size "
            f"{_setting(size)} "
            f"at --spacing {_setting(target_spacing)} mm, losing more than {100 * CUT_SAID:.0f}% of their extent along "
            f"an axis (first: {first}); the network sees only what is kept: a larger --volume-size or a coarser "
            f"--spacing keeps more")


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


def _resampled_shape(shape: Sequence[int], spacing: Sequence[float], target_spacing: Sequence[float]) -> tuple:
    """The shape :func:`resample` interpolates a volume of ``shape`` voxels of ``spacing`` mm to at ``target_spacing``.

    Raises:
        MedtrainError: as :func:`resample` says it.
    """
    exact = [n * s / ts for n, s, ts in zip(shape, spacing, target_spacing)]
    voxels = f"{tuple(float(f'{s:.4g}') for s in spacing)} mm"  # (a micrometre's 0.001 kept)
    fov = _mm(n * s for n, s in zip(shape, spacing))
    if not all(math.isfinite(v) for v in exact) or math.prod(max(1.0, v) for v in exact) > MAX_RESAMPLED_VOXELS:
        raise MedtrainError(f"resampling voxels of {voxels} to {tuple(target_spacing)} mm would give "
                            f"{' x '.join(f'{v:.0f}' for v in exact)} voxels, more than {MAX_RESAMPLED_VOXELS}: "
                            f"a {fov} mm field of view; if the header gives its voxel size in another unit than "
                            f"mm (micrometres?), fix the header, otherwise choose a coarser --spacing")
    if min(exact) < MIN_RESAMPLED_SIDE:
        raise MedtrainError(f"voxels of {voxels} (header) make a {fov} mm volume, less than {MIN_RESAMPLED_SIDE} "
                            f"voxels of --spacing {_setting(target_spacing)} mm along an axis: the header likely "
                            f"gives its voxel size in another unit than mm (metres?): fix the header; or --spacing is coarser "
                            f"than meant")
    return tuple(max(1, int(round(v))) for v in exact)


def _fit_start(n: int, m: int) -> int:
    """Where :func:`resample`'s centre crop (``n >= m``) or pad of ``n`` voxels to ``m`` starts: the index in the
    ``n`` voxels of the first of the ``m`` (negative: padded)."""
    return (n - m) // 2 if n >= m else -((m - n) // 2)


def resample(array: np.ndarray, spacing: Sequence[float], target_spacing: Optional[Sequence[float]],
             size: Sequence[int]) -> np.ndarray:
    """Resample ``(D, H, W)`` voxels of ``spacing`` mm to ``target_spacing`` and fit them to ``size``.

    Trilinear interpolation; the result is centre-cropped or padded with the volume's minimum to exactly
    ``size``. ``target_spacing=None`` resizes the whole volume to ``size`` instead. Where each voxel of the result
    comes from in ``array``: :func:`resample_grid`.

    Raises:
        MedtrainError: if the resampled volume would exceed :data:`MAX_RESAMPLED_VOXELS`, or span fewer than
            :data:`MIN_RESAMPLED_SIDE` voxels along an axis (a header's voxel size in another unit than mm).
    """
    size = tuple(int(s) for s in size)
    t = torch.from_numpy(np.array(array, dtype=np.float32, order="C"))[None, None]  # a copy: size-1 views keep negative strides
    shape = size if target_spacing is None else _resampled_shape(array.shape, spacing, target_spacing)
    if shape != tuple(array.shape):  # (resample_grid states where each voxel comes from: keep the two together)
        t = F.interpolate(t, size=shape, mode="trilinear", align_corners=False)
    out = t[0, 0].numpy()
    if out.shape != size:
        fill = float(out.min())
        res = np.full(size, fill, np.float32)
        src, dst = [], []
        for n, m in zip(out.shape, size):
            a = _fit_start(n, m)
            if n >= m:  # crop the centre
                src.append(slice(a, a + m))
                dst.append(slice(0, m))
            else:  # pad around
                src.append(slice(0, n))
                dst.append(slice(-a, -a + n))
        res[tuple(dst)] = out[tuple(src)]
        out = res
    return out


def resample_grid(shape: Sequence[int], spacing: Sequence[float], target_spacing: Optional[Sequence[float]],
                  size: Sequence[int]) -> np.ndarray:
    """The 4x4 affine from a voxel index ``(d, h, w, 1)`` of :func:`resample`'s result to the (fractional) index of
    the point it was interpolated at in its input of ``shape`` voxels of ``spacing`` mm: exact, as resample does it,
    one scale and shift per axis (never a rotation).

    Convention, that of ``F.interpolate(..., mode="trilinear", align_corners=False)`` given an output size ``r``
    (PyTorch then scales by ``n / r``, not by a rounded target spacing): voxel *centres*, output voxel ``o`` sampled at
    input index ``(o + 0.5) * n / r - 0.5``, so the first and last voxels' outer edges of the two grids coincide. (At
    the outer half voxel PyTorch clamps the sampled index to the input, a border value, not another geometry.) With
    ``target_spacing`` the ``r`` voxels are then centre-cropped or padded to ``size``: output ``q`` is resampled
    voxel ``q + start`` (:func:`_fit_start`; a padded voxel lies outside the input, where the affine still says
    where). Where ``r == n`` nothing is interpolated and the scale is 1.

    Raises:
        MedtrainError: as :func:`resample` would, for the same volume.
    """
    size = tuple(int(s) for s in size)
    resampled = size if target_spacing is None else _resampled_shape(shape, spacing, target_spacing)
    grid = np.eye(4)
    for axis, (n, r, m) in enumerate(zip(shape, resampled, size)):
        scale = n / r
        grid[axis, axis] = scale
        grid[axis, 3] = (_fit_start(r, m) + 0.5) * scale - 0.5
    return grid


def resize2d(img: np.ndarray, size: tuple) -> np.ndarray:
    """Resize a 2D image ``(H, W)`` to ``size`` (bilinear, antialiased)."""
    t = torch.from_numpy(np.array(img, dtype=np.float32, order="C"))[None, None]
    if tuple(img.shape) != tuple(size):
        t = F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
    return t[0, 0].numpy()
