"""A label CSV that would leak an image across splits, or leave a class out of a split it is scored on, is
refused in one line before anything is decoded or trained; a split medtrain makes holds every class."""
import os

import numpy as np
import pytest
from PIL import Image

from medtrain.cli import main
from medtrain.data import load_csv, load_folder
from medtrain.data.split import assign_splits, encode_labels, split_record, stratified_split
from medtrain.data.table import read_label_csv
from medtrain.errors import MedtrainError


def _csv(tmp_path, rows, header="path,label", images=True):
    """A label CSV of ``rows`` (with the PNGs it names, unless ``images`` is False)."""
    if images:
        for r in rows:
            path = tmp_path / r.split(",")[0].strip()
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                Image.fromarray(np.full((8, 8), len(r) * 7 % 256, np.uint8), "L").save(path)
    (tmp_path / "labels.csv").write_text("\n".join([header, *rows]) + "\n")
    return tmp_path / "labels.csv"


def _one_line(e, *parts):
    msg = str(e.value)
    assert "\n" not in msg and all(p in msg for p in parts), msg


@pytest.mark.parametrize("second", ["images/im_0718.png", "./images/im_0718.png", "images/../images/im_0718.png"])
def test_an_image_listed_twice_is_refused_naming_it_and_both_lines(tmp_path, second):
    rows = [f"images/im_{i:04d}.png,{'ab'[i % 2]}" for i in range(20)] + ["images/im_0718.png,a", f"{second},b"]
    with pytest.raises(MedtrainError, match=r"images/im_0718\.png is listed twice \(lines 22 and 23") as e:
        read_label_csv(_csv(tmp_path, rows, images=False))
    _one_line(e, "labels.csv")


def test_the_same_image_for_two_patients_is_refused_before_any_split(tmp_path):
    rows = [f"p{i}.png,{'ab'[i % 2]},P{i}" for i in range(12)] + ["p3.png,b,P7"]
    with pytest.raises(MedtrainError, match=r"p3\.png is listed twice \(lines 5 and 14\)"):
        load_csv(_csv(tmp_path, rows, header="path,label,patient"))


def _images(tmp_path, n=12):
    """``imgs/horiz_NN.png`` and ``imgs/vert_NN.png`` and the rows listing each once."""
    rows = [f"imgs/{c}_{i:02d}.png,{c}" for i in range(n) for c in ("horiz", "vert")]
    _csv(tmp_path, rows)
    return rows


def test_a_csv_naming_one_image_twice_once_with_backslashes_is_refused_naming_both_rows(tmp_path):
    # training reads imgs\horiz_01.png as imgs/horiz_01.png: the two rows had been dealt into train and test
    rows = _images(tmp_path) + ["imgs\\horiz_01.png,horiz"]
    with pytest.raises(MedtrainError) as e:
        read_label_csv(_csv(tmp_path, rows, images=False))
    _one_line(e, "labels.csv: imgs/horiz_01.png is listed twice (lines 4 and 26, the second time as "
                 "imgs\\horiz_01.png)")
    with pytest.raises(MedtrainError, match=r"listed twice \(lines 4 and 26"):
        load_csv(tmp_path / "labels.csv")


@pytest.mark.parametrize("link", [os.symlink, os.link])
def test_a_csv_naming_a_link_to_a_listed_image_is_refused_naming_both_rows(tmp_path, link):
    rows = _images(tmp_path)
    link("horiz_01.png" if link is os.symlink else tmp_path / "imgs/horiz_01.png", tmp_path / "imgs/other.png")
    with pytest.raises(MedtrainError) as e:
        read_label_csv(_csv(tmp_path, rows + ["imgs/other.png,horiz"], images=False))
    _one_line(e, "imgs/horiz_01.png is listed twice (lines 4 and 26, the second time as imgs/other.png, the same file)")


def test_a_copy_of_an_image_is_not_taken_for_the_image(tmp_path):
    rows = _images(tmp_path)
    (tmp_path / "imgs/copy.png").write_bytes((tmp_path / "imgs/horiz_01.png").read_bytes())
    assert len(read_label_csv(_csv(tmp_path, rows + ["imgs/copy.png,horiz"], images=False)).paths) == 25


def test_entries_resolved_from_another_folder_than_the_csvs_are_compared_there(tmp_path):
    # the volume loader resolves a CSV's paths from its data folder, not from the CSV's own
    (tmp_path / "data").mkdir()
    (tmp_path / "data/a.nii.gz").write_bytes(b"x")
    os.symlink("a.nii.gz", tmp_path / "data/b.nii.gz")
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists/labels.csv").write_text("path,label\na.nii.gz,x\nb.nii.gz,y\n")
    table = read_label_csv(tmp_path / "lists/labels.csv")  # nothing of that name beside the CSV
    assert len(table.resolve()) == 2
    with pytest.raises(MedtrainError, match=r"labels\.csv: a\.nii\.gz is listed twice \(lines 2 and 3, the second "
                                            r"time as b\.nii\.gz, the same file\)"):
        table.resolve(tmp_path / "data")


def _typo_rows():
    """40 'benign' and 30 'malignant' images, one 'atypical ' (stray space) and one 'benign_' (a typo)."""
    rows = [f"b{i}.png,benign" for i in range(40)] + [f"m{i}.png,malignant" for i in range(30)]
    return rows + ["x.png,benign_", "y.png, atypical "]


