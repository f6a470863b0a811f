"""``medtrain train --data FOLDER`` on class folders of 2D DICOM files: read as the labels.csv listing them
(:func:`medtrain.data.load_splits` picks :mod:`medtrain.data._dicom_folder` for them), ``--window`` applied,
settings the data cannot use refused, and ``medtrain export`` listing the DICOM steps, not the PNG ones.
"""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import medtrain.export as export_mod
from medtrain.cli import main
from medtrain.config import resolve
from medtrain.data import load_splits
from medtrain.errors import MedtrainError
from medtrain.runmodel import RunModel, untrained_run_model

from test_dicom import write_slice
from test_dicom_class_folders import _same, _tree


@pytest.mark.parametrize("window", [None, "lung"])
def test_medtrain_train_data_folder_reads_a_dicom_class_tree_as_its_csv_twin(tmp_path, window):
    # class folders of .dcm files had been refused ("write a labels.csv") although PNG class folders load
    root = _tree(tmp_path / "xr")
    cfg = {"data_dir": str(tmp_path / "cache"), "val_fraction": 0.25, "window": window}
    tree = load_splits(resolve({**cfg, "data": str(root)}))
    _same(tree, load_splits(resolve({**cfg, "data": str(root / "twin.csv")})))
    assert tree.extra["window"] == ([-600.0, 1500.0] if window else None)
    # one patient's two files (normal/00 and normal/01) stay in one split, as the CSV keeps them
    where = {Path(src).relative_to(root).as_posix(): part for part in ("train", "val", "test")
             for src in tree.split(part).sources}
    assert where["normal/00.dcm"] == where["normal/01.dcm"]


@pytest.mark.parametrize("setting, message", [({"spacing": "1.5"}, "--spacing resamples volumes"),
                                              ({"group_column": "patient"}, "--group-column patient applies")])
def test_settings_a_dicom_class_tree_cannot_use_are_refused(tmp_path, setting, message):
    root = _tree(tmp_path / "xr", per_class=4)
    with pytest.raises(MedtrainError, match=message):
        load_splits(resolve({"data": str(root), "data_dir": str(tmp_path / "cache"), **setting}))


def test_export_of_a_run_on_a_dicom_class_tree_lists_the_dicom_steps(tmp_path):
    root = _tree(tmp_path / "xr", per_class=4)
    for c in ("a", "b"):  # and a PNG folder: the PNG steps
        (tmp_path / "png" / c).mkdir(parents=True)
        Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "png" / c / "x.png")
    run = untrained_run_model("resnet18_28_half", in_chans=1, input_size=16)
    pre = {k: export_mod.preprocessing(RunModel(run.module, dataclasses.replace(run.cfg, data=str(d)), run.meta))
           for k, d in (("dcm", root), ("png", tmp_path / "png"))}
    assert pre["dcm"]["input_format"] == "DICOM" and "pydicom" in " ".join(pre["dcm"]["before_the_graph"])
    assert "input_format" not in pre["png"] and "EXIF" in " ".join(pre["png"]["before_the_graph"])


def test_training_one_epoch_on_a_dicom_class_tree(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    root = _tree(tmp_path / "xr")
    out = tmp_path / "run"
    assert main(["train", "--data", str(root), "--epochs", "1", "--no-progress", "--val-fraction", "0.25",
                 "--out", str(out)]) == 0
    assert (out / "splits.csv").is_file()


def test_a_malformed_series_uid_in_a_class_sub_folder_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    # the header readers (dicom.series_uid, image_shape) decoded a value after their guard: a SeriesInstanceUID
    # stored with a wrong value representation had been pydicom's BytesLengthException, a traceback quoting the
    # raw value, when `medtrain train` checked a class sub-folder for a series
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    root = tmp_path / "xr"
    for c in ("a", "b"):
        for j in range(2):
            write_slice(root / c / "patient0" / f"{j}.dcm", np.zeros((8, 8)), (0, 0, 0), "1.2.34", modality="MR")
    bad = root / "a" / "patient0" / "0.dcm"
    raw = bad.read_bytes()
    element = b"\x20\x00\x0e\x00UI\x06\x001.2.34"  # (0020,000E) SeriesInstanceUID, 6 bytes: no whole FD number
    assert raw.count(element) == 1
    bad.write_bytes(raw.replace(element, element.replace(b"UI", b"FD")))
    out = tmp_path / "run"
    assert main(["train", "--data", str(root), "--epochs", "1", "--no-progress", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"medtrain: error: {bad}: unreadable DICOM file: malformed element (0020,000E) SeriesInstanceUID, "
                   "read as VR FD (BytesLengthException; its value is not shown)")  # not "truncated": it is not
    assert not out.exists()
