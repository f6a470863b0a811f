"""--window on NIfTI, which records no modality: volumes that do not look like Hounsfield units are refused.

An MR NIfTI under ``--window brain`` had been windowed as CT: every voxel 255, validation and test AUC 0.5,
without a word. A CT scan holds air (-1000 HU); MR and PET values have no air and clip to one end of a
Hounsfield window.
"""
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel.testing import data_path

from medtrain.cli import main
from medtrain.data.volumes import load_entry, load_volume_folder
from medtrain.errors import MedtrainError

ANATOMICAL = Path(data_path) / "anatomical.nii"  # a real MR volume nibabel ships (values -610..30393)
NOT_HU = r"values range .* do not look like CT Hounsfield units .*drop --window for MR/PET volumes$"


def _save(path: Path, data: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(np.asarray(data, np.float32), np.eye(4)), str(path))
    return path


def _mr(seed: int = 0, lesion: bool = False) -> np.ndarray:
    v = np.random.default_rng(seed).normal(800, 100, (8, 8, 8))  # MR signal, arbitrary units, no air
    if lesion:
        v[2:5, 2:5, 2:5] += 1500
    return v


def _ct(seed: int = 0) -> np.ndarray:
    v = np.full((8, 8, 8), -1000.0)  # air around the body
    v[1:7, 1:7, 1:7] = np.random.default_rng(seed).normal(40, 10, (6, 6, 6))  # soft tissue
    return v


def test_an_mr_nifti_without_air_under_a_ct_window_is_refused_naming_the_file_and_why(tmp_path):
    p = _save(tmp_path / "t1.nii.gz", _mr())
    with pytest.raises(MedtrainError, match=r"t1\.nii\.gz: " + NOT_HU) as e:
        load_entry(p, size=8, window="brain")
    assert "clip to the upper end" in str(e.value) and "none lies below -500" in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("window", ["abdomen", "brain", "bone"])
def test_a_ct_crop_inside_an_organ_without_air_is_windowed(tmp_path, window):
    # a liver patch in HU (no air) under a window that shows it: refused for having no air alone, it had no way on
    v = np.random.default_rng(0).normal(60, 30, (8, 8, 8))
    arr, windowed = load_entry(_save(tmp_path / "liver.nii.gz", v), size=8, window=window)
    assert windowed and 0 < np.median(arr) < 255


@pytest.mark.parametrize("window", ["brain", "abdomen", "lung"])
def test_a_real_mr_nifti_clipped_to_one_end_of_the_window_is_refused(window):
    # nibabel's anatomical.nii goes down to -610, yet 99.9% of its voxels lie above every preset's upper end
    with pytest.raises(MedtrainError, match=r"anatomical\.nii: " + NOT_HU) as e:
        load_entry(ANATOMICAL, size=8, window=window)
    assert "clip to the upper end of the window" in str(e.value)


def test_a_ct_nifti_with_air_is_windowed(tmp_path):
    arr, windowed = load_entry(_save(tmp_path / "ct.nii.gz", _ct()), size=8, window="brain")
    assert windowed and arr.min() == 0 and 0 < np.median(arr[2:6, 2:6, 2:6]) < 255


def test_without_window_an_mr_nifti_is_normalised_by_its_percentiles(tmp_path):
    arr, windowed = load_entry(_save(tmp_path / "t1.nii.gz", _mr()), size=8)
    assert not windowed and arr.min() == 0 and arr.max() == 255


def test_skip_bad_leaves_the_mr_volumes_of_a_windowed_csv_out_with_the_reason(tmp_path):
    rows = ["path,label"]
    for i in range(8):
        _save(tmp_path / f"ct{i}.nii.gz", _ct(i))
        rows.append(f"ct{i}.nii.gz,{i % 2}")
    _save(tmp_path / "mr.nii.gz", _mr())
    rows.append("mr.nii.gz,0")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    s = load_volume_folder(tmp_path, size=8, window="brain", skip_bad=True, cache_dir=tmp_path / "cache",
                           val_fraction=0.25, test_fraction=0.25)
    assert [x["path"] for x in s.extra["skipped"]] == [str(tmp_path / "mr.nii.gz")]
    assert "do not look like CT Hounsfield units" in s.extra["skipped"][0]["reason"]
    assert s.extra["normalisation"] == {"window": 8, "percentile": 0}


def test_train_with_a_ct_window_on_mr_niftis_exits_2_in_one_line_writing_nothing(tmp_path, capsys):
    data = tmp_path / "mr"
    data.mkdir()
    rows = ["path,label"]
    for i in range(8):
        _save(data / f"t1_{i:02d}.nii.gz", _mr(i, lesion=bool(i % 2)))
        rows.append(f"t1_{i:02d}.nii.gz,{'ab'[i % 2]}")
    (data / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    rc = main(["train", "--data", str(data / "labels.csv"), "--window", "brain", "--volume-size", "8", "--epochs",
               "1", "--data-dir", str(tmp_path / "cache"), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "Traceback" not in err and len(err.splitlines()) == 1
    assert "t1_00.nii.gz: values range" in err and "drop --window for MR/PET volumes" in err
    assert not out.exists()


def test_the_data_help_says_how_dicom_and_nifti_are_given():
    from medtrain.config.descriptions import DESCRIPTIONS as HELP

    for said in ("CSV", "DICOM files", "DICOM series folders", "NIfTI volumes", "labels.csv"):
        assert said in HELP["data"], said
