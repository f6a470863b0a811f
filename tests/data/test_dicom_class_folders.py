"""DICOM as users hold it: class folders of 2D DICOM files read exactly as a labels.csv listing them is read
(:mod:`medtrain.data._dicom_folder`; a tree mixing them with PNG files refused, as such a CSV is; a 3D series in a
class folder refused with the CSV advice), and a colour DICOM series (a 3D volume of RGB/YBR slices) refused in one
line, not read as grey.

Files are written in the test with pydicom; nothing is downloaded.
"""
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pydicom.uid import generate_uid

from medtrain.config import resolve
from medtrain.data import load_splits
from medtrain.data._dicom_folder import dicom_tree, load_dicom_folder
from medtrain.data.dicom import read_dicom_image
from medtrain.data.folder import load_folder
from medtrain.data.split import PARTS
from medtrain.data.volumes import load_entry, load_volume_folder

from test_dicom import write_series, write_slice
from test_dicom_fidelity import _colour_data, red_and_green, write_dicom
from test_dicom_forms import _one_line




# --------------------------------------------------------------------------- colour series


def _colour_series(folder: Path, photometric="RGB", slices=4) -> Path:
    uid = generate_uid()
    for k in range(slices):
        im = red_and_green(seed=k)
        if photometric != "RGB":
            from pydicom.pixels import convert_color_space

            im = convert_color_space(im, "RGB", photometric)
        write_dicom(folder / f"{k}.dcm", im, photometric=photometric, modality="XC", series=uid, position=(0, 0, k))
    return folder


@pytest.mark.parametrize("photometric", ["RGB", "YBR_FULL"])
def test_a_colour_series_is_refused_in_one_line_not_read_as_grey(tmp_path, photometric):
    # a series of RGB slices had become a one-channel volume of their luminance: red and green of equal
    # luminance one grey, without a word
    series = _colour_series(tmp_path / "s", photometric)
    msg = _one_line("colour DICOM series are not supported", load_entry, series, size=(4, 8, 8))
    assert str(series) in msg and "grey" in msg


def test_a_csv_of_colour_series_is_refused_naming_the_series_and_grey_ones_still_load(tmp_path):
    grey_uid = generate_uid()
    for k in range(4):  # a grey series beside the colour ones: read as before
        write_dicom(tmp_path / "g" / f"{k}.dcm", np.full((16, 16), 100 + 20 * k, np.uint16), modality="MR",
                    series=grey_uid, position=(0, 0, k))
    _colour_series(tmp_path / "c1")
    (tmp_path / "labels.csv").write_text("path,label\ng,a\nc1,b\n")
    cfg = {"data": str(tmp_path), "data_dir": str(tmp_path / "cache"), "volume_size": 8}
    msg = _one_line("colour DICOM series are not supported", load_splits, resolve(cfg))
    assert str(tmp_path / "c1") in msg
    arr, _ = load_entry(tmp_path / "g", size=(4, 8, 8))
    assert arr.shape == (4, 8, 8) and arr.min() == 0 and arr.max() == 255


# --------------------------------------------------------------------------- class folders of 2D DICOM


def _tree(root: Path, per_class=8) -> Path:
    """Two classes of 16x16 2D DICOM files of mixed kinds: CT in stored values with a rescale to HU, MR,
    MONOCHROME1 radiographs; two files of one patient in each class; and their CSV twin ``root/twin.csv``."""
    rng = np.random.default_rng(0)
    rows = ["path,label"]
    for c in ("normal", "pneumonia"):
        for i in range(per_class):
            name = root / c / f"{i:02d}.dcm"
            pixels = rng.integers(0, 2000, (16, 16)) + (300 if c == "pneumonia" else 0)
            if i % 3 == 2:  # a radiograph stored bright-is-air
                write_dicom(name, pixels.astype(np.uint16), photometric="MONOCHROME1", modality="DX",
                            PatientID=f"{c}-{i}")
            else:
                write_slice(name, pixels, (0, 0, 0), generate_uid(), modality="CT" if i % 3 == 0 else "MR",
                            patient_id=f"{c}-{i // 2}", slope=1.0, intercept=-1024.0)
            rows.append(f"{name.relative_to(root).as_posix()},{c}")
    (root / "twin.csv").write_text("\n".join(rows) + "\n")
    return root


