"""DICOM and NIfTI pixels read as they are displayed: colour stays colour (as the same pixels in a PNG), a palette
shows its colours, MONOCHROME1 is inverted in a series as in a single image, NaN voxels are dark, and a
compression no installed package decodes is named with what to install.

Files are written in the test with pydicom and nibabel; nothing is downloaded.
"""
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, JPEGLSLossless, generate_uid

from medtrain.data.dicom import read_dicom_file, read_dicom_image
from medtrain.data.nifti import read_nifti
from medtrain.data.volumes import load_entry
from medtrain.errors import MedtrainError


def write_dicom(path: Path, pixels: np.ndarray, *, photometric="MONOCHROME2", modality="CT", planar=0,
                series=None, position=None, ts=ExplicitVRLittleEndian, pixel_data=None, **attributes) -> Path:
    """One single-frame image: ``pixels`` (rows, cols) or (rows, cols, 3), 8 or 16 bits by its dtype."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ts
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = modality, "P1"
    ds.SeriesInstanceUID = series or generate_uid()
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 3 if pixels.ndim == 3 else 1
    ds.PhotometricInterpretation = photometric
    if pixels.ndim == 3:
        ds.PlanarConfiguration = planar
    ds.BitsAllocated = ds.BitsStored = pixels.dtype.itemsize * 8
    ds.HighBit, ds.PixelRepresentation = ds.BitsStored - 1, 0
    ds.PixelSpacing = [1.0, 1.0]
    if position is not None:
        ds.ImagePositionPatient, ds.ImageOrientationPatient = list(position), [1, 0, 0, 0, 1, 0]
    for key, value in attributes.items():
        setattr(ds, key, value)
    stored = np.moveaxis(pixels, -1, 0) if pixels.ndim == 3 and planar else pixels  # planar: R plane, G, B
    ds.PixelData = pixel_data if pixel_data is not None else np.ascontiguousarray(stored).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def red_and_green(seed=0) -> np.ndarray:
    """A grey picture with a red and a green patch of the same luminance: told apart by colour alone."""
    im = np.full((16, 16, 3), 128, np.uint8) + np.random.default_rng(seed).integers(0, 20, (16, 16, 1), np.uint8)
    im[2:7, 2:7] = (255, 0, 0)
    im[9:14, 9:14] = (0, 130, 0)
    return im


# --------------------------------------------------------------------------- colour


@pytest.mark.parametrize("planar", [0, 1])
def test_an_rgb_dicom_reads_as_the_png_of_the_same_pixels(tmp_path, planar):
    # RGB DICOM was made grey (BT.601 luminance): a red and a green patch of equal luminance became the same grey
    im = red_and_green()
    Image.fromarray(im).save(tmp_path / "same.png")
    dcm = write_dicom(tmp_path / "same.dcm", im, photometric="RGB", modality="XC", planar=planar)
    assert np.array_equal(read_dicom_image(dcm), np.asarray(Image.open(tmp_path / "same.png")))


def test_a_ybr_dicom_reads_as_rgb(tmp_path):
    from pydicom.pixels import convert_color_space

    im = red_and_green()
    dcm = write_dicom(tmp_path / "ybr.dcm", convert_color_space(im, "RGB", "YBR_FULL"), photometric="YBR_FULL",
                      modality="XC")
    assert np.abs(read_dicom_image(dcm).astype(int) - im).max() <= 2  # YBR is rounded to 8 bits when stored


def test_a_palette_image_shows_its_lookup_table_colours(tmp_path):
    # PALETTE COLOR indices were read as grey values (index 0 black, 1 nearly black, whatever the palette)
    lut = np.array([[0xFFFF, 0xFFFF, 0xFFFF], [0x0000, 0x0000, 0x0000], [0xFFFF, 0x0000, 0x0000]] +
                   [[0, 0, 0]] * 253, np.uint16)  # 0 white, 1 black, 2 red; 16-bit entries
    indices = np.zeros((8, 8), np.uint8)
    indices[:, 3:6], indices[:, 6:] = 1, 2
    descriptor = [256, 0, 16]
    dcm = write_dicom(tmp_path / "palette.dcm", indices, photometric="PALETTE COLOR", modality="US", **{
        f"{c}PaletteColorLookupTableDescriptor": descriptor for c in ("Red", "Green", "Blue")}, **{
        f"{c}PaletteColorLookupTableData": lut[:, i].tobytes() for i, c in enumerate(("Red", "Green", "Blue"))})
    expected = (lut[indices] >> 8).astype(np.uint8)  # the palette's colours, in 8 bits as a palette PNG's
    assert np.array_equal(read_dicom_image(dcm), expected)
    assert read_dicom_image(dcm)[0, [0, 3, 6]].tolist() == [[255, 255, 255], [0, 0, 0], [255, 0, 0]]


# --------------------------------------------------------------------------- MONOCHROME1


def _series(folder: Path, photometric: str, modality="MR") -> Path:
    uid = generate_uid()
    ramp = np.tile(np.arange(8, dtype=np.uint16) * 100, (8, 1))
    for k in range(4):
        write_dicom(folder / f"{k}.dcm", ramp, photometric=photometric, modality=modality, series=uid,
                    position=(0, 0, k))
    return folder


def test_a_monochrome1_series_is_the_inverse_of_its_monochrome2_twin(tmp_path):
    # a MONOCHROME1 slice was inverted when read alone but not inside its series volume
    m1, _ = load_entry(_series(tmp_path / "m1", "MONOCHROME1"), size=(4, 8, 8))
    m2, _ = load_entry(_series(tmp_path / "m2", "MONOCHROME2"), size=(4, 8, 8))
    assert m1.max() == 255 and m1.min() == 0
    assert np.abs(m1.astype(int) - (255 - m2.astype(int))).max() <= 1  # rounding to uint8 alone
    # the same slice read alone as a 2D image: the same values (the volume's W runs Right->Left, DICOM's columns
    # Left->Right)
    assert np.array_equal(m1[0, :, ::-1], read_dicom_image(tmp_path / "m1" / "0.dcm"))


def test_monochrome1_ct_keeps_its_hounsfield_units(tmp_path):
    # Hounsfield units mean the same whichever way a viewer displays them: a window already makes bone bright
    hu = np.tile(np.linspace(0, 2000, 8).astype(np.uint16), (8, 1))
    m1 = write_dicom(tmp_path / "m1.dcm", hu, photometric="MONOCHROME1", RescaleIntercept=-1024, RescaleSlope=1)
    m2 = write_dicom(tmp_path / "m2.dcm", hu, photometric="MONOCHROME2", RescaleIntercept=-1024, RescaleSlope=1)
    assert np.array_equal(read_dicom_image(m1, "bone"), read_dicom_image(m2, "bone"))
    row = read_dicom_image(m1, "bone")[0].astype(int)
    assert row[-1] > row[0] and np.all(np.diff(row) >= 0)  # the denser, the brighter


# --------------------------------------------------------------------------- NIfTI


@pytest.mark.parametrize("window", ["lung", None])
def test_nan_voxels_of_a_nifti_come_out_as_the_darkest_value(tmp_path, window):
    # NaN (outside the field of view) became 0, soft tissue in HU: mid-grey under a lung window, 182 of 255
    # without one; a 2D float image leaves NaN out of its window and makes it black
    ct = np.full((8, 8, 8), -1000, np.float32)
    ct[2:6, 2:6, 2:6] = 400
    ct[:, :, 0] = np.nan
    nib.save(nib.Nifti1Image(ct, np.eye(4)), str(tmp_path / "nan.nii.gz"))
    a, _ = load_entry(tmp_path / "nan.nii.gz", size=8, window=window)
    assert a[0].max() == a.min()  # the NaN plane (depth 0 = the lowest k) is as dark as the darkest voxel
    assert a[4, 4, 4] == 255


def test_a_nifti_of_nan_alone_is_one_line(tmp_path):
    nib.save(nib.Nifti1Image(np.full((4, 4, 4), np.nan, np.float32), np.eye(4)), str(tmp_path / "void.nii.gz"))
    with pytest.raises(MedtrainError, match=r"void\.nii\.gz: NIfTI volume holds no finite values$"):
        read_nifti(tmp_path / "void.nii.gz")


# --------------------------------------------------------------------------- compression


def test_a_compression_without_decoder_names_the_syntax_and_a_package(tmp_path):
    from pydicom.pixels import get_decoder

    if get_decoder(JPEGLSLossless).is_available:
        pytest.skip("a JPEG-LS decoder is installed here")
    dcm = write_dicom(tmp_path / "jls.dcm", np.zeros((8, 8), np.uint16), ts=JPEGLSLossless,
                      pixel_data=encapsulate([b"\xff\xd8" + b"\0" * 30]))
    with pytest.raises(MedtrainError) as e:
        read_dicom_file(dcm)
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{dcm}: ")
    assert "JPEG-LS Lossless Image Compression" in message and "pip install pylibjpeg pylibjpeg-libjpeg" in message
    assert "truncated" not in message


# --------------------------------------------------------------------------- colour through the loaders


def _colour_data(root: Path) -> Path:
    """The same 8 pictures (a red or a green patch of equal luminance) as RGB DICOM listed in a CSV and as PNG in
    class folders."""
    rows = ["path,label"]
    for i in range(8):
        name = ("green", "red")[i % 2]
        im = red_and_green(seed=i)
        im[2:14, 2:14] = (255, 0, 0) if i % 2 else (0, 130, 0)
        write_dicom(root / "dcm" / f"{i}.dcm", im, photometric="RGB", modality="XC", planar=i // 4, PatientID=f"P{i}")
        (root / "png" / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(root / "png" / name / f"{i}.png")
        rows.append(f"{i}.dcm,{name}")
    (root / "dcm" / "labels.csv").write_text("\n".join(rows) + "\n")
    return root / "dcm" / "labels.csv"


def _by_name(splits) -> dict:
    return {Path(src).stem: img for part in (splits.train, splits.val, splits.test)
            for src, img in zip(part.sources, part.images)}


@pytest.mark.parametrize("image_size", [None, 12])
def test_an_rgb_dicom_data_set_loads_as_3_channels_equal_to_the_pngs(tmp_path, image_size):
    # a red-versus-green task in RGB DICOM trained on one grey channel where both patches are one grey: unlearnable
    from medtrain.config import resolve
    from medtrain.data import load_splits

    csv = _colour_data(tmp_path)
    cfg = {"data_dir": str(tmp_path / "cache"), "image_size": image_size, "val_fraction": 0.25, "test_fraction": 0.25}
    dcm = load_splits(resolve({**cfg, "data": str(csv)}))
    png = load_splits(resolve({**cfg, "data": str(tmp_path / "png")}))
    assert dcm.train.images.shape[1:] == png.train.images.shape[1:] == (3, image_size or 16, image_size or 16)
    dcm_images, png_images = _by_name(dcm), _by_name(png)
    assert sorted(dcm_images) == sorted(png_images)
    for name, image in dcm_images.items():
        assert torch.equal(image, png_images[name]), name


def test_grey_dicom_beside_colour_ones_is_repeated_over_the_channels(tmp_path):
    from medtrain.data.volumes import load_volume_folder

    csv = _colour_data(tmp_path)
    write_dicom(tmp_path / "dcm" / "grey.dcm", np.arange(256, dtype=np.uint8).reshape(16, 16), modality="XC",
                PatientID="P9")
    csv.write_text(csv.read_text() + "grey.dcm,red\n")
    s = _by_name(load_volume_folder(csv.parent, csv, cache_dir=tmp_path / "cache"))
    assert s["grey"].shape == (3, 16, 16) and torch.equal(s["grey"][0], s["grey"][2])
    assert torch.equal(s["grey"][0], torch.from_numpy(read_dicom_image(tmp_path / "dcm" / "grey.dcm")))


def test_predict_reads_an_rgb_dicom_as_the_png_of_the_same_pixels(tmp_path):
    # predict on a .dcm through an RGB-trained run disagreed with predict on the .png of the same pixels
    from medtrain.predict_inputs import conform, iter_inputs
    from medtrain.runmodel import untrained_run_model

    _colour_data(tmp_path)
    dcm, png = tmp_path / "dcm" / "1.dcm", tmp_path / "png" / "red" / "1.png"
    rgb = untrained_run_model("resnet10_28_half", in_chans=3, num_classes=2, input_size=12)
    a, b = (conform(item.load(), item.name, rgb) for item in iter_inputs([dcm, png], rgb))
    assert a.shape == (3, 12, 12) and torch.equal(a, b)
    grey = untrained_run_model("resnet10_28_half", in_chans=1, num_classes=2, input_size=12)
    for path in (dcm, png):  # colour for a grey network: refused alike, not made grey
        with pytest.raises(MedtrainError, match=r"a colour image \(its channels differ by up to \d+ grey levels\), "
                                                "but the model takes grey images"):
            [conform(item.load(), item.name, grey) for item in iter_inputs([path], grey)]
