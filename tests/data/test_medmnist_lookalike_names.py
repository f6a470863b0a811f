"""An .npz is taken as a MedMNIST set, and printed beside its published MedMNIST v2 rows, only where it is the set as
released: named as MedMNIST names its files (``pneumoniamnist.npz``, ``pneumoniamnist_64.npz``) and holding its
official split sizes (``medmnist.INFO``'s ``n_samples``). A course's 300/80/120 ``pneumoniamnist_small.npz`` had been
shown beside rows measured on the official 624-image test split, and ``pneu_small.npz`` had been named "pneu"
(walk 'course', finding 3). The rows are looked up by the data's name (``metrics.json``'s ``dataset``), so the name
decides them."""
from __future__ import annotations


import numpy as np
import pytest

from conftest import warned
from medtrain.data.medmnist import NamedLikeMedmnistWarning, load_npz
from medtrain.reports.baselines import comparison_table
from medtrain.reports.html import baselines
from medtrain.training.choices import lateral_labels

BREAST = (546, 78, 156)  # BreastMNIST's official train / val / test sizes


def _npz(path, sizes=(6, 4, 4), classes=2):
    """Tiny 28-px grey images in MedMNIST layout, every class in every split."""
    arrays = {}
    for split, n in zip(("train", "val", "test"), sizes):
        arrays[f"{split}_images"] = np.zeros((n, 28, 28), np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % classes).reshape(-1, 1).astype(np.uint8)
    np.savez(path, **arrays)
    return path


def _load(path):
    """The loaded splits and the lines said of them as they loaded."""
    splits, caught = warned(NamedLikeMedmnistWarning, load_npz, path)
    return splits, [str(w.message) for w in caught]


def _has_published_rows(name: str) -> bool:
    """Whether the printed summary and report.html show the MedMNIST v2 rows for data of this name."""
    printed = "(MedMNIST v2)" in comparison_table(name, 0.7, 0.6)
    assert printed == bool(baselines(name))  # the report shows what the summary prints
    return printed


def test_a_subset_named_after_a_set_is_its_own_data_without_the_published_rows(tmp_path):
    splits, said = _load(_npz(tmp_path / "pneumoniamnist_small.npz", sizes=(30, 8, 12)))
    assert splits.name == "pneumoniamnist_small"  # its whole stem, not "pneumoniamnist"
    assert not _has_published_rows(splits.name)
    assert said == ["pneumoniamnist_small.npz: named like PneumoniaMNIST but its splits are 30/8/12, not "
                    "4708/524/624: shown as pneumoniamnist_small, without the published rows"]
    # what its labels mean is still PneumoniaMNIST's
    assert splits.task == "binary-class" and splits.label_names == {"0": "normal", "1": "pneumonia"}


def test_a_subset_saved_under_the_set_s_own_name_gets_no_published_rows(tmp_path):
    splits, said = _load(_npz(tmp_path / "pneumoniamnist.npz"))
    assert splits.name == "pneumoniamnist.npz" and not _has_published_rows(splits.name)
    assert len(said) == 1 and "its splits are 6/4/4, not 4708/524/624" in said[0]


def test_a_user_s_file_is_named_by_its_whole_stem(tmp_path):
    splits, said = _load(_npz(tmp_path / "pneu_small.npz"))
    assert splits.name == "pneu_small" and said == []  # not "pneu"; nothing to say of a name no set has
    assert splits.label_names == {"0": "0", "1": "1"}


@pytest.mark.parametrize("stem", ["breastmnist", "breastmnist_64", "breastmnist_224", "breastmnist_28"])
def test_a_file_of_the_official_sizes_named_as_medmnist_names_it_is_the_set(tmp_path, stem):
    splits, said = _load(_npz(tmp_path / f"{stem}.npz", sizes=BREAST))
    assert splits.name == "breastmnist" and _has_published_rows(splits.name) and said == []
    assert splits.label_names == {"0": "malignant", "1": "normal, benign"}


@pytest.mark.parametrize("stem", ["breastmnist_copy", "breastmnist_32"])
def test_the_official_sizes_under_another_name_are_not_taken_for_the_set(tmp_path, stem):
    """The rule is the name and the sizes both; such a file is told how MedMNIST names its files."""
    splits, said = _load(_npz(tmp_path / f"{stem}.npz", sizes=BREAST))
    assert splits.name == stem and not _has_published_rows(splits.name)
    assert said == [f"{stem}.npz: named like BreastMNIST but MedMNIST names its files breastmnist.npz or "
                    f"breastmnist_N.npz (N 64, 128, 224): shown as {stem}, without the published rows"]
    assert splits.label_names == {"0": "malignant", "1": "normal, benign"}


def test_a_subset_of_organamnist_keeps_its_lateral_label_names_which_turn_flips_off(tmp_path):
    """Only the published rows need the official sizes: a subset's labels still name sides (``kidney-left``), and
    flips (which swap them) stay off without a trial."""
    splits, said = _load(_npz(tmp_path / "organamnist_small.npz", sizes=(22, 11, 11), classes=11))
    assert splits.name == "organamnist_small" and len(said) == 1 and not _has_published_rows(splits.name)
    assert splits.label_names["4"] == "kidney-left" and "kidney-right" in lateral_labels(splits.label_names)


def test_labels_that_are_not_the_set_s_are_read_as_the_file_s_own(tmp_path):
    """Three classes in a file named after binary BreastMNIST: its own classes, said in the same line (it had
    been refused: label 2 out of BreastMNIST's range)."""
    splits, said = _load(_npz(tmp_path / "breastmnist_three.npz", classes=3))
    assert splits.name == "breastmnist_three" and splits.label_names == {"0": "0", "1": "1", "2": "2"}
    assert len(said) == 1 and "its labels are not BreastMNIST's 2 classes: read as its own" in said[0]


@pytest.mark.parametrize("file", ["pneumoniamnist.npz", "breastmnist.npz", "retinamnist.npz"])
def test_the_real_medmnist_files_are_the_sets_as_before(real_data, file):
    splits, said = _load(real_data / file)
    flag = file[:-len(".npz")]
    assert splits.name == flag and _has_published_rows(flag) and said == []


def test_a_folder_or_csv_named_after_a_set_is_the_user_s_own_data(tmp_path):
    """The published rows are found by the data's name: a user's folder ``breastmnist/`` or ``breastmnist.csv`` is
    named by what they wrote (with its ``/`` or suffix), not taken for the set; another name stays as it was."""
    from conftest import make_images, png_csv
    from medtrain.data.folder import load_csv, load_folder

    images, labels = make_images(40, seed=0)
    folder = png_csv(tmp_path / "breastmnist", images, labels, path="{label}/{i:03d}.png", name=None)
    listed = png_csv(tmp_path / "listed", images, labels, path="imgs/{i:03d}.png", name="breastmnist.csv")
    mine = png_csv(tmp_path / "mine", images, labels, path="imgs/{i:03d}.png", name="lesions.csv")
    names = [load_folder(folder).name, load_csv(listed).name, load_csv(mine).name]
    assert names == ["breastmnist/", "breastmnist.csv", "lesions"]
    assert not any(_has_published_rows(n) for n in names[:2]) and _has_published_rows("breastmnist")
