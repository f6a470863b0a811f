"""What a series folder's reader does with the files a scanner's export puts beside the slices, and what the loaders
say of a run's data read again.

A DICOM file of a non-image SOP class (a Basic Text SR, a dose report) beside the slices had refused the whole series
("holds no image"), while a README.txt there was ignored: it is left out, said in one line naming the count and the
first; a cut-off image slice is still refused. An entry ``--skip-bad`` leaves out is said as the data set is read,
not again when a finished run's data is read again (eval --data and export had printed the training data's skips,
unlabelled, as if the data they were given had those problems). A NIfTI volume without air under the run's window
(predict, explain, eval --data) is no longer told to "drop --window", an option those commands do not have.
"""
from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import BasicTextSRStorage, ExplicitVRLittleEndian, generate_uid

from medtrain.data import dicom
from medtrain.data._quiet import said_when_trained
from medtrain.data._volume_notes import notes_once
from medtrain.data.volumes import load_entry, load_volume_folder
from medtrain.errors import MedtrainError
from test_dicom import _ramp, write_series

LEFT_OUT = "holds no image"
PARTS = ("train",) * 4 + ("val",) * 2 + ("test",) * 2  #: both classes in each split


def write_sr(path: Path) -> Path:
    """A Basic Text SR of its own series, no pixel data (a scanner's report beside the slices)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = BasicTextSRStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = BasicTextSRStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "SR"
    ds.PatientID = "SECRETID4711"
    ds.save_as(path, enforce_file_format=True)
    return path


def _caught(fn, *args, **kw):
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        out = fn(*args, **kw)
    return out, [w for w in said if w.category.__module__.startswith("medtrain")]


def test_a_report_beside_the_slices_is_left_out_and_said_once_naming_it(tmp_path):
    plain = write_series(tmp_path / "plain", _ramp())
    with_sr = tmp_path / "with_sr"
    shutil.copytree(plain, with_sr)
    write_sr(with_sr / "SR0001.dcm")
    expected = dicom.read_dicom_series(plain)
    vol, said = _caught(dicom.read_dicom_series, with_sr)
    assert np.array_equal(vol.array, expected.array) and vol.spacing == expected.spacing and vol.kind == "ct"
    assert len(said) == 1, [str(w.message) for w in said]
    text = str(said[0].message)
    assert text.startswith(f"{with_sr}: SR0001.dcm {LEFT_OUT}") and "left out" in text and "6 other files" in text
    assert "\n" not in text
    # the headers-only geometry (explain's NIfTI map) leaves it out too, and says nothing more
    grid, said = _caught(dicom.read_dicom_series_grid, with_sr)
    assert said == []
    assert np.allclose(grid[0], dicom.read_dicom_series_grid(plain)[0]) and grid[1] == dicom.read_dicom_series_grid(plain)[1]


def test_several_reports_are_said_in_one_line_with_their_count_and_the_first(tmp_path):
    folder = write_series(tmp_path / "s", _ramp())
    for name in ("SR0002.dcm", "SR0001.dcm", "DOSE.dcm"):
        write_sr(folder / name)
    _, said = _caught(dicom.read_dicom_series, folder)
    assert [str(w.message) for w in said] == [
        f"{folder}: 3 DICOM files hold no image (reports, dose reports or presentation states; the first DOSE.dcm); "
        f"left out, the series read from its 6 other files"]


def test_a_cut_off_image_slice_beside_a_report_is_still_refused(tmp_path):
    folder = write_series(tmp_path / "s", _ramp())
    write_sr(folder / "SR0001.dcm")
    f = folder / "IM0001.dcm"
    f.write_bytes(f.read_bytes()[:400])
    with pytest.raises(MedtrainError, match=r"IM0001\.dcm: unreadable DICOM file, possibly truncated"):
        dicom.read_dicom_series(folder)


def test_a_folder_of_reports_alone_is_refused_as_holding_no_image(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    write_sr(folder / "SR0001.dcm")
    write_sr(folder / "SR0002.dcm")
    with pytest.raises(MedtrainError, match=r"reports: DICOM series folder holds no image: its 2 DICOM files are of "
                                            r"a non-image SOP class"):
        dicom.read_dicom_series(folder)


def test_a_report_alone_as_a_2d_image_is_still_refused(tmp_path):
    with pytest.raises(MedtrainError, match=r"SR0001\.dcm: DICOM file holds no image"):
        dicom.read_dicom_image(write_sr(tmp_path / "SR0001.dcm"))


def _with_gap(tmp_path) -> tuple[Path, Path]:
    """Four good series and one with a missing slice (refused; --skip-bad leaves it out)."""
    root = tmp_path / "scans"
    rows = ["path,label,split"]
    for i in range(8):
        vol = _ramp(5, 8, 8) + 50 * i
        write_series(root / f"case{i}", vol.astype(np.int16), patient_id=f"P{i}")
        rows.append(f"case{i},{'ab'[i % 2]},{PARTS[i]}")
    write_series(root / "gap", _ramp(5, 8, 8), shuffle=False, patient_id="P9")  # IM0002: its middle slice
    (root / "gap" / "IM0002.dcm").unlink()
    rows.append("gap,a,train")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root, root / "labels.csv"


def test_an_entry_left_out_is_said_as_read_and_not_again_when_a_runs_data_is_read_again(tmp_path, caplog):
    root, csv = _with_gap(tmp_path)
    with caplog.at_level(logging.WARNING):
        s, said = _caught(load_volume_folder, root, csv, size=8, skip_bad=True, cache_dir=tmp_path / "cache")
    assert [x["path"] for x in s.extra["skipped"]] == [str(root / "gap")]
    skips = [str(w.message) for w in said if str(w.message).startswith("skipped ")] + \
        [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped ")]
    assert len(skips) == 1 and skips[0].startswith(f"skipped {root / 'gap'}: ") and "not uniform" in skips[0]
    caplog.clear()

    def read_again():  # eval, export... of the run read its data again
        with said_when_trained():
            return load_volume_folder(root, csv, size=8, skip_bad=True, cache_dir=tmp_path / "cache")

    with caplog.at_level(logging.WARNING):
        again, said = _caught(read_again)
    assert again.extra["skipped"] == s.extra["skipped"]  # still recorded
    assert not [w for w in said if str(w.message).startswith("skipped ")]
    assert not [r for r in caplog.records if r.getMessage().startswith("skipped ")]


def _no_air(path: Path) -> Path:
    v = np.random.default_rng(0).normal(260, 40, (12, 12, 12))  # MR-like: no value below -500, not clipped
    nib.save(nib.Nifti1Image(v.astype(np.float32), np.eye(4)), str(path))
    return path


def test_a_runs_input_without_air_is_not_told_to_drop_an_option_predict_has_not(tmp_path):
    p = _no_air(tmp_path / "mr.nii.gz")

    def predicted():
        with notes_once():  # predict, explain and eval --data read their inputs so, under the run's window
            return load_entry(p, size=8, window=(100, 1000))

    _, said = _caught(predicted)
    assert len(said) == 1 and "none has a value below -500" in str(said[0].message)
    text = str(said[0].message)
    assert "drop --window" not in text and "the run was trained with that --window" in text
    assert "MR/PET volumes need a run trained without one" in text
    # the loader of a data set (training, where --window is an option) still tells to drop it
    (tmp_path / "labels.csv").write_text("path,label,split\n" + "".join(
        f"{_no_air(tmp_path / f'v{i}.nii.gz').name},{i % 2},{PARTS[i]}\n" for i in range(8)))
    _, said = _caught(load_volume_folder, tmp_path, tmp_path / "labels.csv", size=8, window=(100, 1000),
                      cache_dir=tmp_path / "cache")
    assert any("drop --window for MR/PET volumes" in str(w.message) for w in said)


def test_a_runs_input_refused_as_not_hounsfield_names_the_runs_window(tmp_path):
    p = tmp_path / "t1.nii.gz"
    v = np.random.default_rng(0).normal(800, 100, (8, 8, 8))  # MR signal: all above a brain window
    nib.save(nib.Nifti1Image(v.astype(np.float32), np.eye(4)), str(p))
    with notes_once(), pytest.raises(MedtrainError) as e:
        load_entry(p, size=8, window="brain")
    assert "do not look like CT Hounsfield units" in str(e.value) and "drop --window" not in str(e.value)
    assert str(e.value).endswith("the run was trained with that --window; MR/PET volumes need a run trained "
                                 "without one")
