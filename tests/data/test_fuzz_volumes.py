"""DICOM series, 2D DICOM images and NIfTI volumes fed damaged and odd files: the loader loads, or raises
MedtrainError. Nothing else.

Property-based (hypothesis), as test_fuzz_loaders.py, whose property and byte-level damage these use: each
test starts from a small valid file, sets attributes to odd values (pixel layout, geometry, rescaling) or
damages its bytes, and calls the public loader.
"""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from medtrain.data.dicom import read_dicom_image
from medtrain.data.volumes import load_volume_folder

from test_fuzz_loaders import FUZZ, _tmp, damaged, loads_or_refuses

# pydicom and nibabel warn while the *test* writes deliberately invalid values; the loaders silence their own.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning",
                                        "ignore::numpy.exceptions.ComplexWarning")


# --------------------------------------------------------------------------- DICOM


def _slice_dataset(rows=4, cols=5, z=0.0, uid="1.2.3", modality="CT") -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage if modality == "CT" else MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = uid
    ds.Modality = modality
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept = 1.0, -1024.0
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [0.0, 0.0, z]
    ds.PixelSpacing = [0.8, 0.6]
    ds.PixelData = (np.arange(rows * cols, dtype=np.int16) * 37).tobytes()
    return ds


def _dicom_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


VALID_DICOM = _dicom_bytes(_slice_dataset())

odd_values = st.sampled_from([0, -1, 1, 3, 7, 8, 12, 17, 32, 65535, 1.5, float("nan"), float("inf"), 1e30,
                              "", "x", "MONOCHROME1", "RGB", "YBR_FULL", [1, 2], [0, 0, 0, 0, 0, 0],
                              [1, 0, 0, 1, 0, 0], [0.0, 0.0], [-1.0, 2.0], [1e-9, 1e-9], [1e9, 1e9]])
ATTRIBUTES = ["Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation", "BitsAllocated", "BitsStored",
              "HighBit", "PixelRepresentation", "NumberOfFrames", "RescaleSlope", "RescaleIntercept",
              "ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing", "Modality", "PlanarConfiguration"]


@st.composite
def dicom_file(draw, z=0.0):
    """A slice with a few attributes set to odd values, or a byte-damaged one."""
    if draw(st.integers(0, 3)) == 3:
        return draw(damaged(VALID_DICOM))
    ds = _slice_dataset(z=z)
    for _ in range(draw(st.integers(0, 3))):
        key, value = draw(st.sampled_from(ATTRIBUTES)), draw(odd_values)
        try:
            setattr(ds, key, value)
        except Exception:  # noqa: BLE001  (pydicom refuses some values outright: nothing to test then)
            pass
    if draw(st.booleans()):
        ds.PixelData = ds.PixelData[: draw(st.integers(0, len(ds.PixelData)))]
    try:
        return _dicom_bytes(ds)
    except Exception:  # noqa: BLE001  (pydicom cannot write the value: use the valid file)
        return VALID_DICOM


@FUZZ
@given(files=st.lists(st.tuples(st.integers(2, 3), st.data()), min_size=4, max_size=5),
       spacing=st.sampled_from([None, 1.0, (2.0, 0.5, 0.5), 1e-4]), window=st.sampled_from([None, "lung"]))
def test_dicom_series_and_images(files, spacing, window):
    with _tmp() as d:
        d = Path(d)
        rows = ["path,label"]
        for case, (n_slices, data) in enumerate(files):
            series = d / f"case{case}"
            series.mkdir()
            for k in range(max(1, n_slices)):
                (series / f"IM{k}.dcm").write_bytes(data.draw(dicom_file(z=2.5 * k)) if k else VALID_DICOM)
            rows.append(f"case{case},{case % 2}")
            (d / f"xr{case}.dcm").write_bytes(data.draw(dicom_file()))
            loads_or_refuses(read_dicom_image, d / f"xr{case}.dcm", window=window)
        (d / "series.csv").write_text("\n".join(rows) + "\n")
        (d / "images.csv").write_text("\n".join(["path,label"] + [f"xr{c}.dcm,{c % 2}" for c in range(len(files))])
                                      + "\n")
        for csv in ("series.csv", "images.csv"):
            for skip_bad in (False, True):
                loads_or_refuses(load_volume_folder, d, d / csv, spacing=spacing, size=4, window=window,
                                 skip_bad=skip_bad, cache_dir=d / "cache", val_fraction=0.5, test_fraction=0.0)


# --------------------------------------------------------------------------- NIfTI


def _nifti_bytes(data: np.ndarray, affine: np.ndarray, gz: bool) -> bytes:
    img = nib.Nifti1Image(data, affine)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / ("v.nii.gz" if gz else "v.nii")
        nib.save(img, str(p))
        return p.read_bytes()


VALID_NIFTI = {gz: _nifti_bytes(np.arange(60, dtype=np.float32).reshape(3, 4, 5), np.diag([2.0, 1.0, 3.0, 1.0]), gz)
               for gz in (False, True)}
affines = st.sampled_from([np.eye(4), np.diag([2.0, 1.0, 3.0, 1.0]), np.diag([-1.0, 1.0, -1.0, 1.0]),
                           np.zeros((4, 4)), np.diag([1e-9, 1.0, 1.0, 1.0]), np.diag([1e9, 1e9, 1e9, 1.0]),
                           np.full((4, 4), np.nan), np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]]),
                           np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])])


@st.composite
def nifti_file(draw, gz: bool):
    if draw(st.booleans()):
        return draw(damaged(VALID_NIFTI[gz]))
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=5).map(tuple))
    dtype = draw(st.sampled_from([np.float32, np.int16, np.uint8, np.float64, np.complex64]))
    fill = draw(st.sampled_from([0.0, 1.0, np.nan, np.inf, -5.0, "ramp"]))
    if fill == "ramp":
        data = np.arange(int(np.prod(shape))).reshape(shape).astype(dtype)
    else:
        with np.errstate(invalid="ignore"):
            data = np.full(shape, fill).astype(dtype)
    try:
        return _nifti_bytes(data, draw(affines), gz)
    except Exception:  # noqa: BLE001  (nibabel cannot write it: use the valid file)
        return VALID_NIFTI[gz]


@FUZZ
@given(data=st.data(), n=st.integers(4, 6), gz=st.booleans(),
       spacing=st.sampled_from([None, 1.0, (3.0, 1.0, 2.0), 1e-4]), window=st.sampled_from([None, "brain"]),
       skip_bad=st.booleans())
def test_nifti_volumes(data, n, gz, spacing, window, skip_bad):
    with _tmp() as d:
        d = Path(d)
        suffix = ".nii.gz" if gz else ".nii"
        rows = ["path,label"]
        for i in range(n):
            (d / f"v{i}{suffix}").write_bytes(data.draw(nifti_file(gz)))
            rows.append(f"v{i}{suffix},{i % 2}")
        (d / "labels.csv").write_text("\n".join(rows) + "\n")
        s = loads_or_refuses(load_volume_folder, d, spacing=spacing, size=4, window=window, skip_bad=skip_bad,
                             cache_dir=d / "cache", val_fraction=0.5, test_fraction=0.0)
        if s is not None:
            assert s.validate() is s and s.spatial_shape == (4, 4, 4)
