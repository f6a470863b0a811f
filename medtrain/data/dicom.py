"""Reading DICOM series (one series per folder) and single DICOM images with pydicom.

Patient identity never leaves this module. Files are parsed with ``dcmread(specific_tags=...)`` so that
only pixel data, pixel format and geometry are decoded at all (names, dates and the like are never even
parsed), and error messages name the file and the problem but never quote a tag value (pydicom's own
exception texts, which may, are not passed on). The one exception is PatientID, read by
:func:`patient_group` alone so that one patient's series stay in one split: it is turned into a one-way
hash (:func:`medtrain.data.table.group_hash`) at once and only the hash is returned.

Geometry (DICOM PS3.3 C.7.6.2; :mod:`medtrain.data._dicom_grid`): slices are sorted by their position along the
normal of ImageOrientationPatient's row and column directions; the voxel-to-LPS affine is ``[r * dc, c * dr,
(p_last - p_first) / (n - 1), p_first]``, turned into RAS by negating the first two rows, and the volume is then
reordered to the closest RAS orientation as NIfTI volumes are (:func:`medtrain.data.nifti.to_ras`).
:func:`read_dicom_series_grid` gives that geometry from the headers alone.

CT pixel values are mapped to Hounsfield units by RescaleSlope/RescaleIntercept (PS3.3 C.11.1.1.2).
Colour images (RGB, YBR, PALETTE COLOR through its lookup table) are also kept as 8-bit RGB, as a colour PNG
is read, and a series of them is refused (volumes are one grey channel); MONOCHROME1 values other than Hounsfield
units (bright = less dense) are inverted by every reader.
"""
from __future__ import annotations

import logging
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from medtrain._io import file_problem, path_kind
from medtrain.data._dicom_codecs import cut_off, image_class, undecodable, unreadable
from medtrain.data._dicom_grid import (NonImageDicom, SliceGeometry, check_geometry, floats as _floats,
                                      image_files, series_affine)
from medtrain.data._folder_files import DICOM_SUFFIXES, IMAGE_SUFFIXES
from medtrain.data.intensity import normalise_intensity, parse_window, to_uint8
from medtrain.data.table import group_hash
from medtrain.data.nifti import VolumeData, check_volume_shape, ras_grid, to_ras
from medtrain.errors import MedtrainError

# The only attributes ever read: pixel format, pixel data, rescale, geometry, and three that classify
# the file (SOP class: image or not; series UID: one series per folder; modality: CT or not). The UIDs
# and modality steer decoding only and are never written, logged or quoted.
_TAGS = [
    "SOPClassUID", "SeriesInstanceUID", "Modality",
    "Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation", "PlanarConfiguration",
    "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "NumberOfFrames",
    "RescaleSlope", "RescaleIntercept",
    "ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing", "ImagerPixelSpacing",
    "SliceThickness", "SpacingBetweenSlices",
    *(f"{c}PaletteColorLookupTable{part}" for c in ("Red", "Green", "Blue") for part in ("Descriptor", "Data")),
    *(f"Segmented{c}PaletteColorLookupTableData" for c in ("Red", "Green", "Blue")),
    "PixelData",
]
_IGNORED_FILES = {"DICOMDIR", "Thumbs.db"}


