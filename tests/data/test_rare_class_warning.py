"""A class with fewer than 5 training images trains as it is, but is said in one line per load, with its images in
train/val/test: a class of 3 images in a CSV without a split column is split 1/1/1, so the network learned it from
one image and its test AUC and recall rested on one, without a word (a class of 2 is refused: it cannot fill three
splits). Said for a split column given by the user too, and for a multi-label label's positives or negatives."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import png_csv
from medtrain.data import load_csv
from medtrain.data._table_checks import RareClassWarning
from medtrain.data.split import encode_labels, split_record
from medtrain.errors import MedtrainError


def _said(*args, **kwargs) -> list[str]:
    """The rare-class lines :func:`split_record` gives for these arguments."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        split_record(*args, **kwargs)
    return [str(w.message) for w in caught if issubclass(w.category, RareClassWarning)]


def _classes(counts: dict) -> tuple:
    values = [name for name, n in counts.items() for _ in range(n)]
    y, names = encode_labels(values)
    return [str(i) for i in range(len(y))], y, names


def test_a_class_of_three_images_split_one_one_one_is_said_with_its_counts():
    inputs, y, names = _classes({"normal": 60, "cyst": 30, "lymphoma": 3})
    said = _said(inputs, y, None, 0.1, 0.2, 0, label_names=names, source="labels.csv")
    assert said == ["labels.csv: class 'lymphoma' has 3 images (train 1, val 1, test 1), fewer than 5 to train on: "
                    "the network learns it from 1 image, and its test AUC and recall rest on 1 image; add images of "
                    "it, or merge it into a related class"]
    # a split of part of the data (in-memory arrays drawing their val split) leaves it to the load of the whole
    assert _said(inputs, y, None, 0.1, 0.2, 0, label_names=names, say_rare=False) == []


def test_classes_of_five_training_images_or_more_are_not_said():
    inputs, y, names = _classes({"normal": 60, "cyst": 30, "scar": 8})
    record = split_record(inputs, y, None, 0.1, 0.2, 0, label_names=names)
    scar = int(next(k for k, v in names.items() if v == "scar"))
    assert [((y == scar) & (record.assign == p)).sum() for p in range(3)] == [5, 1, 2]  # trains on exactly 5
    assert _said(inputs, y, None, 0.1, 0.2, 0, label_names=names) == []


def _given(c_train: int) -> list[str]:
    """The rare-class lines of a split column: 'a' 30/5/5, 'b' 3/1/0, 'c' ``c_train``/1/0."""
    splits = ["train"] * 30 + ["val"] * 5 + ["test"] * 5 + ["train"] * 3 + ["val"] + ["train"] * c_train + ["val"]
    y, names = encode_labels(["a"] * 40 + ["b"] * 4 + ["c"] * (c_train + 1))
    return _said([str(i) for i in range(len(y))], y, splits, 0.1, 0.2, 0, label_names=names)


def test_a_given_split_column_is_said_of_too_and_five_training_images_are_enough():
    said = _given(4)  # 'b' trains on 3, 'c' on 4: one line naming both, 'a' (30) left out
    assert len(said) == 1
    assert said[0].startswith("class 'b' has 4 images (train 3, val 1, test 0), class 'c' has 5 images (train 4, "
                              "val 1, test 0), fewer than 5 each to train on")
    said = _given(5)
    assert len(said) == 1 and "class 'c'" not in said[0]
    assert said[0].startswith("class 'b' has 4 images (train 3, val 1, test 0), fewer than 5 to train on: the "
                              "network learns it from 3 images, and its test AUC and recall rest on 0 images")


def test_a_multilabel_label_of_few_positives_or_few_negatives_is_said():
    rng = np.random.default_rng(0)
    n = 120
    y = np.zeros((n, 3), np.int64)
    y[:, 0] = rng.random(n) < 0.5  # plenty of both
    y[:4, 1] = 1  # 4 positives in all: fewer than 5 in train
    y[:, 2] = 1
    y[4:8, 2] = 0  # 4 negatives in all
    names = {"0": "Atelectasis", "1": "Hernia", "2": "Support Devices"}
    said = _said([str(i) for i in range(n)], y, None, 0.1, 0.2, 0, label_names=names, source="ml.csv")
    assert len(said) == 1
    line = said[0]
    assert line.startswith("ml.csv: label 'Hernia' has 4 positive images (train ")
    assert "label 'Support Devices' has 4 negative images (train " in line
    assert "Atelectasis" not in line and "test AUC, recall and specificity rest on" in line


def test_one_line_per_load_of_a_csv_of_images(tmp_path):
    rng = np.random.default_rng(0)
    labels = ["normal"] * 20 + ["cyst"] * 12 + ["lymphoma"] * 3
    png_csv(tmp_path, [rng.integers(0, 255, (8, 8), dtype=np.uint8) for _ in labels], labels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = load_csv(tmp_path / "labels.csv")
    said = [str(w.message) for w in caught if issubclass(w.category, RareClassWarning)]
    assert len(said) == 1 and "class 'lymphoma' has 3 images (train 1, val 1, test 1)" in said[0], said
    assert len(s.train) + len(s.val) + len(s.test) == 35  # trained on as it is: nothing refused or dropped


def test_a_class_of_two_is_still_refused_in_one_line():
    inputs, y, names = _classes({"normal": 60, "lymphoma": 2})
    with pytest.raises(MedtrainError, match=r"class 'lymphoma' has 2 images \(none in"):
        split_record(inputs, y, None, 0.1, 0.2, 0, label_names=names)
