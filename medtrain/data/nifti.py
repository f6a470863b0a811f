"""Reading NIfTI volumes (``.nii``, ``.nii.gz``) with nibabel, reoriented to RAS.

A NIfTI file stores voxels plus an affine from voxel indices to scanner millimetres. Every reader in
medtrain returns the voxels reordered (by axis permutation and flips only, no interpolation) so that the
array axes point Right, Anterior, Superior (nibabel's ``as_closest_canonical``): two scans of the same
anatomy then agree on which array axis is which, whatever order the scanner wrote.

Intensities are returned as float32 with the header's ``scl_slope``/``scl_inter`` applied (CT stored as
NIfTI is then in Hounsfield units), non-finite voxels set to the volume's lowest finite value; normalisation to
uint8 happens in :mod:`medtrain.data.intensity`.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from medtrain._io import path_kind
from medtrain.errors import MedtrainError

NIFTI_SUFFIXES = (".nii", ".nii.gz")
#: fewest voxels a volume has along each axis: one slice saved as ``(X, Y, 1)`` is a 2D image, which a 3D run had
#: stretched to ``--volume-size`` slices and predicted without a word (as a DICOM series needs 2 slices)
MIN_SIDE = 2
#: what to do with a single 2D slice given where a 3D volume is needed
_WHOLE_SCAN = ("save the whole scan, its slices stacked, as one 3D file (a 2D slice belongs in a 2D data set, as "
               "a PNG or DICOM image)")


#: a CT scan holds air (-1000 HU) around the body or in the lungs; a windowed volume of unknown modality (NIfTI)
#: whose minimum lies above this is said to have no air (:func:`check_hounsfield`): MR or PET values, or a CT crop
AIR_HU = -500.0
#: a windowed volume of which this share of the finite voxels clips to one end of the window (all black or all
#: white) is refused as not Hounsfield units (:func:`check_hounsfield`)
SATURATED = 0.99


class NoAirWarning(UserWarning):
    """NIfTI volumes windowed as CT though none of their values lies below :data:`AIR_HU` (no air): MR or PET values
    (a walkthrough's MR-like volume had been windowed to a background of 92/255 without a word), or a CT crop inside an
    organ. Said in one line per data set loaded (:func:`no_air_note`), and per command by predict, explain and
    ``eval --data`` (:mod:`medtrain.data._volume_notes`)."""


def _no_air_one(name, values_range) -> str:
    lo, hi = values_range
    return f"{name}: values {lo:.6g}..{hi:.6g}"


def _drop_window(by_run: bool) -> str:
    """What to do of MR/PET volumes under a CT window: the data set's own ``--window`` (training) is dropped; a run's
    inputs (predict, explain, ``eval --data``) take the window the run was trained with, and those commands have no
    --window (they had been told to drop it)."""
    return ("the run was trained with that --window; MR/PET volumes need a run trained without one" if by_run else
            "drop --window for MR/PET volumes")


def no_air_note(count: int, total: int, window: tuple, first, by_run: bool = True) -> str:
    """The one line said of ``count`` of ``total`` volumes windowed by ``window`` (level, width) with no value below
    :data:`AIR_HU` (``first``: the first one's name and value range); ``by_run``: the window is the one a run was
    trained with (its inputs' line), else the data set's own ``--window`` (the loader's, training)."""
    level, width = window
    what = (f"{_no_air_one(*first)}, windowed" if total == 1 else
            f"{count} of {total} NIfTI volume(s) were windowed")  # (one predict input: said alone)
    return (f"{what} as CT in Hounsfield units (level {level:g}, width {width:g}) though none has a value below "
            f"{AIR_HU:g}, where CT has air at -1000{'' if total == 1 else f' (first: {_no_air_one(*first)})'}: MR or "
            f"PET values would be windowed into intensities no CT has; {_drop_window(by_run)} (a CT crop "
            f"inside an organ, which has no air, is windowed rightly)")


def say_no_air(name, values_range, window, facts: dict | None = None) -> None:
    """A volume windowed though it has no air (``values_range``: its (min, max); None: it has air, or was not
    windowed): kept in ``facts["no_air"]`` for the folder loader, which says them all in one line
    (:func:`no_air_note`), or else said of it alone in a :class:`NoAirWarning` (predict, explain and ``eval --data``
    collect them instead, :mod:`medtrain.data._volume_notes`)."""
    if not values_range or window is None:
        return
    if facts is not None:
        facts["no_air"] = list(values_range)
    else:
        warnings.warn(NoAirWarning(no_air_note(1, 1, window, (name, values_range), False)), stacklevel=3)


def check_hounsfield(path, values: np.ndarray, window: tuple, by_run: bool = False) -> tuple | None:
    """Refuse to window a volume whose modality is not recorded (NIfTI) when its values do not look like
    Hounsfield units for that window: :data:`SATURATED` of its voxels clipped to one end of it. An MR NIfTI under
    ``--window brain`` had trained on volumes of 255 alone (AUC 0.5). A volume without air (minimum above
    :data:`AIR_HU`) is not refused for that alone: a CT crop inside an organ (a liver or kidney patch) has none,
    and its window shows it (refused for it, such crops had no way on); it is returned, to be said
    (:class:`NoAirWarning`), and the absence of air is said beside the clipping, as the likelier sign of MR or PET.
    ``by_run``: as :func:`no_air_note`'s.

    Returns:
        the volume's (min, max) where it has no air, else None.

    Raises:
        MedtrainError: naming the file, its value range and why.
    """
    ok = np.isfinite(values)
    finite = values if ok.all() else values[ok]
    if finite.size == 0:  # nothing to judge (the reader refuses a volume without finite values)
        return None
    lo, hi = float(finite.min()), float(finite.max())
    level, width = window
    below = float(np.mean(finite <= level - width / 2))
    above = float(np.mean(finite >= level + width / 2))
    if max(below, above) < SATURATED:
        return (lo, hi) if lo > AIR_HU else None
    why = (f"{100 * max(below, above):.1f}% of the voxels clip to the {'lower' if below >= above else 'upper'} "
           f"end of the window")
    if lo > AIR_HU:
        why += f", and none lies below {AIR_HU:g}, where CT has air at -1000"
    raise MedtrainError(f"{path}: values range {lo:.6g}..{hi:.6g} do not look like CT Hounsfield units ({why}) for "
                        f"the window level {level:g}, width {width:g}; NIfTI records no modality: "
                        f"{_drop_window(by_run)}")


class VolumeData(NamedTuple):
    """A decoded volume: voxels ``(X, Y, Z)`` in RAS order, their size in mm, and what they hold."""

    array: np.ndarray  #: float32 (X, Y, Z), X towards Right, Y Anterior, Z Superior
    spacing: tuple  #: voxel size in mm along X, Y, Z
    kind: str  #: "ct" (Hounsfield units), "mr" or "unknown" (NIfTI: modality is not recorded)


def is_nifti(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def to_ras(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Reorder ``array`` (voxel axes i, j, k with ``affine`` to RAS+ mm) to the closest RAS orientation.

    Returns the reoriented float32 array and the voxel sizes along its axes.

    Raises:
        MedtrainError: (without a file name; callers add it) if the affine has no clear orientation.
    """
    import nibabel as nib

    try:
        img = nib.as_closest_canonical(nib.Nifti1Image(np.asarray(array, dtype=np.float32), affine))
    except (nib.orientations.OrientationError, nib.spatialimages.HeaderDataError, ValueError,
            np.linalg.LinAlgError) as e:
        raise MedtrainError(f"the voxel axes have no clear RAS orientation ({type(e).__name__}: degenerate "
                            f"affine)") from None
    zooms = np.sqrt((img.affine[:3, :3] ** 2).sum(0))
    return np.asarray(img.dataobj, dtype=np.float32), tuple(float(z) for z in zooms)


def ras_grid(affine: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, tuple]:
    """The geometry of the array :func:`to_ras` makes of one of ``shape`` voxels under ``affine``: the affine from
    its index to the same millimetres (``affine`` composed with the reordering, as ``nibabel.as_closest_canonical``
    composes it) and its shape.

    Raises:
        MedtrainError: as :func:`to_ras`, if the affine has no clear orientation.
    """
    from nibabel.orientations import OrientationError, inv_ornt_aff, io_orientation

    try:
        ornt = io_orientation(affine)  # row i: the RAS axis of voxel axis i, and whether it is flipped
        ras = np.asarray(affine, dtype=np.float64) @ inv_ornt_aff(ornt, tuple(shape))
    except (OrientationError, ValueError, np.linalg.LinAlgError) as e:
        raise MedtrainError(f"the voxel axes have no clear RAS orientation ({type(e).__name__}: degenerate "
                            f"affine)") from None
    out = [0] * len(shape)
    for (axis, _), n in zip(ornt, shape):
        out[int(axis)] = int(n)
    return ras, tuple(out)


#: millimetres per unit of a NIfTI header's spatial unit (``xyzt_units``); "unknown" is read as millimetres
_MM_PER_UNIT = {"micron": 1e-3, "mm": 1.0, "meter": 1e3, "unknown": 1.0}


def _affine_mm(img) -> np.ndarray | None:
    """``img``'s affine in millimetres: its header's spatial unit honoured (a correct header in micrometres or metres
    had been read as millimetres and refused under ``--spacing`` as giving "another unit than mm", the guess the
    wrong way round: a walk); ITK-based viewers honour it too."""
    affine = img.affine
    try:
        unit = img.header.get_xyzt_units()[0]
    except Exception:  # noqa: BLE001  (a header of another format: its affine as it is)
        return affine
    scale = _MM_PER_UNIT.get(unit, 1.0)
    if affine is None or scale == 1.0:
        return affine
    affine = np.array(affine, dtype=np.float64)
    affine[:3, :] *= scale
    return affine


def read_nifti_grid(path: str | os.PathLike) -> tuple[np.ndarray, tuple]:
    """The geometry of the RAS array :func:`read_nifti` returns, from the file's header alone (:func:`ras_grid`):
    the affine from its index ``(X, Y, Z)`` to the file's millimetres, and its shape.

    Raises:
        MedtrainError: naming the file, where :func:`read_nifti` would refuse its header.
    """
    import nibabel as nib

    try:
        img = nib.load(str(path))
        shape = tuple(int(s) for s in img.shape)
    except Exception as e:  # noqa: BLE001  (nibabel raises many types for bad headers)
        raise MedtrainError(f"{path}: not a readable NIfTI file ({type(e).__name__})") from None
    while len(shape) > 3 and shape[-1] == 1:  # as read_nifti drops them
        shape = shape[:-1]
    affine = _affine_mm(img)
    if len(shape) != 3 or affine is None or not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise MedtrainError(f"{path}: not a 3D NIfTI volume with an affine")
    try:
        return ras_grid(affine, shape)
    except MedtrainError as e:
        raise MedtrainError(f"{path}: NIfTI affine: {e}") from None


def check_volume_shape(name, shape: tuple, what: str = "NIfTI image") -> None:
    """Refuse, in one line naming ``name`` and its ``shape``, a volume with fewer than :data:`MIN_SIDE` voxels along
    an axis: a single slice, not a 3D volume.

    Raises:
        MedtrainError: naming ``name``, its shape and the thin axis.
    """
    thin = [i for i, n in enumerate(shape) if n < MIN_SIDE]
    if thin:
        n = shape[thin[0]]
        raise MedtrainError(f"{name}: {what} of shape {tuple(shape)} has {n} voxel{'s' if n != 1 else ''} along axis "
                            f"{thin[0]}: a 2D slice, not a 3D volume; {_WHOLE_SCAN}")


def read_nifti(path: str | os.PathLike) -> VolumeData:
    """Read a 3D NIfTI file, reoriented to RAS.

    A 4th (or higher) dimension of size 1 is dropped; a real 4th dimension (time series, diffusion
    directions, multi-echo) is refused, because which volume to classify is not a choice to guess.

    Raises:
        MedtrainError: naming the file, if it is missing, unreadable, not 3D (a single slice ``(X, Y, 1)``
            included: :func:`check_volume_shape`), or holds no finite voxels.
    """
    import nibabel as nib

    path = Path(path)
    if path_kind(path) != "file":
        raise MedtrainError(f"{path}: file not found")
    try:
        img = nib.load(str(path))
        shape = tuple(int(s) for s in img.shape)
    except Exception as e:  # noqa: BLE001  (nibabel raises many types for bad headers)
        raise MedtrainError(f"{path}: not a readable NIfTI file ({type(e).__name__})") from None
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) != 3:
        hint = (_WHOLE_SCAN if len(shape) == 2 else "split a 4D series into one file per volume" if len(shape) > 3
                else "a 3D volume's file holds X, Y and Z")
        raise MedtrainError(f"{path}: NIfTI image has {len(shape)} dimension{'s' if len(shape) != 1 else ''} "
                            f"{shape}; a 3D volume is needed: {hint}")
    if min(shape) < 1:
        raise MedtrainError(f"{path}: NIfTI image is empty {shape}")
    check_volume_shape(path, shape)
    try:
        data = np.asarray(img.get_fdata(dtype=np.float32)).reshape(shape)
    except Exception as e:  # noqa: BLE001  (truncated gzip / data block)
        raise MedtrainError(f"{path}: NIfTI voxel data cannot be read, the file may be truncated "
                            f"({type(e).__name__})") from None
    if not np.isfinite(data).any():
        raise MedtrainError(f"{path}: NIfTI volume holds no finite values")
    finite = np.isfinite(data)
    if not finite.all():  # NaN, +-inf ("no data", outside the field of view): the darkest value, as a 2D image's
        data = np.where(finite, data, data[finite].min())  # NaN is black; 0 had been soft tissue in HU, mid-grey
    affine = _affine_mm(img)
    if affine is None or not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise MedtrainError(f"{path}: NIfTI affine is missing or singular")
    try:
        array, spacing = to_ras(data, affine)
    except MedtrainError as e:
        raise MedtrainError(f"{path}: NIfTI affine: {e}") from None
    return VolumeData(array, spacing, "unknown")
