"""A folder of colour palette PNGs (``P`` mode, as GIF converters and PNG optimisers write colour images) is decoded
once per image: the header survey decoded each one's pixels to see whether its colour entries were used, and the
loader decoded it again (4,000 decodes for 2,000 files). Once one image has shown colour every image is read as
RGB, so the survey no longer decodes the palette images after it; what is loaded is unchanged."""
import numpy as np
import pytest
from PIL import Image

from medtrain.data import load_folder


@pytest.fixture
def decodes(monkeypatch):
    """How many times Pillow decodes an image's pixel data (one decoder per decode)."""
    count = [0]
    real = Image._getdecoder

    def counted(*args, **kwargs):
        count[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(Image, "_getdecoder", counted)
    return count


def _colour_palette_set(root, n=12, grey_after=None):
    """``n`` 16x16 colour palette PNGs per class (their RGB pixels by path); ``grey_after``: file ``b/<i>`` is a
    palette image of a palette with colour entries whose used ones are all grey."""
    rng = np.random.default_rng(0)
    pixels = {}
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(n):
            p = root / c / f"{i:02d}.png"
            im = Image.fromarray(rng.integers(0, 256, (16, 16, 3), np.uint8)).quantize(32)
            if c == "b" and i == grey_after:
                im = Image.frombytes("P", (16, 16), rng.integers(0, 8, (16, 16), np.uint8).tobytes())
                im.putpalette([v for k in range(256) for v in ((k,) * 3 if k < 8 else (255, 0, 0))])
            im.save(p)
            assert Image.open(p).mode == "P"
            pixels[str(p)] = np.asarray(Image.open(p).convert("RGB"))
    return pixels


@pytest.mark.parametrize("store", ["memory", "mmap"])
def test_a_folder_of_colour_palette_pngs_is_decoded_once_per_image(tmp_path, monkeypatch, decodes, store):
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    root = tmp_path / "d"
    pixels = _colour_palette_set(root, grey_after=5)
    decodes[0] = 0
    s = load_folder(root, val_fraction=0.25, test_fraction=0.25, store=store)
    # one decode per image as it is read, and one by the survey: the first image, which showed colour
    assert decodes[0] == len(pixels) + 1, decodes[0]
    assert s.in_chans == 3
    got = {src: img.numpy().transpose(1, 2, 0) for part in (s.train, s.val, s.test)
           for src, img in zip(part.sources, part.images)}
    assert got.keys() == pixels.keys()
    for p, want in pixels.items():  # the grey-looking palette file after colour ones is read as RGB, as every one
        np.testing.assert_array_equal(got[p], want)


def test_palette_pngs_before_any_colour_are_still_looked_into(tmp_path):
    # a palette of colour entries whose used ones are grey, in a set of grey files: still grey (one channel)
    root = tmp_path / "d"
    rng = np.random.default_rng(1)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 256, (16, 16), np.uint8)).save(root / c / f"{i}.png")
    p = root / "b" / "4.png"
    im = Image.frombytes("P", (16, 16), rng.integers(0, 8, (16, 16), np.uint8).tobytes())
    im.putpalette([v for k in range(256) for v in ((k,) * 3 if k < 8 else (255, 0, 0))])
    im.save(p)
    s = load_folder(root, val_fraction=0.2, test_fraction=0.2)
    assert s.in_chans == 1
