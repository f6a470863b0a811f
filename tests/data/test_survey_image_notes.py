"""What training does to a folder's images beyond squashing them is said once per load, as the squash note is
(a user walkthrough with their own images): 16x16 tiles trained at ``--image-size 128`` were blown up 8x, an RGBA
image's transparent half was read as the green stored under it, and grey files among colour ones were copied to
three channels, each without a word. Each is now one line naming the count and the first file, kept with a
memory-mapped store and said again when it is reused, recorded in ``Splits.extra["images"]`` (for ``metrics.json``'s
``data``), and not repeated when a finished run's own data is read again."""
import warnings

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from medtrain.data import folder, load_folder

NOTES = {"EnlargedImagesWarning": "were enlarged more than 2x", "TransparentImagesWarning": "carry transparency",
         "GreyAsColourWarning": "grey image(s) among colour ones are read as RGB"}


def _folder(root, transparent_one: bool = True):
    """Two classes of ten noisy 16x16 RGB PNGs (enlarged 4x at --image-size 64), and, at 40x40 (not enlarged):
    in ``a`` an opaque RGBA image (alpha all 255) and, with ``transparent_one``, one whose top half is transparent
    over pure green; in ``b`` an 8-bit grey image."""
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), np.uint8)).save(root / c / f"{i}.png")
    rgba = rng.integers(0, 255, (40, 40, 4), np.uint8)
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(root / "a" / "opaque.png")
    if transparent_one:
        rgba[:20, :, :3], rgba[:20, :, 3] = (0, 255, 0), 0
        Image.fromarray(rgba, "RGBA").save(root / "a" / "see_through.png")
    Image.fromarray(rng.integers(0, 255, (40, 40), np.uint8)).save(root / "b" / "grey.png")
    return root


def _notes(root, **kw) -> tuple[dict, object]:
    """({warning class name: [messages]} of the notes above said by one load at --image-size 64, the splits)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = load_folder(root, image_size=64, val_fraction=0.2, test_fraction=0.2, **kw)
    said: dict = {}
    for w in caught:
        if w.category.__name__ in NOTES:
            said.setdefault(w.category.__name__, []).append(str(w.message))
    return said, splits


@pytest.mark.parametrize("store", ["memory", "mmap"])
def test_enlarged_transparent_and_grey_images_are_each_said_once_with_their_count(tmp_path, monkeypatch, store):
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    root = _folder(tmp_path / "d")
    said, _ = _notes(root, store=store)
    assert sorted(said) == sorted(NOTES) and all(len(v) == 1 for v in said.values()), said
    [enlarged], [see_through], [grey] = (said[k] for k in ("EnlargedImagesWarning", "TransparentImagesWarning",
                                                           "GreyAsColourWarning"))
    assert enlarged.startswith("20 image(s) were enlarged more than 2x along a side to the 64x64 square")
    assert "all 16x16" in enlarged and f"first: {root / 'a' / '0.png'}: 16x16 enlarged to 64x64, 4x" in enlarged
    # the opaque RGBA image is not counted: only pixels of alpha < 255 are transparency
    assert see_through.startswith(f"1 image(s) carry transparency (pixels of alpha < 255; first: "
                                  f"{root / 'a' / 'see_through.png'})") and "opaque" not in see_through
    assert "colour stored under it is used as is" in see_through
    assert grey.startswith("1 grey image(s) among colour ones are read as RGB") and str(root / "b" / "grey.png") in grey


def test_an_opaque_rgba_image_is_not_said_to_carry_transparency(tmp_path):
    said, splits = _notes(_folder(tmp_path / "d", transparent_one=False))
    assert "TransparentImagesWarning" not in said and splits.extra["images"]["transparent"] == 0


def test_the_pixels_the_network_sees_are_unchanged_alpha_dropped(tmp_path):
    """Said, not changed: existing runs' images (and so their predictions) stay as they were."""
    root = _folder(tmp_path / "d")
    _, splits = _notes(root)
    [x] = [splits.split(s).images[i].numpy() for s in ("train", "val", "test")
           for i, n in enumerate(splits.split(s).sources) if n.endswith("see_through.png")]
    assert (x[:, :8] == np.array([0, 255, 0])[:, None, None]).all()  # the green under alpha 0, as before


