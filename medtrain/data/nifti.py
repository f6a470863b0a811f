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
from pathlib import Path
from typing import NamedTuple

import numpy as np

from medtrain._io import path_kind
from medtrain.errors import MedtrainError

NIFTI_SUFFIXES = (".nii", ".nii.gz")


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


def read_nifti(path: str | os.PathLike) -> VolumeData:
    """Read a 3D NIfTI file, reoriented to RAS.

    A 4th (or higher) dimension of size 1 is dropped; a real 4th dimension (time series, diffusion
    directions, multi-echo) is refused, because which volume to classify is not a choice to guess.

    Raises:
        MedtrainError: naming the file, if it is missing, unreadable, not 3D, or holds no finite voxels.
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
        raise MedtrainError(f"{path}: NIfTI image has {len(shape)} dimensions {shape}; a 3D volume is needed "
                            f"(split 4D series into one file per volume)")
    if min(shape) < 1:
        raise MedtrainError(f"{path}: NIfTI image is empty {shape}")
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
    affine = img.affine
    if affine is None or not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise MedtrainError(f"{path}: NIfTI affine is missing or singular")
    try:
        array, spacing = to_ras(data, affine)
    except MedtrainError as e:
        raise MedtrainError(f"{path}: NIfTI affine: {e}") from None
    return VolumeData(array, spacing, "unknown")
