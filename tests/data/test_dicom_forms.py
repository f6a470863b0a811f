"""Forms of medical image files that are easy to misread: DICOM or NIfTI in class folders, multi-page TIFF
stacks, multi-frame DICOM in a 2D data set, and DICOM files written without the 128-byte preamble.

Files are written in the test (pydicom, Pillow); nothing is downloaded.
"""
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import generate_uid

from medtrain.config import resolve
from medtrain.data import dicom, load_splits
from medtrain.data.folder import load_folder, read_image
from medtrain.data.volumes import load_entry
from medtrain.errors import MedtrainError

from test_dicom import _ramp, write_series, write_slice


def _plane(rows: int, cols: int) -> np.ndarray:
    return _ramp(1, rows, cols)[0]


def _one_line(match: str, fn, *args, **kw) -> str:
    with pytest.raises(MedtrainError, match=match) as e:
        fn(*args, **kw)
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


# --------------------------------------------------------------------------- DICOM / NIfTI in class folders


def _dicom_class_folders(root: Path, per_class: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for c in ("lesion", "normal"):
        for i in range(per_class):
            write_slice(root / c / f"{i:02d}.dcm", rng.integers(0, 1000, (16, 16)), (0, 0, 0), generate_uid(),
                        modality="MR", patient_id=f"{c}{i}")
    return root


def test_class_folders_of_dicom_are_refused_saying_to_list_them_in_labels_csv(tmp_path):
    root = _dicom_class_folders(tmp_path / "dcmfolder")
    msg = _one_line("class 'lesion' has no images", load_folder, root)
    assert "DICOM and NIfTI files are not read from class folders" in msg
    assert "path,label" in msg and str(root / "labels.csv") in msg and f"--data {root}" in msg
    assert "lesion/00.dcm,lesion" in msg  # an example line, for a file of that class


def test_class_folders_of_unnamed_dicom_files_are_known_by_their_marker(tmp_path):
    root = _dicom_class_folders(tmp_path / "export", per_class=2)
    for p in root.glob("*/*.dcm"):
        p.rename(p.with_name(f"IM{p.stem}"))
    msg = _one_line("class 'lesion' has no images", load_folder, root)
    assert "lesion/IM00,lesion" in msg and "labels.csv" in msg


def test_following_the_advice_trains_on_the_dicom_class_folders(tmp_path):
    root = _dicom_class_folders(tmp_path / "dcmfolder")
    lines = [f"{p.relative_to(root).as_posix()},{p.parent.name}" for p in sorted(root.glob("*/*.dcm"))]
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    splits = load_splits(resolve({"data": str(root)}))
    assert sorted(splits.label_names.values()) == ["lesion", "normal"]
    assert sum(len(splits.split(s)) for s in ("train", "val", "test")) == 12


def test_class_folders_of_nifti_are_refused_saying_to_list_them_in_a_csv(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        (tmp_path / c / "scan.nii.gz").write_bytes(b"")
    msg = _one_line("class 'a' has no images", load_folder, tmp_path)
    assert "a CSV of path,label" in msg and "a/scan.nii.gz,a" in msg


def test_class_folders_of_other_files_keep_the_list_of_image_kinds(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        (tmp_path / c / "notes.txt").write_text("x")
    msg = _one_line("class 'a' has no images", load_folder, tmp_path)
    assert "images are .png" in msg and "labels.csv" not in msg and "DICOM" not in msg


# --------------------------------------------------------------------------- multi-page TIFF


def _stack(path: Path, pages: int = 5) -> Path:
    a = (np.arange(32 * 32).reshape(32, 32) * 40).astype(np.uint16)
    ims = [Image.fromarray(a + 100 * i) for i in range(pages)]
    ims[0].save(path, save_all=True, append_images=ims[1:])
    return path


def test_a_multi_page_tiff_is_refused_naming_it_not_read_as_its_first_page(tmp_path):
    f = _stack(tmp_path / "stack.tif")
    msg = _one_line("multi-page TIFF", read_image, f)
    assert str(f) in msg and "(5 pages)" in msg and "NIfTI" in msg


def test_a_class_folder_holding_a_tiff_stack_is_refused_and_skip_bad_leaves_it_out(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(5):
            Image.fromarray(np.full((16, 16), 10 * i + (100 if c == "a" else 0), np.uint8)).save(
                tmp_path / c / f"{i}.tif")
    _stack(tmp_path / "a" / "stack.tif")
    _one_line("multi-page TIFF", load_folder, tmp_path, test_fraction=0.2, val_fraction=0.2)
    splits = load_folder(tmp_path, test_fraction=0.2, val_fraction=0.2, skip_bad=True)
    assert [s["path"] for s in splits.extra["skipped"]] == [str(tmp_path / "a" / "stack.tif")]


def test_a_single_page_tiff_and_one_with_a_reduced_resolution_page_are_read(tmp_path):
    a = (np.arange(32 * 32).reshape(32, 32) * 40).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "one.tif")
    assert read_image(tmp_path / "one.tif").shape == (1, 32, 32)
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(tmp_path / "thumb.tif", a)
    tifffile.imwrite(tmp_path / "thumb.tif", a[::4, ::4], append=True, subfiletype=1)  # a thumbnail page
    assert Image.open(tmp_path / "thumb.tif").n_frames == 2
    assert read_image(tmp_path / "thumb.tif").shape == (1, 32, 32)


# --------------------------------------------------------------------------- multi-frame DICOM in 2D data


def _multi_frame(path: Path, frames: int = 4) -> Path:
    write_slice(path, _plane(16, 16), (0, 0, 0), generate_uid(), modality="MR")
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = frames
    ds.PixelData = np.concatenate([_plane(16, 16)[None] + i for i in range(frames)]).astype(np.int16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_multi_frame_dicom_in_a_2d_data_set_says_one_frame_per_file_not_a_series_folder(tmp_path):
    f = _multi_frame(tmp_path / "enhanced.dcm")
    for call in (lambda: load_entry(f, size=None), lambda: dicom.read_dicom_image(f)):
        msg = _one_line("multi-frame DICOM", call)
        assert "(4 frames)" in msg and "each frame as its own file" in msg and "series folder" not in msg


# --------------------------------------------------------------------------- DICOM without the preamble


def _strip_preamble(src: Path, dst: Path) -> Path:
    raw = src.read_bytes()
    assert raw[128:132] == b"DICM"
    dst.write_bytes(raw[132:])  # the file meta group and the data set, as some exporters write them
    return dst


def _bare(src: Path, dst: Path, implicit: bool) -> Path:
    """The data set alone: no preamble, no DICM marker, no file meta header."""
    ds = pydicom.dcmread(src)
    del ds.file_meta
    ds.preamble = None
    pydicom.dcmwrite(dst, ds, enforce_file_format=False, implicit_vr=implicit, little_endian=True)
    return dst


@pytest.mark.parametrize("form", ["no preamble", "bare explicit VR", "bare implicit VR"])
def test_a_dcm_file_without_the_preamble_is_read_as_the_file_with_it(tmp_path, form):
    src = tmp_path / "full.dcm"
    write_slice(src, _plane(16, 12), (0, 0, 0), generate_uid(), patient_id="P7")
    dst = tmp_path / "short.dcm"
    if form == "no preamble":
        _strip_preamble(src, dst)
    else:
        _bare(src, dst, implicit=form.endswith("implicit VR"))
    assert dst.read_bytes()[128:132] != b"DICM"
    assert np.array_equal(dicom.read_dicom_file(dst).pixels, dicom.read_dicom_file(src).pixels)
    assert np.array_equal(dicom.read_dicom_image(dst), dicom.read_dicom_image(src))
    assert dicom.image_shape(dst) == (16, 12)
    assert dicom.patient_group(dst) == dicom.patient_group(src) is not None


def test_a_series_of_dcm_slices_without_the_preamble_reads_as_with_it(tmp_path):
    full = write_series(tmp_path / "full", _ramp(4, 16, 16))
    short = tmp_path / "short"
    short.mkdir()
    for p in sorted(full.iterdir()):
        _strip_preamble(p, short / p.name)
    a, b = dicom.read_dicom_series(full), dicom.read_dicom_series(short)
    assert np.array_equal(a.array, b.array) and a.spacing == b.spacing


def test_other_files_named_dcm_are_still_not_dicom(tmp_path):
    f = tmp_path / "photo.dcm"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(f, format="PNG")
    _one_line("not a DICOM file", dicom.read_dicom_file, f)


def test_an_unnamed_file_without_the_marker_is_not_taken_for_dicom(tmp_path):
    src = tmp_path / "full.dcm"
    write_slice(src, _plane(8, 8), (0, 0, 0), generate_uid())
    assert dicom.is_dicom_file(_strip_preamble(src, tmp_path / "IM0007")) is False
    assert dicom.is_dicom_file(src) and dicom.is_dicom_file(tmp_path / "short.dcm")


def test_an_rgb_tiff_with_a_transparency_mask_page_reads_as_its_image(tmp_path):
    # the mask (NewSubfileType 4, a 1-bit page Pillow cannot parse) is no slice: it had been refused as "damaged"
    import tifffile

    rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    with tifffile.TiffWriter(tmp_path / "masked.tif") as w:
        w.write(rgb, photometric="rgb")
        w.write(np.ones((32, 32), bool), subfiletype=4)
    assert np.array_equal(read_image(tmp_path / "masked.tif").numpy(), rgb.transpose(2, 0, 1))
