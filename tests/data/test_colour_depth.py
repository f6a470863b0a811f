"""A colour image of 16 bits per channel (a 48-bit PNG or TIFF from a scientific camera or a microscope) is refused in
one line naming the file: Pillow, which reads medtrain's images, has no 16-bit colour mode and keeps each sample's
high byte, so a 12-bit image in a 16-bit file had trained and been predicted as a nearly black one (levels 0-15) and
recorded as 8-bit, without a word (walk "colour")."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from medtrain.data import load_csv, load_folder
from medtrain.data._image_open import _header_facts, _open
from medtrain.errors import MedtrainError


def write_png16(path, a: np.ndarray) -> None:
    """``a`` (H, W, 3) uint16 as a 48-bit PNG, (H, W, 2) as a 32-bit grey-and-alpha one (Pillow writes neither)."""
    h, w = a.shape[:2]
    raw = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2 if a.shape[2] == 3 else 4, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _twelve_bit(seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4096, (12, 12, 3)).astype(np.uint16)


def test_pillow_reads_a_48_bit_png_as_its_high_bytes_which_is_why_it_is_refused(tmp_path):
    write_png16(tmp_path / "a.png", _twelve_bit())
    with Image.open(tmp_path / "a.png") as im:  # the premise: 12-bit values come out as 0..15
        assert im.mode == "RGB" and np.asarray(im).max() <= 15
    for read in (_open, _header_facts):
        with pytest.raises(MedtrainError, match=r"a\.png: a colour image of 16 bits per channel, which Pillow reads "
                                                r"as the high byte of each sample"):
            read(tmp_path / "a.png")


def test_a_48_bit_tiff_is_refused_and_8_bit_colour_and_16_bit_grey_are_read(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", _twelve_bit(), photometric="rgb")
    with pytest.raises(MedtrainError, match="a colour image of 16 bits per channel"):
        _open(tmp_path / "a.tif")
    tifffile.imwrite(tmp_path / "b.tif", (_twelve_bit() // 16).astype(np.uint8), photometric="rgb")
    assert _open(tmp_path / "b.tif").mode == "RGB"
    Image.fromarray(_twelve_bit()[..., 0]).save(tmp_path / "g.png")  # 16-bit grey: windowed from its own values
    assert _open(tmp_path / "g.png").mode.startswith("I")


def test_a_folder_or_csv_holding_one_is_refused_before_training(tmp_path):
    root = tmp_path / "imgs"
    for c in ("benign", "malignant"):
        (root / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((12, 12, 3), 40 + 100 * (c == "benign") + i, np.uint8)).save(root / c / f"{i}.png")
    write_png16(root / "malignant" / "deep.png", _twelve_bit())
    with pytest.raises(MedtrainError, match=r"deep\.png: a colour image of 16 bits per channel"):
        load_folder(root)
    (tmp_path / "l.csv").write_text("path,label\n" + "".join(f"{p.relative_to(tmp_path)},{p.parent.name}\n"
                                                             for p in sorted(root.rglob("*.png"))))
    with pytest.raises(MedtrainError, match=r"deep\.png: a colour image of 16 bits per channel"):
        load_csv(tmp_path / "l.csv")


def _bmp_565(path, w=4, h=4) -> None:
    """A 16-bit-per-pixel BMP (5-6-5 bit fields) of magenta: 16 bits a pixel, not a sample, which Pillow decodes right."""
    row = (w * 2 + 3) // 4 * 4
    pixels = b"".join((b"\x1f\xf8" * w).ljust(row, b"\0") for _ in range(h))
    header = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 16, 3, len(pixels), 2835, 2835, 0, 0) + struct.pack(
        "<III", 0xF800, 0x07E0, 0x001F)
    offset = 14 + len(header)
    path.write_bytes(b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + header + pixels)


def test_the_depth_is_read_from_the_header_not_from_pillow_s_tiles(tmp_path):
    # a review: the raw-mode test refused a 5-6-5 BMP Pillow decodes right ('BGR;16': 16 bits a pixel), and let
    # through a 48-bit TIFF stored as colour planes (tiles 'R', 'G', 'B'), decoded as garbage
    _bmp_565(tmp_path / "565.bmp")
    assert np.asarray(_open(tmp_path / "565.bmp"))[0, 0].tolist() == [255, 0, 255]
    tifffile.imwrite(tmp_path / "planes.tif", np.moveaxis(_twelve_bit(), -1, 0), photometric="rgb",
                     planarconfig="separate")
    with pytest.raises(MedtrainError, match="a colour image of 16 bits per channel"):
        _open(tmp_path / "planes.tif")
    tifffile.imwrite(tmp_path / "rgba.tif", np.dstack([_twelve_bit(), _twelve_bit()[..., :1]]), photometric="rgb",
                     extrasamples=[2])
    with pytest.raises(MedtrainError, match="a colour image of 16 bits per channel"):
        _header_facts(tmp_path / "rgba.tif")


def test_a_16_bit_grey_and_alpha_png_is_refused_as_such(tmp_path):
    # Pillow opens it as RGBA (raw mode LA;16B): it had been refused as "a colour image"
    write_png16(tmp_path / "la.png", _twelve_bit()[..., :2])
    with pytest.raises(MedtrainError, match=r"la\.png: grey with alpha of 16 bits per channel"):
        _open(tmp_path / "la.png")
