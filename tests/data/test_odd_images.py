"""Image files a user's folder may hold besides 8-bit PNG/JPEG: float images with missing pixels, WebP and
GIF, and files that are no image at all."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medtrain.data import load_folder
from medtrain.data.folder import read_image
from medtrain.errors import MedtrainError


def _float_tiff(path: Path, a: np.ndarray) -> Path:
    Image.fromarray(a.astype(np.float32), "F").save(path)
    return path


def _ramp() -> np.ndarray:
    r, c = np.indices((16, 16))
    return (r * 16 + c).astype(np.float32)


@pytest.mark.parametrize("missing", [np.nan, np.inf, -np.inf])
def test_missing_pixels_of_a_float_image_are_black_and_the_rest_keeps_its_contrast(tmp_path, missing):
    """A NaN row (a float image's "no data") had made every percentile NaN and the whole image black."""
    a = _ramp()
    a[0, :] = missing
    x = read_image(_float_tiff(tmp_path / "x.tif", a))[0].numpy()
    assert (x[0] == 0).all()
    assert x[1:].max() == 255 and x[1:].min() <= 3  # the finite pixels span 0..255 as before
    assert np.corrcoef(x[1:].ravel(), a[1:].ravel())[0, 1] > 0.99


def test_float_image_without_a_finite_pixel_is_refused_naming_the_file(tmp_path):
    p = _float_tiff(tmp_path / "empty.tif", np.full((16, 16), np.nan))
    with pytest.raises(MedtrainError, match=r"empty\.tif: image has no finite pixel"):
        read_image(p)


def test_skip_bad_leaves_out_a_float_image_without_a_finite_pixel(tmp_path):
    for c in ("a", "b"):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(5):
            _float_tiff(tmp_path / "d" / c / f"{i}.tif", _ramp() * (1 + (c == "b")))
    _float_tiff(tmp_path / "d" / "a" / "9.tif", np.full((16, 16), np.nan))
    s = load_folder(tmp_path / "d", val_fraction=0.2, test_fraction=0.2, skip_bad=True)
    assert [k["path"] for k in s.extra["skipped"]] == [str(tmp_path / "d" / "a" / "9.tif")]


@pytest.mark.parametrize("suffix", ["webp", "gif"])
def test_webp_and_gif_images_are_images_of_a_folder(tmp_path, suffix):
    """They had been skipped silently (16 of 20 images trained on; a class of them had "no images")."""
    for c, value in (("a", 60), ("b", 180)):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(np.full((8, 8), value, np.uint8)).save(tmp_path / "d" / c / f"{i}.png")
            Image.fromarray(np.full((8, 8), value, np.uint8)).save(tmp_path / "d" / c / f"{i}.{suffix}",
                                                                   lossless=True)
    s = load_folder(tmp_path / "d", val_fraction=0.2, test_fraction=0.2)
    sources = s.train.sources + s.val.sources + s.test.sources
    assert len(sources) == 20 and sum(p.endswith(f".{suffix}") for p in sources) == 10
    for part in (s.train, s.val, s.test):
        for img, y in zip(part.images, part.labels):
            assert set(img.flatten().tolist()) == {180 if y else 60}


def test_gif_is_read_as_its_first_frame(tmp_path):
    frames = [Image.fromarray(np.full((8, 8), v, np.uint8)) for v in (30, 200)]
    frames[0].save(tmp_path / "x.gif", save_all=True, append_images=frames[1:])
    assert set(read_image(tmp_path / "x.gif").flatten().tolist()) == {30}


def test_class_folder_of_files_none_an_image_names_what_it_holds(tmp_path):
    (tmp_path / "d" / "a").mkdir(parents=True)
    (tmp_path / "d" / "b").mkdir()
    for i in range(5):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "d" / "a" / f"{i}.png")
    for i in range(10):
        (tmp_path / "d" / "b" / f"{i}.xyz").write_bytes(b"scan")
    (tmp_path / "d" / "b" / "Thumbs.db").write_bytes(b"thumbs")
    with pytest.raises(MedtrainError, match=r"class 'b' has no images in .*b: it holds 11 files, none an image "
                                            r"\(\.db, \.xyz\)"):
        load_folder(tmp_path / "d")


def test_files_that_are_no_image_beside_images_are_skipped(tmp_path):
    for c in ("a", "b"):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "d" / c / f"{i}.png")
        (tmp_path / "d" / c / "notes.txt").write_text("scanned 2021")
    s = load_folder(tmp_path / "d", val_fraction=0.2, test_fraction=0.2)
    assert len(s.train) + len(s.val) + len(s.test) == 10


@pytest.mark.parametrize("side, error", [(12, "DecompressionBombWarning"), (16, "DecompressionBombError")])
def test_a_decompression_bomb_is_refused_naming_its_pixels_and_the_limit(tmp_path, monkeypatch, side, error):
    """Pillow refuses an image of more pixels than its limit (a few hundred bytes of PNG that unpack to gigabytes);
    the message had said "damaged or unsupported file (DecompressionBombError)". Pillow warns above its limit and
    raises above twice it: both are refused alike. The limit is lowered so that a small image plays the bomb."""
    Image.fromarray(np.zeros((side, side), np.uint8)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(MedtrainError) as e:
        read_image(tmp_path / "bomb.png")
    assert str(e.value) == (f"cannot read image {tmp_path / 'bomb.png'}: an image of {side * side} pixels exceeds "
                            f"Pillow's decompression-bomb limit of 100 pixels")
