"""DICOM series: geometry, bad series, the folder loader, caching, and patient privacy.

Uses a small real file pydicom ships (rtplan.dcm) and series written in the test with pydicom's
Dataset/FileMetaDataset. Nothing is downloaded. Single 2D DICOM images are in test_dicom_images.py, which
imports the writers here.
"""
import logging
import os
import random
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from medtrain.data import dicom
from medtrain.data.table import group_hash
from medtrain.rundir import write_splits
from medtrain.data.volumes import load_volume_folder
from medtrain.errors import MedtrainError

SECRET = "SECRET^PATIENT"
SECRET_ID = "SECRETID4711"


def _testdata(name: str) -> str:
    # only files shipped inside the pydicom wheel; get_testdata_file would try to download others
    path = Path(pydicom.data.__file__).parent / "test_files" / name
    assert path.is_file(), path
    return str(path)


def write_slice(path: Path, pixels: np.ndarray, position, series_uid: str, *, orientation=(1, 0, 0, 0, 1, 0),
                spacing=(0.8, 0.6), modality="CT", slope=1.0, intercept=-1024.0, patient=SECRET,
                patient_id=SECRET_ID):
    """One single-frame slice, int16, with identifying attributes that must never leak."""
    meta = FileMetaDataset()
    sop_class = CTImageStorage if modality == "CT" else MRImageStorage
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.PatientName = patient
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19010101"
    ds.InstitutionName = "SECRET HOSPITAL"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = series_uid
    ds.Modality = modality
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.ImageOrientationPatient = list(orientation)
    ds.ImagePositionPatient = list(position)
    ds.PixelSpacing = list(spacing)
    ds.SliceThickness = 2.5
    ds.PixelData = pixels.astype(np.int16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def write_series(folder: Path, volume: np.ndarray, *, step=2.5, shuffle=True, **kw) -> Path:
    """Volume ``(slices, rows, cols)`` of stored values as an axial series, files in random order."""
    uid = generate_uid()
    order = list(range(len(volume)))
    if shuffle:
        random.Random(0).shuffle(order)
    for n, k in enumerate(order):  # file names do not follow the slice order
        write_slice(folder / f"IM{n:04d}.dcm", volume[k], (-10.0, -20.0, 5.0 + k * step), uid, **kw)
    return folder


def _ramp(slices=6, rows=10, cols=12):
    z, r, c = np.meshgrid(np.arange(slices), np.arange(rows), np.arange(cols), indexing="ij")
    return (z * 100 + r * 7 + c).astype(np.int16)


# --------------------------------------------------------------------------- series geometry


def test_series_sorted_by_position_and_reoriented_to_ras(tmp_path):
    vol = _ramp()
    write_series(tmp_path / "s", vol)
    v = dicom.read_dicom_series(tmp_path / "s")
    assert v.kind == "ct"
    # LPS axial: columns run to patient Left, rows to Posterior -> RAS flips both in-plane axes
    assert v.array.shape == (12, 10, 6)
    assert v.spacing == pytest.approx((0.6, 0.8, 2.5))
    expect = (vol.astype(np.float32) - 1024).transpose(2, 1, 0)[::-1, ::-1, :]
    assert np.array_equal(v.array, expect)


def test_series_written_from_head_to_feet_is_flipped_to_superior(tmp_path):
    vol = _ramp()
    uid = generate_uid()
    for k in range(len(vol)):  # slice k at decreasing z, and orientation with rows to Anterior
        write_slice(tmp_path / "s" / f"{k}.dcm", vol[k], (0.0, 0.0, -2.0 * k), uid, orientation=(1, 0, 0, 0, -1, 0))
    v = dicom.read_dicom_series(tmp_path / "s")
    expect = (vol.astype(np.float32) - 1024)[::-1].transpose(2, 1, 0)[::-1]
    assert np.array_equal(v.array, expect)


def test_mixed_series_sizes_duplicates_and_gaps_are_refused(tmp_path):
    vol = _ramp()
    s = write_series(tmp_path / "mixed", vol)
    write_slice(s / "other.dcm", vol[0], (-10.0, -20.0, 100.0), generate_uid())
    with pytest.raises(MedtrainError, match="mixed series"):
        dicom.read_dicom_series(s)
    s = write_series(tmp_path / "sizes", vol)
    (s / "IM0000.dcm").unlink()
    first_uid = pydicom.dcmread(s / "IM0001.dcm").SeriesInstanceUID
    write_slice(s / "big.dcm", np.zeros((20, 20), np.int16), (-10.0, -20.0, 5.0), first_uid)
    with pytest.raises(MedtrainError, match="mixed image sizes"):
        dicom.read_dicom_series(s)
    s = write_series(tmp_path / "gap", vol, shuffle=False)
    (s / "IM0002.dcm").unlink()
    with pytest.raises(MedtrainError, match="not uniform"):
        dicom.read_dicom_series(s)
    s = write_series(tmp_path / "dup", vol, shuffle=False)
    shutil.copy(s / "IM0001.dcm", s / "IM0001b.dcm")
    with pytest.raises(MedtrainError, match="same position"):
        dicom.read_dicom_series(s)


# --------------------------------------------------------------------------- the folder loader


def _dataset(tmp_path: Path, n_per_class=4, bad=None, split_column=False) -> tuple[Path, Path]:
    """``case{i}``: one series per patient (PatientID ``SECRET_ID-i``), nodule or normal."""
    root = tmp_path / "scans"
    rows = ["path,label" + (",split" if split_column else "")]
    rng = np.random.default_rng(0)
    for i in range(2 * n_per_class):
        label = "nodule" if i % 2 else "normal"
        vol = rng.integers(-1000, 400, (5, 12, 12)).astype(np.int16)
        if label == "nodule":
            vol[2:4, 4:8, 4:8] = 600
        write_series(root / f"case{i}", vol, patient_id=f"{SECRET_ID}-{i}")
        split = ",".join([""] + [("train", "val", "test", "train")[i // 2 % 4]]) if split_column else ""
        rows.append(f"case{i},{label}{split}")
    if bad == "truncated":
        write_series(root / "broken", _ramp(4, 12, 12))
        f = root / "broken" / "IM0001.dcm"
        f.write_bytes(f.read_bytes()[:400])
        rows.append("broken,normal" + (",train" if split_column else ""))
    if bad == "rtplan":
        (root / "plan").mkdir()
        shutil.copy(_testdata("rtplan.dcm"), root / "plan" / "x.dcm")
        rows.append("plan,normal" + (",train" if split_column else ""))
    csv = root / "labels.csv"
    csv.write_text("\n".join(rows) + "\n")
    return root, csv


def test_folder_of_series_loads_into_validated_splits(tmp_path):
    root, csv = _dataset(tmp_path, n_per_class=5)
    s = load_volume_folder(root, csv, spacing=1.0, size=(8, 12, 12), window="abdomen", seed=3,
                           val_fraction=0.2, test_fraction=0.2, cache_dir=tmp_path / "cache")
    assert s.task == "binary-class" and s.label_names == {"0": "nodule", "1": "normal"}
    assert s.train.images.dtype == torch.uint8 and s.train.labels.dtype == torch.int64
    assert s.train.images.shape[1:] == (1, 8, 12, 12)
    assert (len(s.train), len(s.val), len(s.test)) == (6, 2, 2)
    assert sorted(s.val.labels.tolist()) == [0, 1] and sorted(s.test.labels.tolist()) == [0, 1]
    assert s.extra["normalisation"] == {"window": 10, "percentile": 0}
    again = load_volume_folder(root, csv, spacing=1.0, size=(8, 12, 12), window="abdomen", seed=3,
                               val_fraction=0.2, test_fraction=0.2, cache_dir=tmp_path / "cache")
    assert all(s.split(n).images.equal(again.split(n).images) for n in ("train", "val", "test"))


def test_split_column_is_respected(tmp_path):
    root, csv = _dataset(tmp_path, n_per_class=4, split_column=True)
    s = load_volume_folder(root, csv, size=8, cache_dir=tmp_path / "cache")
    assert (len(s.train), len(s.val), len(s.test)) == (4, 2, 2)


def test_bad_entry_raises_naming_the_file_or_is_skipped_and_listed(tmp_path):
    root, csv = _dataset(tmp_path, bad="truncated")
    with pytest.raises(MedtrainError, match=r"broken.IM0001\.dcm"):
        load_volume_folder(root, csv, size=8, cache_dir=tmp_path / "cache")
    s = load_volume_folder(root, csv, size=8, skip_bad=True, cache_dir=tmp_path / "cache")
    assert len(s.train) + len(s.val) + len(s.test) == 8
    assert len(s.extra["skipped"]) == 1
    skipped = s.extra["skipped"][0]
    assert skipped["path"].endswith("broken") and "IM0001.dcm" in skipped["reason"]


def test_non_image_sop_class_in_a_series_folder(tmp_path):
    root, csv = _dataset(tmp_path, bad="rtplan")
    with pytest.raises(MedtrainError, match="holds no image"):
        load_volume_folder(root, csv, size=8, cache_dir=tmp_path / "cache")


def test_cache_is_used_on_the_second_read_and_invalidated_by_mtime(tmp_path, monkeypatch):
    root, csv = _dataset(tmp_path, n_per_class=3)
    cache = tmp_path / "cache"
    first = load_volume_folder(root, csv, size=8, cache_dir=cache)
    assert len(list((cache / "volumes").glob("*.npz"))) == 6
    calls = []
    real = dicom.read_dicom_series
    monkeypatch.setattr(dicom, "read_dicom_series", lambda p: calls.append(p) or real(p))
    second = load_volume_folder(root, csv, size=8, cache_dir=cache)
    assert calls == [] and second.train.images.equal(first.train.images)
    f = root / "case0" / "IM0000.dcm"
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    load_volume_folder(root, csv, size=8, cache_dir=cache)
    assert calls == [root / "case0"]
    load_volume_folder(root, csv, size=8, window="lung", cache_dir=cache)  # other settings: other key
    assert len(calls) == 7


def test_patient_identity_never_leaves_the_input(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    root, csv = _dataset(tmp_path, n_per_class=3, bad="truncated")
    cache = tmp_path / "cache"
    s = load_volume_folder(root, csv, size=8, skip_bad=True, cache_dir=cache)
    texts = [repr(s.extra), repr(s.label_names), s.name, s.source, caplog.text, repr(s.record.rows())]
    with pytest.raises(MedtrainError) as e:
        load_volume_folder(root, csv, size=8, cache_dir=cache)
    texts.append(str(e.value))
    with pytest.raises(MedtrainError) as e:
        write_slice(root / "case0" / "odd.dcm", np.zeros((4, 4), np.int16), (0, 0, 0), generate_uid())
        dicom.read_dicom_series(root / "case0")
    texts.append(str(e.value))
    for secret in (SECRET, "SECRET", SECRET_ID, "19010101"):
        assert not any(secret in t for t in texts), secret
        for f in cache.rglob("*"):
            if f.is_file():
                assert secret.encode() not in f.read_bytes()
                with np.load(f) as z:
                    # voxels and what was derived from them: no DICOM attribute (extent: the field of view in mm)
                    assert set(z.files) <= {"voxels", "windowed", "hounsfield", "extent", "no_air"}


def test_series_of_one_patient_stay_in_one_split_and_only_the_patients_hash_is_kept(tmp_path):
    """Two PatientIDs, four series each (two per class): every split holds whole patients."""
    root = tmp_path / "two"
    rows = ["path,label,split"]
    rng = np.random.default_rng(1)
    for i in range(8):
        patient = ("PAT-A-4711", "PAT-B-0815")[i // 4]
        vol = rng.integers(-1000, 400, (4, 8, 8)).astype(np.int16)
        write_series(root / f"s{i}", vol, patient_id=patient)
        rows.append(f"s{i},{('normal', 'nodule')[i % 2]},train")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    held = []
    for fold in (0, 1):  # two folds over two patients: each fold is one patient's series
        s = load_volume_folder(root, size=8, folds=2, fold=fold, cache_dir=tmp_path / "cache")
        rec = s.record
        assert len(set(rec.groups)) == 2 and rec.groups[0] == rec.groups[3] != rec.groups[4]
        val = [x for x, a in zip(rec.inputs, rec.assign) if a == 1]
        assert val in (["s0", "s1", "s2", "s3"], ["s4", "s5", "s6", "s7"])
        held.append(val[0])
        write_splits(tmp_path / "splits.csv", rec)  # what a run writes
        text = repr(rec.rows()) + repr(rec) + (tmp_path / "splits.csv").read_text()
        assert "PAT-A" not in text and "4711" not in text and "PAT-B" not in text
    assert sorted(held) == ["s0", "s4"]
    assert dicom.patient_group(root / "s0") == group_hash("PAT-A-4711")


def test_one_patient_cannot_be_split_into_train_val_and_test(tmp_path):
    root = tmp_path / "one"
    rows = ["path,label"]
    for i in range(6):
        write_series(root / f"s{i}", np.zeros((4, 8, 8), np.int16) + 10 * i, patient_id=SECRET_ID)
        rows.append(f"s{i},{i % 2}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(MedtrainError, match="only 1 patient left") as e:
        load_volume_folder(root, size=8, cache_dir=tmp_path / "cache")
    assert SECRET_ID not in str(e.value)


def test_a_series_folder_ignores_files_that_are_not_dicom_and_keeps_a_nifti_beside_it(tmp_path):
    # a README.txt beside the slices refused the whole series; a NIfTI file in a folder with one DICOM file
    # was read as a slice of that "series" (predict: "not a DICOM file", every NIfTI of the folder dropped)
    import nibabel as nib

    from medtrain.runmodel import untrained_run_model
    from medtrain.predict_inputs import iter_inputs

    series = tmp_path / "new_cases"
    series.mkdir()
    uid = generate_uid()
    for k in range(4):
        write_slice(series / f"IM{k:04d}", np.full((8, 8), 100 * k, np.int16), (0, 0, 2.0 * k), uid)
    (series / "README.txt").write_text("exported by the scanner")
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8), np.float32), np.eye(4)), str(series / "extra.nii.gz"))
    vol = dicom.read_dicom_series(series)
    assert vol.array.shape == (8, 8, 4)  # (X, Y, Z): the four slices; the README.txt and the NIfTI left out
    run = untrained_run_model("med3d_resnet10", in_chans=1, num_classes=2, input_size=8, spatial_dims=3)
    items = list(iter_inputs([series], run))
    assert [Path(i.name).name for i in items] == ["new_cases", "extra.nii.gz"]
    assert all(tuple(i.load().shape) == (1, 8, 8, 8) for i in items)