def test_a_class_too_small_for_the_splits_is_refused_naming_it(tmp_path):
    table = read_label_csv(_csv(tmp_path, _typo_rows(), images=False))
    assert table.labels[-2:] == ["benign_", "atypical"]  # cells are stripped, as CSV users expect
    y, names = encode_labels(table.labels)
    with pytest.raises(MedtrainError) as e:
        split_record(table.paths, y, None, 0.1, 0.2, 0, label_names=names, source=table.source)
    _one_line(e, "labels.csv: ", "class 'benign_' has 1 image (none in val or test)",
              "class 'atypical' has 1 image", "train, val, test")
    assert "'malignant'" not in str(e.value)
    # without a test split, two images of a class are enough: one for train, one for val
    y2 = np.array([0] * 40 + [1] * 30 + [2] * 2 + [3] * 2)
    a = assign_splits(y2, None, 0.1, 0.0, 0)
    assert {(int(c), int(p)) for c, p in zip(y2, a)} == {(c, p) for c in range(4) for p in (0, 1)}


def test_a_class_too_small_that_is_a_case_twin_of_another_is_named_with_it():
    """Label names no reader checked for case twins (a CSV or class folders refuse them as they are read)."""
    y = np.array([0] * 40 + [1] * 30 + [2])
    names = {"0": "benign", "1": "malignant", "2": "Benign"}
    with pytest.raises(MedtrainError) as e:
        split_record([f"{i}.png" for i in range(len(y))], y, None, 0.1, 0.2, 0, label_names=names)
    _one_line(e, "class 'Benign' has 1 image (none in val or test) — did you mean 'benign'?")


def test_a_run_on_a_csv_with_a_one_image_class_exits_2_before_training(tmp_path, capsys):
    data = _csv(tmp_path, _typo_rows())
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--epochs", "1", "--no-progress", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "has 1 image (none in val or test)" in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_folder_class_of_one_image_is_refused(tmp_path):
    for c, n in (("benign", 20), ("rare", 1)):
        (tmp_path / c).mkdir()
        for i in range(n):
            Image.fromarray(np.full((8, 8), i, np.uint8), "L").save(tmp_path / c / f"{i}.png")
    with pytest.raises(MedtrainError, match=r"^.*: class 'rare' has 1 image \(none in val or test\); every class"):
        load_folder(tmp_path)  # named by the folder and the class's name


def test_a_folder_of_two_images_per_class_is_refused_naming_the_classes_and_the_split_they_miss(tmp_path):
    """Two images cannot fill train, val and test: said per class, as for one image, not "the val split is
    empty"; without a test split they can (one train, one val)."""
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(2):
            Image.fromarray(np.full((8, 8), i, np.uint8), "L").save(tmp_path / c / f"{i}.png")
    with pytest.raises(MedtrainError) as e:
        load_folder(tmp_path)
    _one_line(e, "class 'a' has 2 images (none in val)", "class 'b' has 2 images (none in val)",
              "every class needs an image in each of train, val, test", "change val_fraction/test_fraction")
    s = load_folder(tmp_path, test_fraction=0.0)
    assert (len(s.train), len(s.val), len(s.test)) == (2, 2, 0)


@pytest.mark.parametrize("seed", range(5))
def test_a_small_class_gets_an_image_in_each_split_and_the_others_split_as_before(seed):
    y = np.array([0] * 40 + [1] * 25 + [2] * 4)  # 4 images: rounding alone gives val none (4 * 0.1 -> 0)
    a = assign_splits(y, None, 0.1, 0.2, seed)
    assert [int((a[y == 2] == p).sum()) for p in (0, 1, 2)] == [2, 1, 1]
    assert (a[y < 2] == stratified_split(y, 0.1, 0.2, seed)[y < 2]).all()


def test_few_patients_still_give_a_validation_split_with_every_class():
    # cross-validation on 12 patients: after the held-out fold, 6 patients (3 per class) are left to split
    y = np.repeat([0, 1] * 6, 3)
    groups = [f"P{i // 3}" for i in range(36)]
    for fold in (0, 1):
        a = assign_splits(y, None, 0.1, 0.2, 0, groups, folds=2, fold=fold)
        for p in (0, 1, 2):
            assert set(y[a == p].tolist()) == {0, 1}
        assert len({g for g, s in zip(groups, a) if s == 1}) == 2  # one patient of each class


def test_a_given_split_whose_val_lacks_a_class_of_train_is_refused_naming_it(tmp_path):
    rows = [f"a{i}.png,cyst,{('train', 'val', 'test')[i % 3]}" for i in range(9)]
    rows += [f"b{i}.png,tumour,{('train', 'test')[i % 2]}" for i in range(6)]
    table = read_label_csv(_csv(tmp_path, rows, header="path,label,split", images=False))
    y, names = encode_labels(table.labels)
    with pytest.raises(MedtrainError) as e:
        split_record(table.paths, y, table.splits, 0.1, 0.2, 0, label_names=names, source=table.source)
    _one_line(e, "labels.csv: the val split has no image of class 'tumour' (6 in all)", "validation AUC")
    with pytest.raises(MedtrainError, match=r"labels\.csv: the val split has no image of class 'tumour' \(6 in all\)"):
        load_csv(_csv(tmp_path, rows, header="path,label,split"))  # the loader names the file and the class


def test_multi_label_official_splits_need_every_label_of_train_in_val():
    y = np.array([[1, 0], [0, 1], [1, 1], [1, 0], [0, 0], [0, 1], [1, 0]])
    splits = ["train", "train", "train", "val", "val", "test", "test"]
    with pytest.raises(MedtrainError, match=r"val split has no positive image of label 1 \(3 in all\)"):
        assign_splits(y, splits, 0.1, 0.2, 0)
    y[4] = [0, 1]  # a positive of label 1 in val
    assert assign_splits(y, splits, 0.1, 0.2, 0).tolist() == [0, 0, 0, 1, 1, 2, 2]
