"""Where the voxels of a DICOM series lie: the slices sorted along their normal and the affine from a voxel index of
the stacked series to RAS millimetres (DICOM PS3.3 C.7.6.2), shared by :func:`medtrain.data.dicom.read_dicom_series`,
which stacks the pixels in that order under that affine, and :func:`medtrain.data.dicom.read_dicom_series_grid`,
which gives the same geometry from the headers alone (explain's NIfTI map of a series,
:mod:`medtrain.data._grid_affine`).

ImageOrientationPatient holds the row and column direction cosines ``r`` and ``c``, ImagePositionPatient the
position of the first voxel, PixelSpacing the (row, column) spacing, all in the patient LPS frame. Voxel ``(i, j,
k)``, ``i`` a column and ``j`` a row of slice ``k``, lies at ``p_first + i * dc * r + j * dr * c + k * (p_last -
p_first) / (n - 1)`` (LPS); RAS negates its first two coordinates.

Which files of a series folder are its slices: a DICOM file of a non-image SOP class (a structured report, a dose
report, a presentation state, a plan: no pixel data) that a scanner's export puts beside the slices is left out of
the series and said in one line (:func:`leave_out`), as a README.txt beside them is ignored; it had refused the whole
series. A cut-off image slice is no such file (:func:`medtrain.data._dicom_codecs.cut_off`) and is still refused.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Sequence

import numpy as np

from medtrain.errors import MedtrainError

#: LPS -> RAS (x and y negated), as a 4x4 affine
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def floats(ds, keyword: str, n: int) -> Optional[np.ndarray]:
    """The ``n`` numbers of attribute ``keyword`` of ``ds`` (a data set or a dict), or None when it is absent, of
    another count, or not finite numbers."""
    v = ds.get(keyword)
    if v is None:
        return None
    try:
        a = np.asarray([float(x) for x in (v if hasattr(v, "__len__") and not isinstance(v, str) else [v])])
    except (TypeError, ValueError):
        return None
    return a if a.size == n and np.isfinite(a).all() else None


class NonImageDicom(MedtrainError):
    """A DICOM file of a non-image SOP class (no pixel data), refused as an image; a series folder leaves it out."""


class NonImageDicomWarning(UserWarning):
    """DICOM files of a series folder that hold no image (reports, presentation states...), left out of the series:
    one line per folder read (:func:`leave_out`)."""


def leave_out(folder, left: Sequence[Path], slices: int) -> None:
    """Say, in one line naming their count and the first, the non-image DICOM files ``left`` out of the series in
    ``folder`` (``slices``: the files it is read from); nothing when there are none. Refuse a folder holding no
    image at all."""
    if not left:
        return
    n = len(left)
    if not slices:
        raise MedtrainError(f"{folder}: DICOM series folder holds no image: "
                            + (f"{left[0].name} is" if n == 1 else f"its {n} DICOM files are")
                            + " of a non-image SOP class (a report, plan or presentation state)")
    what = (f"{left[0].name} holds no image (a report, dose report or presentation state)" if n == 1 else
            f"{n} DICOM files hold no image (reports, dose reports or presentation states; the first "
            f"{left[0].name})")
    warnings.warn(NonImageDicomWarning(f"{folder}: {what}; left out, the series read from its {slices} other "
                                       f"file{'s' * (slices != 1)}"), stacklevel=3)


def image_files(folder, files: Sequence[Path], read: Callable, say: bool = True) -> list:
    """``read(file)`` of each of a series folder's ``files`` that is an image, those of a non-image SOP class
    (``read`` raises :class:`NonImageDicom`) left out and, with ``say``, said (:func:`leave_out`)."""
    out, left = [], []
    for p in files:
        try:
            out.append(read(p))
        except NonImageDicom:
            left.append(p)
    if say:
        leave_out(folder, left, len(out))
    return out


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
