"""Where the voxels of a DICOM series lie: the slices sorted along their normal and the affine from a voxel index of
the stacked series to RAS millimetres (DICOM PS3.3 C.7.6.2), shared by :func:`medtrain.data.dicom.read_dicom_series`,
which stacks the pixels in that order under that affine, and :func:`medtrain.data.dicom.read_dicom_series_grid`,
which gives the same geometry from the headers alone (explain's NIfTI map of a series,
:mod:`medtrain.data._grid_affine`).

ImageOrientationPatient holds the row and column direction cosines ``r`` and ``c``, ImagePositionPatient the
position of the first voxel, PixelSpacing the (row, column) spacing, all in the patient LPS frame. Voxel ``(i, j,
k)``, ``i`` a column and ``j`` a row of slice ``k``, lies at ``p_first + i * dc * r + j * dr * c + k * (p_last -
p_first) / (n - 1)`` (LPS); RAS negates its first two coordinates.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional, Sequence

import numpy as np

from medtrain.errors import MedtrainError

#: LPS -> RAS (x and y negated), as a 4x4 affine
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


class SliceGeometry(NamedTuple):
    """A slice's geometry as its header gives it (:class:`medtrain.data.dicom.DicomSlice` has the same fields)."""

    path: Path
    orientation: Optional[np.ndarray]  #: (6,) row and column direction cosines
    position: Optional[np.ndarray]  #: (3,) mm, LPS
    pixel_spacing: Optional[tuple]  #: (row spacing, column spacing) mm


def check_geometry(s) -> None:
    """Refuse, naming its file, a slice without the three attributes that place it."""
    if s.orientation is None or s.position is None or s.pixel_spacing is None:
        raise MedtrainError(f"{s.path}: slice lacks ImageOrientationPatient, ImagePositionPatient or "
                            f"PixelSpacing, so the volume geometry is unknown")


def series_affine(folder, slices: Sequence) -> tuple[list, np.ndarray]:
    """``(slices sorted along their normal, the affine from a voxel index (i, j, k) of their stack to RAS mm)``:
    ``i`` a column, ``j`` a row, ``k`` a slice in that order. ``slices``: two or more, each with ``path``,
    ``orientation``, ``position`` and ``pixel_spacing`` (:func:`check_geometry`).

    Raises:
        MedtrainError: naming the folder or file, for slices without geometry, of different orientations, with
            parallel row and column directions, at one position (duplicates), or not evenly spaced (missing slices).
    """
    for s in slices:
        check_geometry(s)
    first = slices[0]
    row, col = first.orientation[:3], first.orientation[3:]
    for s in slices:
        if not np.allclose(s.orientation, first.orientation, atol=1e-3):
            raise MedtrainError(f"{folder}: slices have different orientations ({s.path.name}); "
                                f"one series per folder")
    normal = np.cross(row, col)
    if np.linalg.norm(normal) < 1e-3:
        raise MedtrainError(f"{first.path}: ImageOrientationPatient row and column directions are parallel")
    normal = normal / np.linalg.norm(normal)
    slices = sorted(slices, key=lambda s: float(s.position @ normal))
    along = np.array([float(s.position @ normal) for s in slices])
    gaps = np.diff(along)
    if np.any(gaps < 1e-4):
        i = int(np.argmin(gaps))
        raise MedtrainError(f"{folder}: {slices[i].path.name} and {slices[i + 1].path.name} lie at the same "
                            f"position (duplicate slices or more than one series)")
    step = float(np.median(gaps))
    if np.any(np.abs(gaps - step) > 0.1 * step + 1e-3):
        raise MedtrainError(f"{folder}: slice spacing is not uniform (missing slices?)")
    dr, dc = first.pixel_spacing  # distance between rows, between columns
    lps = np.eye(4)
    lps[:3, 0] = row * dc  # voxel index i runs along a row, i.e. over columns
    lps[:3, 1] = col * dr
    lps[:3, 2] = (slices[-1].position - slices[0].position) / (len(slices) - 1)
    lps[:3, 3] = slices[0].position
    return slices, LPS_TO_RAS @ lps
