"""``medtrain export`` of a 2D run trained on DICOM files: the metadata lists the DICOM steps the run's images
went through (rescale to HU, the window's numbers or the percentile rule, MONOCHROME1 inversion, torch's
antialiased resize), and a deployer who follows them gets the pixels ``predict`` reads.

They had been the PNG pipeline's (open with PIL, EXIF orientation, PIL's bilinear resize) with a bare
``"window": "abdomen"``, for a run that never read a PNG.
"""
from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

import medtrain.export as export_mod
from medtrain.data.volumes import load_entry
from medtrain.runmodel import RunModel, untrained_run_model

SIDE = 16


def _dicom(path: Path, stored: np.ndarray, *, modality="CT", photometric="MONOCHROME2", slope=1.0,
           intercept=-1024.0) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID, ds.Modality, ds.PatientID = generate_uid(), modality, "P1"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.PixelSpacing = [0.7, 0.7]
    ds.PixelData = stored.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def _run(**cfg) -> RunModel:
    run = untrained_run_model("resnet18_28_half", in_chans=1, input_size=SIDE)
    return RunModel(run.module, dataclasses.replace(run.cfg, **cfg), run.meta)


def _steps(run: RunModel) -> str:
    return " ".join(export_mod.preprocessing(run)["before_the_graph"])


def _as_described(path: Path, window) -> np.ndarray:
    """The pixels a deployer gets by following the DICOM steps of the metadata, written out here."""
    ds = pydicom.dcmread(str(path))
    x = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    t = torch.from_numpy(x)[None, None]
    x = F.interpolate(t, size=(SIDE, SIDE), mode="bilinear", align_corners=False, antialias=True)[0, 0].numpy()
    ct = ds.Modality == "CT"
    if ct and window is not None:
        level, width = window
        y = np.clip((x - (level - width / 2)) / width, 0, 1)
    else:
        lo, hi = np.percentile(x, [1, 99])
        y = np.clip((x - lo) / (hi - lo), 0, 1)
    if ds.PhotometricInterpretation == "MONOCHROME1" and not ct:
        y = 1 - y
    return np.round(y * 255).astype(np.uint8)


def test_a_windowed_2d_dicom_run_lists_the_dicom_steps_with_the_window_in_hu():
    pre = export_mod.preprocessing(_run(window="abdomen"))
    steps = " ".join(pre["before_the_graph"])
    for said in ("pydicom", "RescaleSlope + RescaleIntercept", "(40.0, 400.0) HU", "MONOCHROME1",
                 "antialias=True", f"{SIDE} x {SIDE}", "1st and 99th percentiles"):
        assert said in steps, said
    assert "PIL" not in steps and "EXIF" not in steps and "more_than_8_bit" not in pre
    assert pre["input_format"] == "DICOM" and pre["window_hu"] == {"level": 40.0, "width": 400.0,
                                                                     "applies_to": "DICOM Modality CT"}
    assert pre["dicom_percentiles"]["percentiles"] == [1.0, 99.0]


def test_a_dicom_run_without_window_is_known_by_its_data_and_a_png_run_keeps_the_pil_steps(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(2):
        _dicom(tmp_path / f"IM{i}", rng.integers(900, 1200, (SIDE, SIDE)))  # no .dcm suffix, as scanners name them
        Image.fromarray(rng.integers(0, 255, (SIDE, SIDE), dtype=np.uint8)).save(tmp_path / f"p{i}.png")
    (tmp_path / "dicom.csv").write_text("path,label\nIM0,a\nIM1,b\n")
    (tmp_path / "png.csv").write_text("path,label\np0.png,a\np1.png,b\n")
    steps = _steps(_run(data=str(tmp_path / "dicom.csv")))
    assert "RescaleSlope" in steps and "1st and 99th percentiles" in steps and "HU:" not in steps
    assert "PIL" not in steps
    png = _steps(_run(data=str(tmp_path / "png.csv")))
    assert "PIL" in png and "RescaleSlope" not in png


@pytest.mark.parametrize("kind", ["ct", "mr_monochrome1"])
def test_following_the_described_dicom_steps_gives_the_pixels_predict_reads(tmp_path, kind):
    rng = np.random.default_rng(1)
    stored = rng.integers(900, 1300, (24, 20))  # not the run's size: the resize is exercised, squashing
    stored[:3] = 0  # air
    if kind == "ct":
        p = _dicom(tmp_path / "ct.dcm", stored)
    else:
        p = _dicom(tmp_path / "mr.dcm", stored, modality="MR", photometric="MONOCHROME1", slope=2.0, intercept=5.0)
    run = _run(window="abdomen")
    assert "MONOCHROME1 images that are not CT: x = 1 - x" in _steps(run)
    got, _ = load_entry(p, spacing=run.cfg.spacing, size=run.input_shape[-1], window=run.cfg.window)  # as predict
    hu = export_mod.preprocessing(run)["window_hu"]
    want = _as_described(p, (hu["level"], hu["width"]))
    assert np.array_equal(got, want)


def test_the_exported_torchscript_file_carries_the_dicom_steps(tmp_path):
    out = tmp_path / "d2.pt"
    export_mod.export_model(_run(window="abdomen"), out, "torchscript")
    extra = {"medtrain.json": ""}
    torch.jit.load(io.BytesIO(out.read_bytes()), _extra_files=extra)
    pre = json.loads(extra["medtrain.json"])["preprocessing"]
    assert any("RescaleSlope" in s for s in pre["before_the_graph"]) and pre["window_hu"]["width"] == 400.0
