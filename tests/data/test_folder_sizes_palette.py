"""What a folder of a researcher's own images (not 28 px) is turned into, and what is said of it: images of another
aspect ratio squashed by ``--image-size`` (said in one line per load, in predict's wording), grey palette PNGs (as PNG
optimisers write them) read as the grey images they are, and 8-bit and 16-bit files in one folder (said)."""
import warnings

import numpy as np
import pytest
from PIL import Image

from medtrain.data import load_folder
from medtrain.data import _survey
from medtrain.data.folder import decode_image, read_image


def _loaded(root, **kw):
    """(the Splits, the messages of medtrain's data warnings raised while loading)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = load_folder(root, val_fraction=0.2, test_fraction=0.2, **kw)
    return s, [str(w.message) for w in caught if w.category.__module__.startswith("medtrain")]


def _by_source(s) -> dict:
    """Each image ``(C, H, W)`` as a NumPy array, by the file it was read from."""
    return {src: img.numpy() for part in (s.train, s.val, s.test) for src, img in zip(part.sources, part.images)}


def _grey(seed: int, size=(16, 16)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size[::-1], np.uint8)


# --------------------------------------------------------------------------- --image-size squashing, said


def _mixed_aspects(root, wide=3, square=7):
    """Per class ``wide`` 30x20 images and ``square`` 24x24 ones."""
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(wide + square):
            Image.fromarray(_grey(i + 100 * (c == "b"), (30, 20) if i < wide else (24, 24))).save(root / c / f"{i}.png")
    return root


@pytest.mark.parametrize("store", ["memory", "mmap"])
def test_image_size_says_in_one_line_how_many_images_it_squashed(tmp_path, monkeypatch, store):
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    root = _mixed_aspects(tmp_path / "d")
    s, said = _loaded(root, image_size=16, store=store)
    squashed = [m for m in said if "squashed" in m]
    first = root / "a" / "0.png"
    assert squashed == [_survey.squashed_note(6, "16x16 square of --image-size 16",
                                                    _survey.squashed_one(first, 30, 20, 16))
                        + "; pad or crop them to squares first to keep their proportions"]
    # the wording predict, explain and eval use for their inputs: one line, counted, naming the first
    assert squashed[0].startswith("6 input(s) of another aspect ratio were squashed to the 16x16 square")
    assert f"(first: {first}: 30x20 squashed to 16x16)" in squashed[0]
    # what was said is what was done: the aspect ratio squashed (a bilinear resize to 16x16), nothing padded
    want = np.asarray(Image.open(first).resize((16, 16), Image.BILINEAR))
    np.testing.assert_array_equal(_by_source(s)[str(first)][0], want)


def test_square_images_resized_and_single_files_read_say_nothing_of_squashing(tmp_path):
    root = _mixed_aspects(tmp_path / "d", wide=0)
    _, said = _loaded(root, image_size=16)
    assert not [m for m in said if "squashed" in m]  # resized, not squashed
    Image.fromarray(_grey(1, (30, 20))).save(tmp_path / "wide.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # predict reads files so and counts its own squashed inputs
        assert tuple(read_image(tmp_path / "wide.png", 16).shape) == (1, 16, 16)


# --------------------------------------------------------------------------- grey palette PNGs stay grey


def _grey_set(root, n=10):
    """``n`` grey 16x16 PNGs per class; returns each file's pixels."""
    pixels = {}
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(n):
            p = root / c / f"{i}.png"
            pixels[str(p)] = _grey(i + 100 * (c == "b"))
            Image.fromarray(pixels[str(p)]).save(p)
    return pixels


@pytest.mark.parametrize("store", ["memory", "mmap"])
def test_grey_palette_pngs_in_a_grey_set_load_as_one_channel_with_their_values(tmp_path, monkeypatch, store):
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    root = tmp_path / "d"
    pixels = _grey_set(root)
    for c in ("a", "b"):  # re-saved as PNG optimisers write them: a palette of the greys used
        for i in (1, 4, 7):
            p = root / c / f"{i}.png"
            Image.open(p).convert("P", palette=Image.ADAPTIVE, colors=256).save(p)
            assert Image.open(p).mode == "P"
    s, _ = _loaded(root, store=store)
    assert s.in_chans == 1  # had been 3: one palette file made the whole grey set RGB
    got = _by_source(s)
    for p, want in pixels.items():
        np.testing.assert_array_equal(got[p][0], want)


def _palette_image(indices: np.ndarray) -> Image.Image:
    return Image.frombytes("P", indices.shape[::-1], np.ascontiguousarray(indices).tobytes())


def test_a_palette_with_grey_entries_used_is_grey_and_one_with_a_colour_used_is_colour(tmp_path):
    root = tmp_path / "d"
    pixels = _grey_set(root, n=5)
    p = root / "a" / "2.png"  # every entry but the ones used is red: the colours used are what the image shows
    im = _palette_image(pixels[str(p)] // 2)  # indices 0..127
    im.putpalette([v for i in range(256) for v in ((2 * i,) * 3 if i < 128 else (255, 0, 0))])
    im.save(p)
    pixels[str(p)] = pixels[str(p)] // 2 * 2
    s, _ = _loaded(root)
    assert s.in_chans == 1
    np.testing.assert_array_equal(_by_source(s)[str(p)][0], pixels[str(p)])
    assert read_image(p).shape[0] == 1
    with Image.open(p) as opened:  # predict of a PIL image decodes it as its file
        np.testing.assert_array_equal(decode_image(opened).numpy(), read_image(p).numpy())

    q = root / "b" / "3.png"  # a truly coloured palette image: the set is colour
    im = _palette_image(pixels[str(q)] // 2)
    im.putpalette([v for i in range(256) for v in (i, 255 - i, 0)])
    im.save(q)
    s, _ = _loaded(root)
    assert s.in_chans == 3
    np.testing.assert_array_equal(_by_source(s)[str(q)].transpose(1, 2, 0), np.asarray(Image.open(q).convert("RGB")))
    assert read_image(q).shape[0] == 3


# --------------------------------------------------------------------------- 8-bit and 16-bit files in one set


def test_a_set_mixing_8_and_16_bit_files_says_how_many_of_each_once(tmp_path):
    root = tmp_path / "d"
    _grey_set(root)
    _, said = _loaded(root)
    assert not [m for m in said if "bit" in m]  # one bit depth: nothing to say
    for c in ("a", "b"):
        for i in (2, 5):
            p = root / c / f"{i}.png"
            Image.fromarray(np.asarray(Image.open(p)).astype(np.uint16) * 16).save(p)
            assert Image.open(p).mode.startswith("I")
    _, said = _loaded(root)
    mixed = [m for m in said if "bit" in m]
    assert len(mixed) == 1
    assert "16 image(s) of 8 bits" in mixed[0] and "4 of more than 8 bits" in mixed[0]
    assert "1st and 99th percentiles" in mixed[0]  # how they differ, in the line