def test_what_the_images_were_is_recorded_for_the_run(tmp_path, monkeypatch):
    """Splits.extra["images"], what metrics.json's data block is to record: the resize rule, the sizes, the counts."""
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    (tmp_path / "d").mkdir()
    root = _folder(tmp_path / "d" / "set")
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(root / "b" / "wide.png")  # 30x20: squashed and enlarged
    expected = {"image_size": 64, "resize": "PIL bilinear, aspect squashed",
                "sizes": {"smallest": [16, 16], "largest": [40, 40]}, "squashed": 1, "enlarged": 21,
                "enlarged_over": 2, "grey_as_rgb": 1, "transparent": 1}
    for store in ("memory", "mmap", "mmap"):  # the store written, then reused
        assert _notes(root, store=store)[1].extra["images"] == expected, store


def test_a_store_written_before_the_notes_were_kept_is_surveyed_again(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    root = _folder(tmp_path / "d")
    real = folder.recorded
    monkeypatch.setattr(folder, "recorded", lambda said, facts=None: real(said[:0]))  # an older store: none kept
    _notes(root, store="mmap")
    monkeypatch.setattr(folder, "recorded", real)
    said, splits = _notes(root, store="mmap")
    assert sorted(said) == sorted(NOTES) and splits.extra["images"]["enlarged"] == 20


def test_transparency_is_told_by_the_pixels_not_the_header(tmp_path):
    from medtrain.data._image_open import transparent

    a = np.arange(64, dtype=np.uint8).reshape(8, 8)
    cases = {"rgba_opaque": (Image.fromarray(np.dstack([a, a, a, np.full_like(a, 255)]), "RGBA"), {}, False),
             "rgba_half": (Image.fromarray(np.dstack([a, a, a, np.where(a < 8, 0, 255).astype(np.uint8)]), "RGBA"),
                           {}, True),
             "la_half": (Image.fromarray(np.dstack([a, np.where(a < 8, 128, 255).astype(np.uint8)]), "LA"), {}, True),
             "p_used": (Image.fromarray(a, "P"), {"transparency": 5}, True),  # pixel index 5 transparent
             "p_unused": (Image.fromarray(a // 2 + 100, "P"), {"transparency": 5}, False),  # no pixel of index 5
             "l_trns": (Image.fromarray(a), {"transparency": 3}, True)}
    for name, (im, kw, expected) in cases.items():
        p = tmp_path / f"{name}.png"
        if im.mode == "P":
            im.putpalette([v for i in range(256) for v in (i, 255 - i, 0)])
        im.save(p, **kw)
        with Image.open(p) as opened:
            assert transparent(opened) is expected, name


def _said_in(err: str) -> dict:
    return {k: sum(v in line for line in err.splitlines()) for k, v in NOTES.items()}


def test_a_finished_runs_own_data_read_again_does_not_repeat_the_notes(tmp_path, capsys):
    root = _folder(tmp_path / "d")
    run = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # each command as a process of its own
        code, _, err = run_cli(capsys, "train", "--data", root, "--image-size", "64", "--model", "resnet10_28_half",
                               "--epochs", "1", "--batch-size", "16", "--bootstrap", "0", "--flip", "true",
                               "--precision", "32-true", "--out", run, "--no-progress")
        assert code == 0 and _said_in(err) == dict.fromkeys(NOTES, 1), err
        code, _, err = run_cli(capsys, "eval", run)
        assert code == 0 and _said_in(err) == dict.fromkeys(NOTES, 0), err
