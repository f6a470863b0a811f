"""Image folders and CSV files."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medtrain.data import load_csv, load_folder
from medtrain.errors import MedtrainError


def _folder(tmp_path, per_class=10, classes=("benign", "malignant"), size=(12, 12), mode="L"):
    root = tmp_path / "imgs"
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            arr = np.full(size + ((3,) if mode == "RGB" else ()), 40 * (classes.index(c) + 1), np.uint8)
            Image.fromarray(arr, mode).save(root / c / f"{i}.png")
    return root


def test_folder_classes_are_subfolders_and_split_is_stratified(tmp_path):
    s = load_folder(_folder(tmp_path, per_class=20), val_fraction=0.25, test_fraction=0.25, seed=1)
    assert s.label_names == {"0": "benign", "1": "malignant"} and s.in_chans == 1
    assert (len(s.train), len(s.val), len(s.test)) == (20, 10, 10)
    for part in (s.train, s.val, s.test):
        assert part.labels.sum().item() * 2 == len(part)  # stratified: half of each split per class


def _ids(split) -> set[int]:
    return {int(v) for v in split.images[:, 0, 0, 0]}


def test_folder_split_is_seeded(tmp_path):
    root = _folder(tmp_path, per_class=20)
    for c in ("benign", "malignant"):  # every image its own value, so which images a split holds is visible
        for i in range(20):
            Image.fromarray(np.full((12, 12), 100 * (c == "malignant") + i, np.uint8)).save(root / c / f"{i}.png")
    a, b, other = load_folder(root, seed=3), load_folder(root, seed=3), load_folder(root, seed=4)
    assert _ids(a.test) == _ids(b.test) and _ids(a.val) == _ids(b.val)
    assert _ids(a.test) != _ids(other.test)
    assert len(_ids(a.train) | _ids(a.val) | _ids(a.test)) == 40  # every image in exactly one split


def test_rgb_folder_gives_three_channels(tmp_path):
    s = load_folder(_folder(tmp_path, mode="RGB"))
    assert s.in_chans == 3


def test_mixed_sizes_are_an_error_naming_both_files(tmp_path):
    root = _folder(tmp_path)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(root / "benign" / "big.png")
    with pytest.raises(MedtrainError, match="mixed sizes.*--image-size"):
        load_folder(root)
    assert load_folder(root, image_size=12).spatial_shape == (12, 12)


def test_class_with_no_images(tmp_path):
    root = _folder(tmp_path)
    (root / "normal").mkdir()
    with pytest.raises(MedtrainError, match="class 'normal' has no images"):
        load_folder(root)


def test_csv_with_split_column(tmp_path):
    _folder(tmp_path, per_class=4)
    rows = ["path,label,split"]
    for i in range(4):
        for c in ("benign", "malignant"):
            rows.append(f"imgs/{c}/{i}.png,{c},{['train', 'train', 'val', 'test'][i]}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    s = load_csv(tmp_path / "labels.csv")
    assert (len(s.train), len(s.val), len(s.test)) == (4, 2, 2)


def test_csv_missing_image_is_named(tmp_path):
    (tmp_path / "l.csv").write_text("path,label\nnope.png,0\n")
    with pytest.raises(MedtrainError, match="nope.png"):
        load_csv(tmp_path / "l.csv")


def _full_range_image() -> np.ndarray:
    """An 8-bit 32x32 ramp whose darkest and brightest 1% are 0 and 255 (its percentile window is 0..255)."""
    r, c = np.indices((32, 32))
    return np.clip((r + c) * 10 - 60, 0, 255).astype(np.uint8)


_DEEP = {  # how scanners and DICOM exports store an 8-bit picture in more bits
    "16-bit PNG": (lambda g: g.astype(np.uint16) * 257, "png"),
    "12 bits in a 16-bit PNG": (lambda g: g.astype(np.uint16) * 16, "png"),
    "float TIFF in [0, 1]": (lambda g: (g / 255).astype(np.float32), "tif"),
}


@pytest.mark.parametrize("kind", list(_DEEP))
def test_images_of_more_than_8_bits_keep_their_contrast(tmp_path, kind):
    """Pillow's own conversion clips them (16-bit all 255, floats all 0): they are mapped from their own
    1st..99th percentile window to 0..255 instead, so a full-range picture reads back as its 8-bit self."""
    from medtrain.data.folder import read_image

    g = _full_range_image()
    deep, suffix = _DEEP[kind]
    Image.fromarray(deep(g)).save(tmp_path / f"x.{suffix}")
    x = read_image(tmp_path / f"x.{suffix}")
    assert x.shape == (1, 32, 32)
    np.testing.assert_array_equal(x[0].numpy(), g)


def test_deep_image_is_stretched_over_0_to_255_and_a_flat_one_is_black(tmp_path):
    from medtrain.data.folder import read_image

    r, c = np.indices((32, 32))
    values = (100 + (r * 32 + c) * 3).astype(np.uint16)  # 12-bit data using 100..3169 only
    Image.fromarray(values).save(tmp_path / "ramp.png")
    x = read_image(tmp_path / "ramp.png")[0].numpy()
    assert x.min() == 0 and x.max() == 255
    assert np.corrcoef(x.ravel(), values.ravel())[0, 1] > 0.99
    Image.fromarray(np.full((8, 8), 3000, np.uint16)).save(tmp_path / "flat.png")
    assert read_image(tmp_path / "flat.png").max() == 0


@pytest.mark.parametrize("store", ["memory", "mmap"])
def test_folder_of_16_bit_images_is_read_as_the_8_bit_pictures(tmp_path, monkeypatch, store):
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    g = _full_range_image()
    for c, picture in (("a", g), ("b", g.T[::-1].copy())):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(picture.astype(np.uint16) * 257).save(tmp_path / "d" / c / f"{i}.png")
    s = load_folder(tmp_path / "d", val_fraction=0.2, test_fraction=0.2, store=store)
    assert s.in_chans == 1
    for part in (s.train, s.val, s.test):
        for img, y in zip(part.images, part.labels):
            np.testing.assert_array_equal(img[0].numpy(), g if y == 0 else g.T[::-1])


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA"])
def test_8_bit_images_keep_their_values(tmp_path, mode):
    from medtrain.data.folder import read_image

    rgb = np.random.default_rng(0).integers(0, 256, (9, 11, 3), np.uint8)
    Image.fromarray(rgb).convert(mode).save(tmp_path / "x.png")
    want = np.asarray(Image.open(tmp_path / "x.png").convert("RGB" if mode in ("P", "RGB", "RGBA") else "L"))
    got = read_image(tmp_path / "x.png").numpy()
    np.testing.assert_array_equal(got.transpose(1, 2, 0).reshape(want.shape), want)


def _sideways_jpeg(path, bright_corner_stored=(slice(0, 8), slice(0, 8))):
    """A camera JPEG: pixels stored 40 wide x 24 high, EXIF orientation 6 (turn 90 degrees clockwise to
    display), so it is shown 24 wide x 40 high; the stored top-left corner is bright."""
    stored = np.zeros((24, 40), np.uint8)
    stored[bright_corner_stored] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    Image.fromarray(stored).save(path, exif=exif, quality=95)


def test_exif_orientation_gives_the_displayed_image(tmp_path):
    from medtrain.data.folder import read_image

    _sideways_jpeg(tmp_path / "photo.jpg")
    x = read_image(tmp_path / "photo.jpg")[0].numpy()
    assert x.shape == (40, 24)  # as displayed: H x W
    corners = {"top-left": x[:8, :8], "top-right": x[:8, -8:], "bottom-left": x[-8:, :8], "bottom-right": x[-8:, -8:]}
    assert [k for k, v in corners.items() if v.mean() > 128] == ["top-right"]  # the stored top-left, turned clockwise


@pytest.mark.parametrize("store", ["memory", "mmap"])
def test_rotated_photos_match_upright_ones_in_size(tmp_path, monkeypatch, store):
    """The size checks, and the store's image size, see the displayed orientation too (non-square images are
    refused without --image-size; the refusal gives the displayed width x height)."""
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    root = _folder(tmp_path, size=(40, 24))
    _sideways_jpeg(root / "benign" / "0.jpg")  # first of its class: the store takes its size from it
    with pytest.raises(MedtrainError, match=r"not square \(.*0.jpg is 24x40\)"):
        load_folder(root, store=store)


def test_hidden_files_and_folders_in_class_folders_are_not_data(tmp_path):
    """Jupyter's .ipynb_checkpoints copies (a duplicate, maybe under a wrong label) and macOS's ._name
    AppleDouble files (not images at all) are skipped, as hidden class folders are."""
    root = _folder(tmp_path)
    (root / "benign" / ".ipynb_checkpoints").mkdir()
    Image.fromarray(np.zeros((12, 12), np.uint8)).save(root / "benign" / ".ipynb_checkpoints" / "0-checkpoint.png")
    (root / "malignant" / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")
    s = load_folder(root)
    sources = sorted(str(p) for part in (s.train, s.val, s.test) for p in part.sources)
    assert sources == sorted(str(root / c / f"{i}.png") for c in ("benign", "malignant") for i in range(10))


def test_skip_bad_leaves_out_unreadable_and_missing_images_and_lists_them(tmp_path):
    root = _folder(tmp_path, per_class=10)
    (root / "benign" / "9.png").write_bytes(b"not a png")  # a damaged file in the folder
    with pytest.raises(MedtrainError, match=r"cannot read image .*9\.png"):
        load_folder(root)
    s = load_folder(root, skip_bad=True)
    assert len(s.train) + len(s.val) + len(s.test) == 19
    assert [(Path(x["path"]).name, "cannot read image" in x["reason"]) for x in s.extra["skipped"]] == [("9.png", True)]
    assert "benign/9.png" not in s.record.inputs and "malignant/9.png" in s.record.inputs  # split after leaving it out: not in splits.csv either
    rows = ["path,label"] + [f"imgs/{c}/{i}.png,{c}" for c in ("benign", "malignant") for i in range(10)]
    (tmp_path / "labels.csv").write_text("\n".join(rows + ["imgs/benign/gone.png,benign"]) + "\n")
    with pytest.raises(MedtrainError, match="image not found"):
        load_csv(tmp_path / "labels.csv")
    s = load_csv(tmp_path / "labels.csv", skip_bad=True)
    assert sorted(Path(x["path"]).name for x in s.extra["skipped"]) == ["9.png", "gone.png"]
    assert len(s.record.inputs) == 19 and s.label_names == {"0": "benign", "1": "malignant"}


def test_skip_bad_does_not_let_a_class_vanish(tmp_path):
    # every image of one class unreadable: --skip-bad would have trained a 2-class model on a 3-class CSV
    _folder(tmp_path, per_class=10, classes=("a", "b", "c"))
    for i in range(10):
        (tmp_path / "imgs" / "b" / f"{i}.png").write_bytes(b"junk")
    rows = ["path,label"] + [f"imgs/{c}/{i}.png,{c}" for c in "abc" for i in range(10)]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(MedtrainError, match=r"labels\.csv: every image of class 'b' is unreadable \(10 skipped"):
        load_csv(tmp_path / "labels.csv", skip_bad=True)
    with pytest.raises(MedtrainError, match=r"imgs: every image of class 'b' is unreadable \(10 skipped"):
        load_folder(tmp_path / "imgs", skip_bad=True)  # was 'class b has no training images'


def test_a_csv_written_on_windows_finds_its_images(tmp_path):
    _folder(tmp_path, per_class=10)
    rows = ["path,label"] + [f"imgs\\{c}\\{i}.png,{c}" for c in ("benign", "malignant") for i in range(10)]
    (tmp_path / "labels.csv").write_text("\r\n".join(rows) + "\r\n")
    s = load_csv(tmp_path / "labels.csv")
    assert len(s.train) + len(s.val) + len(s.test) == 20 and s.label_names == {"0": "benign", "1": "malignant"}
    assert "imgs\\benign\\0.png" in s.record.inputs  # splits.csv names the rows as the CSV wrote them


@pytest.mark.parametrize("store", ["memory", "mmap"])
def test_images_that_are_not_square_need_an_image_size(tmp_path, store):
    """A 40x36 folder trained at 40x36, and predict, export and explain then rebuilt the input as 36x36 (a
    walkthrough): every run takes square inputs, so other shapes are resized by --image-size, or refused."""
    from PIL import Image

    from medtrain.config import resolve
    from medtrain.data import load_splits

    for c in "ab":
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.zeros((36, 40), np.uint8)).save(tmp_path / "d" / c / f"{i}.png")
    cfg = {"data": str(tmp_path / "d"), "store": store, "data_dir": str(tmp_path / "cache"),
           "val_fraction": 0.34, "test_fraction": 0.34}
    with pytest.raises(MedtrainError, match=r"images are not square \(.*is 40x36\); pass --image-size N"):
        load_splits(resolve(cfg))
    assert load_splits(resolve({**cfg, "image_size": 20})).train.images.shape[-2:] == (20, 20)
