"""Single 2D DICOM images: Hounsfield units and windows, bad files, and data sets of 2D DICOM images (their
sizes, settings they cannot use, mixing with image files, files named without .dcm, predict's notice).

Uses the small real files pydicom ships (CT_small.dcm, MR_small.dcm, rtplan.dcm) and images written in the test
with the writers of test_dicom.py. Nothing is downloaded.
"""
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from medtrain.config import resolve
from medtrain.data import dicom, intensity, load_splits
from medtrain.data.intensity import WINDOW_PRESETS, apply_window
from medtrain.data.volumes import load_volume_folder
from medtrain.errors import MedtrainError

from test_dicom import SECRET_ID, _ramp, _testdata, write_series, write_slice


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