def is_dicom_file(path: str | os.PathLike) -> bool:
    """A DICOM file by its name (``.dcm``) or, as scanners export slices without one (``IM0007``), by the
    ``DICM`` marker after its 128-byte preamble (DICOM PS3.10 7.1). Files of other known kinds, and what is
    not a regular file (a FIFO, a device), are not opened."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in DICOM_SUFFIXES:
        return True
    if suffix in IMAGE_SUFFIXES + (".nii", ".gz", ".csv", ".npz", ".npy", ".txt", ".json"):
        return False
    if path_kind(path) != "file":  # opening a FIFO would wait for a writer for ever
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


@dataclass
class DicomSlice:
    """One decoded DICOM image: values (rescaled) and geometry, nothing else."""

    path: Path
    pixels: np.ndarray  #: float32 (rows, cols), or (frames, rows, cols) for multi-frame files; colour: luminance
    is_ct: bool
    series: str  #: SeriesInstanceUID, compared between files only
    orientation: Optional[np.ndarray]  #: (6,) row and column direction cosines
    position: Optional[np.ndarray]  #: (3,) mm, LPS
    pixel_spacing: Optional[tuple]  #: (row spacing, column spacing) mm
    monochrome1: bool  #: MONOCHROME1 (bright = less dense) and not CT: readers invert it (CT's HU need not be)
    colour: Optional[np.ndarray] = None  #: uint8 RGB (rows, cols, 3) or (frames, rows, cols, 3); None: grey

    @property
    def frames(self) -> int:
        return 1 if self.pixels.ndim == 2 else int(self.pixels.shape[0])


@contextmanager
def _quiet_pydicom():
    """Silence pydicom's warnings and log records while decoding: they may quote tag values."""
    pd_log = logging.getLogger("pydicom")
    disabled = pd_log.disabled
    pd_log.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        pd_log.disabled = disabled


