"""DICOM series and images: geometry, Hounsfield windows, bad files, caching, and patient privacy.

Uses the small real files pydicom ships (CT_small.dcm, MR_small.dcm, rtplan.dcm) and series written in
the test with pydicom's Dataset/FileMetaDataset. Nothing is downloaded.
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

from medtrain.config import resolve
from medtrain.data import dicom, intensity, load_splits
from medtrain.data.intensity import WINDOW_PRESETS, apply_window
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


# --------------------------------------------------------------------------- real files, 2D


def test_real_ct_file_in_hounsfield_units_and_windows():
    s = dicom.read_dicom_file(_testdata("CT_small.dcm"))
    raw = pydicom.dcmread(_testdata("CT_small.dcm")).pixel_array
    assert s.is_ct and s.pixels.shape == (128, 128)
    assert np.allclose(s.pixels, raw.astype(np.float32) - 1024)  # RescaleIntercept -1024, slope 1
    lung = dicom.read_dicom_image(_testdata("CT_small.dcm"), "lung")
    bone = dicom.read_dicom_image(_testdata("CT_small.dcm"), (400, 1800))
    assert lung.dtype == np.uint8 and lung.shape == (128, 128) and not np.array_equal(lung, bone)
    expect = np.round(apply_window(s.pixels, *WINDOW_PRESETS["lung"]) * 255).astype(np.uint8)
    assert np.array_equal(lung, expect)


def test_real_mr_file_is_percentile_normalised():
    img = dicom.read_dicom_image(_testdata("MR_small.dcm"), window="lung")  # windows are CT-only
    assert img.dtype == np.uint8 and img.shape == (64, 64)
    assert img.min() == 0 and img.max() == 255


def test_window_presets_and_bad_windows():
    assert intensity.parse_window("mediastinum") == (50.0, 350.0)
    assert intensity.parse_window("-600,1500") == (-600.0, 1500.0)
    assert intensity.parse_window(None) is None
    hu = np.array([-1000.0, 40.0, 80.0, 1000.0])
    assert np.allclose(apply_window(hu, 40, 80), [0, 0.5, 1, 1])
    with pytest.raises(MedtrainError, match="did you mean lung"):
        intensity.parse_window("lungs")
    with pytest.raises(MedtrainError, match="positive"):
        intensity.parse_window((0, 0))


def test_non_image_truncated_and_non_dicom_files_are_named(tmp_path):
    with pytest.raises(MedtrainError, match=r"rtplan\.dcm: DICOM file holds no image"):
        dicom.read_dicom_image(_testdata("rtplan.dcm"))
    data = Path(_testdata("CT_small.dcm")).read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) // 2])
    with pytest.raises(MedtrainError, match=r"cut\.dcm: .*truncated"):
        dicom.read_dicom_image(tmp_path / "cut.dcm")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(MedtrainError, match=r"notes\.txt: not a DICOM file"):
        dicom.read_dicom_file(tmp_path / "notes.txt")


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


def test_2d_dicom_images_load_through_the_image_path(tmp_path):
    root = tmp_path / "xr"
    root.mkdir()
    rows = ["path,label,split"]
    for i in range(6):
        src = "CT_small.dcm" if i % 2 else "MR_small.dcm"
        shutil.copy(_testdata(src), root / f"img{i}.dcm")
        rows.append(f"img{i}.dcm,{i % 2},{('train', 'train', 'val', 'val', 'test', 'test')[i]}")
    (root / "labels.csv").write_text("\n".join(rows))
    # 2D DICOM images keep their own size, as PNGs do (they took --volume-size's 64: a 512-px radiograph became
    # 64 px without a word); of mixed sizes (64 and 128 px here) they need --image-size, as PNGs do
    with pytest.raises(MedtrainError, match=r"mixed sizes: .*img0.dcm is 64x64, .*img1.dcm is 128x128; pass --image-size"):
        load_volume_folder(root, size=(1, 32, 32), window="lung", cache_dir=tmp_path / "cache")
    s = load_volume_folder(root, image_size=32, window="lung", cache_dir=tmp_path / "cache")
    assert s.train.images.shape == (2, 1, 32, 32) and s.extra["kind"] == "image"
    assert s.label_names == {"0": "0", "1": "1"}
    # --image-size sizes 2D DICOM images as it sizes PNGs; the same cache folder, another size: its own entries
    s = load_volume_folder(root, size=64, image_size=24, window="lung", cache_dir=tmp_path / "cache")
    assert s.train.images.shape == (2, 1, 24, 24) and s.extra["size"] == [24, 24]
    cfg = resolve({"data": str(root / "labels.csv"), "image_size": 20, "window": "lung", "data_dir": str(tmp_path)})
    assert load_splits(cfg).test.images.shape == (2, 1, 20, 20)


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
                    assert set(z.files) == {"voxels", "windowed"}


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


def _images_csv(root: Path, n=6, modality="CT", suffix=".dcm") -> Path:
    """``n`` 2D DICOM images (12x12) of two classes, listed in ``root/labels.csv``."""
    root.mkdir(parents=True, exist_ok=True)
    rows = ["path,label"]
    for i in range(n):
        name = f"img{i}{suffix}"
        write_slice(root / name, np.full((12, 12), 100 * (i % 2), np.int16), (0, 0, 0), generate_uid(),
                    modality=modality, patient_id=f"{SECRET_ID}-{i}")
        rows.append(f"{name},{i % 2}")
    (root / "labels.csv").write_text("\n".join(rows))
    return root / "labels.csv"


def test_dicom_files_named_without_dcm_are_read_as_dicom(tmp_path):
    """Scanners export slices as IM0007: such 2D images were read as PNGs ("cannot identify image file"), and
    predict found no series in a folder of them (0 inputs predicted, exit 0)."""
    from medtrain.predict_inputs import _is_series

    csv = _images_csv(tmp_path / "xr", suffix="")
    assert dicom.is_dicom_file(tmp_path / "xr" / "img0") and not dicom.is_dicom_file(csv)
    s = load_splits(resolve({"data": str(csv), "data_dir": str(tmp_path), "val_fraction": 0.34,
                             "test_fraction": 0.34}))
    assert s.extra["kind"] == "image" and s.train.images.shape[-2:] == (12, 12)  # its own size, no --image-size
    series = tmp_path / "S00"
    write_series(series, _ramp())
    for f in series.iterdir():
        f.rename(f.with_suffix(""))
    assert _is_series(series) and not _is_series(tmp_path / "xr" / "..")


@pytest.mark.parametrize("setting, modality, message", [
    ({"window": "lung"}, "MR", r"--window applies to CT \(Hounsfield units\); no entry of .* is CT"),
    ({"spacing": 1.5}, "CT", "--spacing resamples volumes; .* lists 2D DICOM images"),
])
def test_a_setting_the_data_cannot_use_is_refused_not_recorded_and_ignored(tmp_path, setting, modality, message):
    csv = _images_csv(tmp_path / "xr", modality=modality)
    with pytest.raises(MedtrainError, match=message):
        load_splits(resolve({"data": str(csv), "data_dir": str(tmp_path), **setting}))


def test_a_csv_mixing_image_files_and_dicom_is_refused_whichever_comes_first(tmp_path):
    """The first row chose the reader: the other kind's valid files were then 'unreadable' (and with
    --skip-bad silently left out)."""
    from PIL import Image

    csv = _images_csv(tmp_path / "d")
    rows = csv.read_text().splitlines()
    for i in range(2):
        Image.fromarray(np.zeros((12, 12), np.uint8)).save(tmp_path / "d" / f"p{i}.png")
    for order in (rows[1:] + ["p0.png,0", "p1.png,1"], ["p0.png,0", "p1.png,1"] + rows[1:]):
        csv.write_text("\n".join([rows[0], *order]))
        with pytest.raises(MedtrainError, match="mixes image files .* and DICOM/NIfTI entries"):
            load_splits(resolve({"data": str(csv), "data_dir": str(tmp_path), "skip_bad": True}))


def test_2d_dicom_images_that_are_not_square_need_an_image_size(tmp_path):
    root = tmp_path / "xr"
    root.mkdir()
    rows = ["path,label"]
    for i in range(6):
        write_slice(root / f"img{i}.dcm", np.zeros((10, 12), np.int16), (0, 0, 0), generate_uid(),
                    patient_id=f"{SECRET_ID}-{i}")
        rows.append(f"img{i}.dcm,{i % 2}")
    (root / "labels.csv").write_text("\n".join(rows))
    cfg = {"data": str(root / "labels.csv"), "data_dir": str(tmp_path), "val_fraction": 0.34, "test_fraction": 0.34}
    with pytest.raises(MedtrainError, match=r"images are not square \(.*img0.dcm is 12x10\)"):
        load_splits(resolve(cfg))
    assert load_splits(resolve({**cfg, "image_size": 8})).train.images.shape[-2:] == (8, 8)


def test_predict_says_when_it_squashes_a_2d_dicom_of_another_aspect_ratio(tmp_path):
    # image files got the notice; a 512x400 radiograph as DICOM was squashed to the model's square silently
    import warnings

    from medtrain.runmodel import untrained_run_model
    from medtrain.predict_inputs import ResizedWarning, iter_inputs

    write_slice(tmp_path / "wide.dcm", np.zeros((10, 12), np.int16), (0, 0, 0), generate_uid())
    write_slice(tmp_path / "square.dcm", np.zeros((12, 12), np.int16), (0, 0, 0), generate_uid())
    run = untrained_run_model("resnet10_28_half", in_chans=1, num_classes=2, input_size=8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = list(iter_inputs([tmp_path / "wide.dcm", tmp_path / "square.dcm"], run))
        shapes = [tuple(item.load().shape) for item in items]
    assert shapes == [(1, 8, 8), (1, 8, 8)]
    notes = [str(w.message) for w in caught if issubclass(w.category, ResizedWarning)]
    assert len(notes) == 1 and "wide.dcm: 12x10 squashed to 8x8" in notes[0]


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