def _same(a, b) -> None:
    assert a.label_names == b.label_names and a.task == b.task
    assert np.array_equal(a.record.assign, b.record.assign)
    for part in PARTS:
        x, y = a.split(part), b.split(part)
        assert x.sources == y.sources and x.groups == y.groups, part
        assert torch.equal(x.labels, y.labels) and torch.equal(x.images, y.images), part
    assert a.extra == b.extra


@pytest.mark.parametrize("image_size, window", [(None, None), (12, "lung")])
def test_a_dicom_class_tree_loads_as_its_csv_twin(tmp_path, image_size, window):
    # class folders of .dcm files had been refused ("write a labels.csv") although PNG class folders load
    root = _tree(tmp_path / "xr")
    cache = tmp_path / "cache"
    tree = load_dicom_folder(root, image_size=image_size, window=window, data_dir=cache, val_fraction=0.25)
    csv = load_volume_folder(root, root / "twin.csv", image_size=image_size, window=window, cache_dir=cache,
                             val_fraction=0.25)
    _same(tree, csv)
    assert tree.train.images.shape[1:] == (1, image_size or 16, image_size or 16)
    assert sorted(tree.label_names.values()) == ["normal", "pneumonia"]
    assert tree.extra["normalisation"] == ({"window": 6, "percentile": 10} if window else
                                           {"window": 0, "percentile": 16})
    if image_size is None:  # each image as the DICOM reader reads it: HU, percentiles, MONOCHROME1 inverted
        for part in PARTS:
            for src, image in zip(tree.split(part).sources, tree.split(part).images):
                assert np.array_equal(image[0].numpy(), read_dicom_image(src)), src


def test_unnamed_dicom_files_in_class_folders_are_known_by_their_marker(tmp_path):
    root = _tree(tmp_path / "export", per_class=4)
    for p in root.glob("*/*.dcm"):
        p.rename(p.with_name(f"IM{p.stem}"))
    (root / "normal" / "DICOMDIR").write_bytes((root / "normal" / "IM00").read_bytes())  # an index, not an image
    (root / "normal" / "README.txt").write_text("exported")
    s = load_dicom_folder(root, data_dir=tmp_path / "cache", val_fraction=0.25, test_fraction=0.25)
    names = sorted(Path(src).name for part in PARTS for src in s.split(part).sources)
    assert names == sorted([f"IM{i:02d}" for i in range(4)] * 2)


def test_colour_dicom_class_folders_load_as_the_pngs_of_the_same_pixels(tmp_path):
    _colour_data(tmp_path)
    for p in sorted((tmp_path / "png").glob("*/*.png")):  # the DICOM twin of each PNG, in a class folder alike
        dst = tmp_path / "tree" / p.parent.name / f"{p.stem}.dcm"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "dcm" / f"{p.stem}.dcm", dst)
    kw = dict(val_fraction=0.25, test_fraction=0.25, data_dir=tmp_path / "cache")
    dcm, png = load_dicom_folder(tmp_path / "tree", **kw), load_folder(tmp_path / "png", **kw)
    assert dcm.train.images.shape[1:] == png.train.images.shape[1:] == (3, 16, 16)
    by_name = lambda s: {Path(x).stem: im for part in PARTS for x, im in zip(s.split(part).sources,  # noqa: E731
                                                                             s.split(part).images)}
    a, b = by_name(dcm), by_name(png)
    assert sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_a_tree_mixing_dicom_and_png_is_refused_naming_both_as_its_csv_is(tmp_path):
    root = _tree(tmp_path / "xr", per_class=4)
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(root / "pneumonia" / "extra.png")
    msg = _one_line("mixes image files", dicom_tree, root)
    assert str(root / "pneumonia" / "extra.png") in msg and str(root / "normal" / "00.dcm") in msg
    assert "one kind per data set" in msg
    # the CSV listing the same files is refused alike
    (root / "twin.csv").write_text((root / "twin.csv").read_text() + "pneumonia/extra.png,pneumonia\n")
    _one_line("mixes image files", load_splits, resolve({"data": str(root / "twin.csv")}))
    # a class of PNG beside a class of DICOM: the same
    for p in (root / "pneumonia").glob("*.dcm"):
        p.unlink()
    _one_line("mixes image files", dicom_tree, root)
    (root / "pneumonia" / "extra.png").unlink()  # a class of no DICOM file: named
    (root / "pneumonia" / "notes.txt").write_text("x")
    _one_line("class 'pneumonia' has no DICOM files", dicom_tree, root)
    (root / "pneumonia" / "scan.nii.gz").write_bytes(b"")  # 2D DICOM beside a volume, as a CSV refuses them
    _one_line("mixes 2D DICOM files .* and NIfTI volumes", dicom_tree, root)