def _dcmread(path: Path, **kw) -> tuple:
    """``(dataset, forced)``: pydicom's ``dcmread``; a file named as DICOM (``.dcm``) without the 128-byte preamble
    and ``DICM`` marker (some exporters write the bare data set; pydicom reads it with ``force=True``) read again
    forced, given the transfer syntax of its encoding when it has no file meta header to name one."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(str(path), **kw), False
    except InvalidDicomError:
        if Path(path).suffix.lower() not in DICOM_SUFFIXES:
            raise
    ds = pydicom.dcmread(str(path), force=True, **kw)
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        from pydicom.dataset import FileMetaDataset
        from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

        implicit, little = getattr(ds, "original_encoding", None) or (ds.is_implicit_VR, ds.is_little_endian)
        ds.file_meta = meta if meta is not None else FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little
                                          else ExplicitVRBigEndian)
    return ds, True


def read_dicom_file(path: str | os.PathLike) -> DicomSlice:
    """Decode one DICOM file (pixel data and geometry only).

    Raises:
        MedtrainError: naming the file if it is not DICOM, truncated, not an image (e.g. an RT plan or a
            structured report), or its pixel data cannot be decoded.
    """
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    problem = file_problem(path)
    if problem is not None:
        raise MedtrainError(f"{path}: {problem}")
    with _quiet_pydicom():
        try:
            ds, forced = _dcmread(path, specific_tags=_TAGS)
        except InvalidDicomError:
            raise MedtrainError(f"{path}: not a DICOM file") from None
        except Exception as e:  # noqa: BLE001  (EOFError, struct.error, OSError... on damaged files)
            raise unreadable(path, e) from None
        if forced and "PixelData" not in ds:  # read without its DICM marker: data, or something else named .dcm
            raise MedtrainError(f"{path}: not a DICOM file (no DICM marker after a 128-byte preamble, and no "
                                f"image data)")
        try:  # (its file meta read lazily here: an element of an unknown VR had been a NotImplementedError traceback)
            cut = "PixelData" not in ds and cut_off(ds)
        except Exception as e:  # noqa: BLE001
            raise unreadable(path, e) from None
        if cut:  # pydicom reads a cut file up to its end, without a word
            raise MedtrainError(f"{path}: unreadable DICOM file, possibly truncated: it ends before its pixel data")
        if "PixelData" not in ds:
            raise NonImageDicom(f"{path}: DICOM file holds no image (a non-image SOP class such as a "
                                f"report, plan or presentation state)")
        try:
            pixels = ds.pixel_array
        except Exception as e:  # noqa: BLE001  (short pixel data, missing decoder plugin...)
            raise undecodable(ds, path, e) from None
        try:
            return _to_slice(ds, pixels, path)
        except MedtrainError:
            raise
        except Exception as e:  # noqa: BLE001  (a malformed value; its text may quote the value)
            raise MedtrainError(f"{path}: malformed DICOM pixel or geometry attributes ({type(e).__name__})") \
                from None


def _colour(ds, pixels: np.ndarray) -> Optional[np.ndarray]:
    """A colour image's pixels as 8-bit RGB ``(..., 3)``, or None for a grey one. RGB keeps its values (more
    than 8 bits stored: the top 8), YBR is converted to RGB (pydicom 3 does so itself), PALETTE COLOR indices
    are looked up in the palette (PS3.3 C.7.6.3.1.5), as Pillow reads a colour or palette PNG."""
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    if photometric == "PALETTE COLOR":
        try:
            from pydicom.pixels import apply_color_lut  # pydicom >= 3
        except ImportError:
            from pydicom.pixel_data_handlers.util import apply_color_lut
        rgb = np.asarray(apply_color_lut(pixels, ds))
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
    elif int(ds.get("SamplesPerPixel", 1) or 1) > 1:
        rgb = pixels
        if photometric in ("YBR_FULL", "YBR_FULL_422") and _pydicom_major() < 3:  # pydicom 2 returns it as stored
            from pydicom.pixel_data_handlers.util import convert_color_space
            rgb = convert_color_space(rgb, photometric, "RGB")
        bits = int(ds.get("BitsStored", 8) or 8)
    else:
        return None
    rgb = np.asarray(rgb)
    if bits > 8 and rgb.dtype.kind in "ui":
        rgb = rgb >> (bits - 8)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _pydicom_major() -> int:
    import pydicom

    return int(str(pydicom.__version__).split(".")[0])


def _to_slice(ds, pixels, path: Path) -> DicomSlice:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    pixels = np.asarray(pixels)
    colour = _colour(ds, pixels)
    if colour is not None:
        if colour.ndim != (4 if frames > 1 else 3) or colour.shape[-1] != 3:
            raise MedtrainError(f"{path}: unexpected DICOM colour pixel array of shape {colour.shape}")
        # ``pixels`` holds the luminance (ITU-R BT.601 weights); readers use ``colour`` (a series refuses it)
        pixels = colour.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    pixels = pixels.astype(np.float32)
    if pixels.ndim != (3 if frames > 1 else 2):
        raise MedtrainError(f"{path}: unexpected DICOM pixel array of {pixels.ndim} dimensions")
    slope = _floats(ds, "RescaleSlope", 1)
    intercept = _floats(ds, "RescaleIntercept", 1)
    if colour is None and (slope is not None or intercept is not None):
        pixels = pixels * (slope[0] if slope is not None else 1.0) + (intercept[0] if intercept is not None else 0.0)
    is_ct = str(ds.get("Modality", "")).upper() == "CT"
    spacing = _floats(ds, "PixelSpacing", 2)
    if spacing is None:
        spacing = _floats(ds, "ImagerPixelSpacing", 2)  # projection radiographs
    return DicomSlice(
        path=path,
        pixels=pixels,
        is_ct=is_ct,
        series=str(ds.get("SeriesInstanceUID", "")),
        orientation=_floats(ds, "ImageOrientationPatient", 6),
        position=_floats(ds, "ImagePositionPatient", 3),
        pixel_spacing=tuple(float(s) for s in spacing) if spacing is not None else None,
        monochrome1=str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1" and not is_ct,
        colour=colour,
    )


def _header(path: str | os.PathLike, *keywords: str) -> tuple:
    """The values (None where absent) of ``keywords`` in a DICOM file's header, those alone parsed (no pixel
    data). Raises MedtrainError naming the file, never a value pydicom's text quotes (:func:`unreadable`), if the
    file, or one of those values, cannot be read."""
    with _quiet_pydicom():
        try:
            ds = _dcmread(Path(path), specific_tags=list(keywords), stop_before_pixels=True)[0]
            return tuple(ds.get(k) for k in keywords)  # values are decoded here, on first access
        except Exception as e:  # noqa: BLE001  (the pixel reader names damaged files; here: its own line)
            raise unreadable(path, e) from None


def patient_group(path: str | os.PathLike) -> Optional[str]:
    """The one-way hash of the PatientID of a DICOM file or series folder (its first file), or None when
    the file names none. Only PatientID is parsed; the ID itself never leaves this function."""
    path = Path(path)
    value, = _header(series_files(path)[0] if path_kind(path) == "dir" else path, "PatientID")
    value = str(value).strip() if value is not None else ""
    return group_hash(value) if value else None


def image_shape(path: str | os.PathLike) -> Optional[tuple[int, int]]:
    """``(rows, columns)`` of a DICOM file from its header alone (no pixel data), or None when it names none."""
    rows, cols = _header(path, "Rows", "Columns")
    return (int(rows), int(cols)) if rows and cols else None


def series_uid(path: str | os.PathLike) -> Optional[str]:
    """The SeriesInstanceUID of a DICOM file from its header alone, to compare files by (never to write or quote),
    or None when it names none."""
    uid, = _header(path, "SeriesInstanceUID")
    uid = str(uid or "").strip()
    return uid or None


def series_files(folder: str | os.PathLike) -> list[Path]:
    """The DICOM files of a series folder (:func:`is_dicom_file`; hidden files, DICOMDIR and files of other kinds,
    a README.txt or a NIfTI copy beside the slices, ignored: one had refused the whole series), sorted by name."""
    folder = Path(folder)
    if path_kind(folder) != "dir":
        raise MedtrainError(f"{folder}: DICOM series folder not found")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.name not in _IGNORED_FILES and is_dicom_file(p))
    if not files:
        raise MedtrainError(f"{folder}: DICOM series folder holds no DICOM file")
    return files


def read_dicom_series(folder: str | os.PathLike) -> VolumeData:
    """Read the single DICOM series in ``folder`` into a RAS volume (Hounsfield units for CT).

    Raises:
        MedtrainError: naming the folder or file, for an unreadable or non-image file, colour slices, a folder
            mixing series or image sizes, multi-frame files, slices without position/orientation, duplicate
            positions, non-uniform slice spacing (missing slices), or fewer than 2 slices (or rows, or columns).
    """
    folder = Path(folder)  # (a non-image file beside the slices, a report or a dose report: left out and said)
    slices = image_files(folder, series_files(folder), read_dicom_file)
    first = slices[0]
    for s in slices:
        if s.colour is not None:  # its volume had been the slices' luminance, one grey channel, without a word
            raise MedtrainError(f"colour DICOM series are not supported: {s.path} is a colour slice (RGB, YBR or "
                                f"PALETTE COLOR), and 3D data sets are read as one grey channel; convert the series "
                                f"to grey, or list its slices as 2D images in a CSV (colour is kept there)")
        if s.frames != 1:
            raise MedtrainError(f"{s.path}: multi-frame DICOM files are not supported in a series folder")
        if s.series != first.series:
            raise MedtrainError(f"{folder}: mixed series, {s.path.name} belongs to another series than "
                                f"{first.path.name}; put one series per folder")
        if s.pixels.shape != first.pixels.shape:
            raise MedtrainError(f"{folder}: mixed image sizes, {s.path.name} is {s.pixels.shape[1]}x"
                                f"{s.pixels.shape[0]} but {first.path.name} is {first.pixels.shape[1]}x"
                                f"{first.pixels.shape[0]}")
        check_geometry(s)
        if s.is_ct != first.is_ct:
            raise MedtrainError(f"{folder}: mixed modalities in one series folder ({s.path.name})")
    if len(slices) < 2:
        raise MedtrainError(f"{folder}: a DICOM series needs at least 2 slices, found 1 "
                            f"(a single image belongs in a 2D data set)")
    slices, ras = series_affine(folder, slices)
    # pixel arrays are (rows=j, cols=i): stack to (i, j, k). MONOCHROME1 slices are negated: their volume is
    # percentile-normalised (not CT), so it comes out as 1 - normalised, as a single MONOCHROME1 image does
    data = np.stack([-s.pixels if s.monochrome1 else s.pixels for s in slices], axis=-1).transpose(1, 0, 2)
    check_volume_shape(folder, data.shape, "DICOM series")  # slices of 1 row or column: no volume, as a NIfTI's
    try:
        array, spacing = to_ras(data, ras)
    except MedtrainError as e:
        raise MedtrainError(f"{folder}: slice geometry: {e}") from None
    return VolumeData(array, spacing, "ct" if first.is_ct else "mr")


def read_dicom_series_grid(folder: str | os.PathLike) -> tuple[np.ndarray, tuple]:
    """The geometry of the RAS array :func:`read_dicom_series` returns, from the slices' headers alone (no pixel
    data; :func:`medtrain.data.nifti.ras_grid`, as :func:`medtrain.data.nifti.read_nifti_grid` gives a NIfTI
    file's): the affine from its index ``(X, Y, Z)`` to RAS millimetres (DICOM's LPS patient coordinates with x
    and y negated, NIfTI's world), and its shape.

    Raises:
        MedtrainError: naming the folder or file, where :func:`read_dicom_series` would refuse the series' geometry.
    """
    folder = Path(folder)
    sizes = set()

    def geometry(p: Path) -> SliceGeometry:
        sop, rows, cols, *tags = _header(p, "SOPClassUID", "Rows", "Columns", "ImageOrientationPatient",
                                         "ImagePositionPatient", "PixelSpacing", "ImagerPixelSpacing")
        if not (rows and cols) and not image_class(sop):  # a report beside the slices: left out, as the reader does
            raise NonImageDicom(f"{p}: DICOM file holds no image")
        ds = dict(zip(("o", "p", "s", "i"), tags))
        spacing = _floats(ds, "s", 2)
        spacing = spacing if spacing is not None else _floats(ds, "i", 2)  # as _to_slice reads it
        sizes.add((int(cols or 0), int(rows or 0)))
        return SliceGeometry(p, _floats(ds, "o", 6), _floats(ds, "p", 3),
                             tuple(float(v) for v in spacing) if spacing is not None else None)

    slices = image_files(folder, series_files(folder), geometry, say=False)  # (read_dicom_series said them)
    if len(slices) < 2 or len(sizes) != 1:
        raise MedtrainError(f"{folder}: not one DICOM series of 2 or more slices of one size")
    slices, ras = series_affine(folder, slices)
    shape = (*sizes.pop(), len(slices))  # (columns, rows, slices): read_dicom_series' stack (i, j, k)
    try:
        return ras_grid(ras, shape)
    except MedtrainError as e:
        raise MedtrainError(f"{folder}: slice geometry: {e}") from None


def read_dicom_image(path: str | os.PathLike, window=None) -> np.ndarray:
    """Read a single-frame DICOM image (radiograph, one CT/MR slice) as a 2D uint8 array ``(rows, cols)``, or a
    colour one (RGB, YBR, PALETTE COLOR) as 8-bit RGB ``(rows, cols, 3)``, its values kept as a colour PNG's are.

    Args:
        path: the DICOM file.
        window: for CT, a Hounsfield window ``(level, width)`` or a preset name (``"lung"``, ``"bone"``
            ...; see :data:`medtrain.data.intensity.WINDOW_PRESETS`); otherwise, or when None, values are
            normalised between the 1st and 99th percentile. MONOCHROME1 images (bright air) are inverted so
            that bright always means dense (CT in Hounsfield units already does).

    Raises:
        MedtrainError: naming the file, for unreadable, non-image or multi-frame files.
    """
    win = parse_window(window)
    s = read_dicom_file(path)
    if s.frames != 1:
        raise MedtrainError(f"{s.path}: multi-frame DICOM ({s.frames} frames) is not one 2D image; a 2D "
                            f"data set takes one frame per file: save each frame as its own file (a 3D volume: "
                            f"convert it to NIfTI, e.g. with dcm2niix)")
    if s.colour is not None:
        return s.colour
    out = normalise_intensity(s.pixels, win if s.is_ct else None)
    if s.monochrome1:
        out = 1.0 - out
    return to_uint8(out)
