"""Where a volume's voxels lie once :func:`medtrain.data.volumes.load_entry` has decoded it: the affine from an index
of its result to the millimetres of the scan it came from, so that a map in that grid (explain's) lays over the scan
in a viewer that places images by their affine (3D Slicer, ITK-SNAP, FSLeyes).

The steps of :func:`medtrain.data.volumes._decode`, each an affine map of voxel indices: the reorder to RAS
(:func:`medtrain.data.nifti.ras_grid`, axis permutations and flips), the transpose of RAS ``(X, Y, Z)`` to
``(D, H, W) = (Z, Y, X)``, and the resampling to the run's spacing and crop or pad to its size, or the resize to its
size (:func:`medtrain.data.geometry.resample_grid`, one scale and shift per axis). The intensity steps move nothing.

A NIfTI file's affine is its header's (in the space it names); a DICOM series folder's is built from its slices'
headers as :func:`medtrain.data.dicom.read_dicom_series` builds it (:func:`medtrain.data.dicom.read_dicom_series_grid`:
DICOM's LPS patient coordinates with x and y negated, RAS as NIfTI's world is, so a viewer that loads the series
itself, 3D Slicer, puts the map on the same anatomy).
"""
from __future__ import annotations

import os

import numpy as np

from medtrain._io import path_kind
from medtrain.data.dicom import read_dicom_series_grid
from medtrain.data.geometry import parse_size, resample_grid, triple
from medtrain.data.nifti import is_nifti, read_nifti_grid
from medtrain.errors import MedtrainError

#: the reversal of three axes, ``(D, H, W)`` <-> ``(X, Y, Z)`` as :func:`medtrain.data.volumes._decode` transposes
_REVERSE = np.eye(4)[[2, 1, 0, 3]]


def grid_affine(path: str | os.PathLike, *, spacing=None, size=(64, 64, 64)) -> np.ndarray | None:
    """The 4x4 affine from an index ``(x, y, z)`` of the volume ``load_entry(path, spacing=spacing, size=size)``
    returns, taken in RAS order (its array transposed: ``x`` is its last axis W, ``z`` its first D), to the NIfTI
    file's millimetres (its own affine's space) or a DICOM series folder's RAS millimetres (its patient coordinates,
    x and y negated); None for anything else (a 2D DICOM image).

    Raises:
        MedtrainError: naming the file or folder, for a header :func:`medtrain.data.nifti.read_nifti` or slice
            geometry :func:`medtrain.data.dicom.read_dicom_series` would refuse, or a resampling
            :func:`medtrain.data.geometry.resample` would.
    """
    if is_nifti(path):
        read = read_nifti_grid
    elif path_kind(path) == "dir":  # a DICOM series, as load_entry reads a folder
        read = read_dicom_series_grid
    else:
        return None
    spacing = triple(spacing, "spacing") if spacing is not None else None  # as load_entry reads both
    size = parse_size(size)
    ras, shape = read(path)
    zooms = np.sqrt((ras[:3, :3] ** 2).sum(0))  # the voxel sizes to_ras gives
    # model (d, h, w) -> decoded (D, H, W) array index -> RAS index (its reverse): here in reversed order throughout
    try:
        grid = resample_grid(shape[::-1], tuple(float(z) for z in zooms[::-1]), spacing, size)
    except MedtrainError as e:
        raise MedtrainError(f"{path}: {e}") from None
    return ras @ _REVERSE @ grid @ _REVERSE