def test_a_folder_of_png_class_folders_is_no_dicom_tree(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / c / "x.png")
        (tmp_path / c / "notes").write_text("no DICM marker")
    assert dicom_tree(tmp_path) is None and dicom_tree(tmp_path / "a") is None


def test_a_dicom_series_in_a_class_folder_is_refused_with_the_csv_advice_not_read_as_slices(tmp_path):
    root = tmp_path / "ct"
    for c in ("a", "b"):
        for k in range(2):
            write_series(root / c / f"series{k}", np.zeros((4, 8, 8), np.int16) + 10 * k)
    msg = _one_line("holds a DICOM series", dicom_tree, root)
    assert "a/series0,a" in msg and str(root / "labels.csv") in msg and f"--data {root}" in msg
    # sub-folders of single images of other series (one per patient, say) are 2D images
    flat, rng = tmp_path / "nested", np.random.default_rng(1)
    for c in ("a", "b"):
        for k in range(4):
            for j in range(2):
                write_slice(flat / c / f"patient{k}" / f"{j}.dcm", rng.integers(0, 500, (8, 8)), (0, 0, 0),
                            generate_uid(), modality="MR", patient_id=f"{c}{k}")
    s = load_dicom_folder(flat, data_dir=tmp_path / "cache", val_fraction=0.25, test_fraction=0.25)
    assert sum(len(s.split(part)) for part in PARTS) == 16


def test_store_mmap_on_a_dicom_class_tree_is_refused_in_one_line(tmp_path):
    root = _tree(tmp_path / "xr", per_class=4)
    _one_line("--store mmap: .* is not converted to a memory-mapped store", load_dicom_folder, root, store="mmap",
              data_dir=tmp_path / "cache")


def test_skip_bad_leaves_out_a_damaged_dicom_file_of_a_class_tree_and_lists_it(tmp_path):
    root = _tree(tmp_path / "xr", per_class=6)
    bad = root / "normal" / "03.dcm"
    bad.write_bytes(bad.read_bytes()[:300])
    kw = dict(data_dir=tmp_path / "cache", val_fraction=0.25, test_fraction=0.25)
    _one_line("03.dcm", load_dicom_folder, root, **kw)
    s = load_dicom_folder(root, skip_bad=True, **kw)
    assert [x["path"] for x in s.extra["skipped"]] == [str(bad)]
    assert sum(len(s.split(part)) for part in PARTS) == 11


@pytest.mark.parametrize("as_csv", [False, True])
def test_skip_bad_does_not_drop_a_whole_class(tmp_path, as_csv):
    # every file of one class unreadable: --skip-bad had made a two-class task a one-class one through the CSV
    root = _tree(tmp_path / "xr", per_class=4)
    for f in (root / "normal").glob("*.dcm"):
        f.write_bytes(f.read_bytes()[:300])
    load = (lambda: load_volume_folder(root, root / "twin.csv", skip_bad=True, cache_dir=tmp_path / "cache")) \
        if as_csv else (lambda: load_dicom_folder(root, skip_bad=True, data_dir=tmp_path / "cache"))
    msg = _one_line("every entry of class 'normal' is unreadable", load)
    assert "4 skipped" in msg
