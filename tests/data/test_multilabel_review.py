"""Multi-label CSVs as a reviewer found them: a label of too few negatives refused by the splitter's one check,
before any image is decoded or a store written (it had been refused by ``Splits.validate`` after both, in another
wording); a CSV read as multi-label where no cell joins two labels, an empty cell an image of no label
(``medtrain eval MLRUN --data test.csv`` of a small test set without a two-finding image had been refused:
"line 3 has an empty label"); the label CSV read once per load, its warnings said once (it had been read to tell
volumes, then again by the loader)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import fast_config, make_two_findings, png_csv, read_rows, run_cli
from medtrain.config import Config
from medtrain.data import load_csv, load_splits
from medtrain.data.split import split_record
from medtrain.data.table import NoFindingWarning, read_label_csv
from medtrain.errors import MedtrainError
from medtrain.external import external_file, external_predictions_file


def _csv(root: Path, cells: list[str], name: str = "labels.csv") -> Path:
    """A CSV of path,label with one grey 8x8 PNG per cell (labels joined by ``|``)."""
    rng = np.random.default_rng(0)
    return png_csv(root, [rng.integers(0, 255, (8, 8), dtype=np.uint8) for _ in cells], cells, name=name)


def _two_negatives_of_b() -> list[str]:
    """100 rows: A on about 40%, B on all but the first two (2 negatives cannot fill train, val and test)."""
    rng = np.random.default_rng(0)
    return ["|".join((["A"] if rng.random() < 0.4 else []) + (["B"] if i >= 2 else [])) for i in range(100)]


def test_a_label_of_two_negatives_is_refused_by_the_splitter_naming_its_negatives():
    rng = np.random.default_rng(0)
    y = np.zeros((100, 2), np.int64)
    y[:, 0] = rng.random(100) < 0.4
    y[2:, 1] = 1  # label B: 2 negatives
    with pytest.raises(MedtrainError) as e:
        split_record([str(i) for i in range(100)], y, None, 0.1, 0.2, 0, label_names={"0": "A", "1": "B"})
    msg = str(e.value)
    assert msg.startswith("label 'B' has 2 negative images (none in ") and "\n" not in msg
    assert "every label needs a positive and a negative image in each of train, val, test" in msg


def test_a_csv_whose_label_has_two_negatives_is_refused_before_a_store_is_written(tmp_path):
    data, cache = _csv(tmp_path, _two_negatives_of_b()), tmp_path / "cache"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(MedtrainError) as e:
            load_csv(data, store="mmap", data_dir=cache)
    msg = str(e.value)
    # the splitter's line (Splits.validate's had been "in the val split, label 'B' (no negative): ...")
    assert msg.startswith(f"{data}: label 'B' has 2 negative images (none in ") and "\n" not in msg
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))  # nothing decoded into a store


def test_a_given_test_split_without_a_negative_is_refused_by_the_splitter_too(tmp_path):
    y = np.array([[1, 0], [0, 1], [1, 1], [1, 0], [0, 1], [1, 1], [0, 1]])
    splits = ["train"] * 3 + ["val"] * 2 + ["test"] * 2  # test: label 1 never negative
    with pytest.raises(MedtrainError) as e:
        split_record([str(i) for i in range(len(y))], y, splits, 0.1, 0.2, 0, label_names={"0": "A", "1": "B"})
    assert str(e.value).startswith("the test split has no negative image of label 'B' (2 in all), so the test AUC "
                                   "is undefined")


def test_a_csv_read_as_multilabel_takes_one_label_per_cell_and_an_empty_cell_as_none(tmp_path):
    data = tmp_path / "test.csv"
    data.write_text("path,label\na.png,Effusion\nb.png,\nc.png,Nodule\n")
    table = read_label_csv(data, multilabel=True)
    assert table.label_names == ["Effusion", "Nodule"]
    assert table.label_sets == [("Effusion",), (), ("Nodule",)]
    with pytest.raises(MedtrainError, match="line 3 has an empty label"):  # not said to be multi-label: one class
        read_label_csv(data)


@pytest.fixture(scope="module")
def ml_run(tmp_path_factory):
    """A 1-epoch multi-label run of two labels ('0': a square in the top half, '1': one in the bottom half of 16x16
    grey images) from an .npz, and its test images and labels."""
    import medtrain

    root = tmp_path_factory.mktemp("ml_review")
    arrays = make_two_findings()
    np.savez(root / "ml.npz", **arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        medtrain.train(fast_config(root / "ml.npz", root / "run", epochs=1, bootstrap=0), verbose=False)
    return root / "run", arrays["test_images"], arrays["test_labels"]


def test_eval_of_a_multilabel_run_on_a_csv_of_one_label_or_none_per_image_scores_as_the_npz(ml_run, tmp_path,
                                                                                          capsys):
    run, images, labels = ml_run
    keep = labels.sum(1) < 2  # a small test set without an image of both findings
    images, labels = images[keep], labels[keep]
    np.savez(tmp_path / "same.npz", test_images=images, test_labels=labels)
    one = png_csv(tmp_path, images, labels, name="one.csv")  # a label '0', '1' or '' (no finding) per image
    assert {r["label"] for r in read_rows(one)} == {"0", "1", ""}
    code, _, err = run_cli(capsys, "eval", run, "--data", tmp_path / "same.npz")
    assert code == 0, err
    code, _, err = run_cli(capsys, "eval", run, "--data", tmp_path / "one.csv")
    assert code == 0, err  # had been 2: "one.csv: line 3 has an empty label"
    want = json.loads((run / external_file(tmp_path / "same.npz")).read_text())
    got = json.loads((run / external_file(one)).read_text())
    assert got["n"] == len(labels) and got["auc"] == pytest.approx(want["auc"], abs=1e-9)
    truth = [r["true_label"] for r in read_rows(run / external_predictions_file(one))]
    assert truth == [r["true_label"] for r in read_rows(run / external_predictions_file(tmp_path / "same.npz"))]


def test_a_load_reads_the_label_csv_once_so_its_warning_is_said_once(tmp_path):
    rng = np.random.default_rng(0)
    names = ["Atelectasis", "Effusion", "No Finding"]
    cells = ["|".join(n for n in names if rng.random() < 0.4) or "No Finding" for _ in range(60)]
    data = _csv(tmp_path, cells)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        splits = load_splits(Config(data=str(data)))
    assert splits.label_names == {"0": "Atelectasis", "1": "Effusion", "2": "No Finding"}
    no_finding = [str(w.message) for w in said if w.category is NoFindingWarning and "of its own" in str(w.message)]
    assert len(no_finding) == 1 and "'No Finding'" in no_finding[0]  # had been said twice
    beside = [str(w.message) for w in said if w.category is NoFindingWarning and "beside a finding" in str(w.message)]
    assert len(beside) == 1  # these random cells name it beside findings too: said once as well


def test_the_split_check_names_a_class_as_the_fold_and_rare_class_lines_do():
    """One naming of a class (``_folds.label_name``): the split check had quoted "Crohn's" as 'Crohn's'."""
    y = np.array([0] * 40 + [1] * 30 + [2])
    names = {"0": "normal", "1": "colitis", "2": "Crohn's"}
    with pytest.raises(MedtrainError) as e:
        split_record([f"{i}.png" for i in range(len(y))], y, None, 0.1, 0.2, 0, label_names=names)
    assert str(e.value).startswith('class "Crohn\'s" has 1 image (none in val or test)')
    with pytest.raises(MedtrainError, match='class "Crohn\'s"'):
        split_record([f"{i}.png" for i in range(len(y))], y, None, 0.1, 0.2, 0, folds=3, fold=0, label_names=names)
