"""A patient-grouped run says how many patients each class has in each split (walk 'clinic' 8a): the report's Data
table gave images per class and a `groups` count per split while every printed line spoke of patients, and the
patients per class per split (what a clinical reader sizes a test set by) were nowhere.

A patient counts under a class where at least one of its images has that label, so a patient with images of both
classes counts under both, and a split's classes can sum to more than its patients."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medtrain import config as config_mod
from medtrain.data import load_splits
from medtrain.data.base import Split, Splits
from medtrain.reports.html import run_report
from medtrain.reports.summary import run_summary
from medtrain.rundir import data_summary

from conftest import HtmlTables, png_csv
import test_html

#: (split, patient, label) per image: A, E and I have images of both classes
IMAGES = [("train", "A", 0), ("train", "A", 1), ("train", "B", 0), ("train", "C", 1), ("train", "C", 1),
          ("train", "D", 0), ("val", "E", 0), ("val", "E", 1), ("val", "F", 0),
          ("test", "G", 0), ("test", "G", 0), ("test", "H", 1), ("test", "I", 0), ("test", "I", 1)]


@pytest.mark.filterwarnings("ignore:.*fewer than 5 each to train on")  # 14 images, on purpose
def test_patients_per_class_count_a_patient_under_each_class_it_has_an_image_of(tmp_path):
    rng = np.random.default_rng(0)
    csv = png_csv(tmp_path, [rng.integers(0, 255, (8, 8), dtype=np.uint8) for _ in IMAGES],
                  [y for _, _, y in IMAGES], ("normal", "pneumonia"),
                  columns={"split": [s for s, _, _ in IMAGES], "patient_id": [p for _, p, _ in IMAGES]})
    d = data_summary(load_splits(config_mod.resolve({"data": str(csv)})))
    assert d["groups"] == {"train": 4, "val": 2, "test": 3}
    # train: normal A, B, D; pneumonia A, C. val: normal E, F; pneumonia E. test: normal G, I; pneumonia H, I
    assert d["patients_per_class"] == {"train": [3, 2], "val": [2, 1], "test": [2, 2]}


def test_multi_label_patients_are_counted_per_label():
    y = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    split = Split(torch.zeros(4, 1, 4, 4, dtype=torch.uint8), y)
    s = Splits("m", "multi-label, binary-class", {"0": "a", "1": "b"}, split, split, split,
               extra={"groups": {k: ["p", "q", "q", "r"] for k in ("train", "val", "test")}})
    d = data_summary(s)
    assert d["groups"]["test"] == 3 and d["patients_per_class"]["test"] == [2, 1]  # a: p, q; b: q; r carries none


def _metrics(classes) -> dict:
    """test_html.py's metrics.json of a run with ``classes``, its data grouped (50/5/10 patients; per class 30, 31,
    ... in every split)."""
    m = test_html._metrics(names=classes, groups={"groups": {"train": 50, "val": 5, "test": 10}, "shared_groups": 0,
                                                  "patients_per_class": {s: [30 + i for i in range(len(classes))]
                                                                         for s in ("train", "val", "test")}})
    for s in m["data"]["splits"]:
        s["counts"] = [s["n"] // len(classes)] * len(classes)
    return m


def test_the_report_s_data_table_gives_patients_per_split_and_per_class_and_says_how_they_count():
    m = _metrics(("normal", "pneumonia"))
    page = run_report({}, m, {}, m["data"])
    table = next(t for t in HtmlTables(page).tables if t[0][0] == "split")
    assert table[0] == ["split", "images", "normal", "pneumonia", "patients"]
    assert table[3] == ["test", "80", "40 (50.0%) · 30 patients", "40 (50.0%) · 31 patients", "10"]
    text = " ".join(page.split())
    section = text.split("<h2>Data</h2>")[1].split("<h2>")[0]
    assert "No patient appears in more than one split." in section and "group" not in section
    assert "a patient with images of two classes counts under both" in text

    many = _metrics([f"class_{i}_with_a_long_name" for i in range(8)])  # classes as rows: the same counts
    table = next(t for t in HtmlTables(run_report({}, many, {}, many["data"])).tables if t[0][0] == "class")
    assert table[2] == ["class_0_with_a_long_name", "50 (12.5%) · 30 patients", "5 (12.5%) · 30 patients",
                        "10 (12.5%) · 30 patients"]
    assert table[-1] == ["patients", "50", "5", "10"]


def test_the_printed_summary_gives_the_patients_per_split_of_grouped_data():
    out = {"best_epoch": 4, "stop_epoch": 9, "train_images_per_s": 321.0, "wall_s": 61.4,
           "test": {"auc": 0.9123, "acc": 0.8456, "auc_ci": [0.85, 0.96], "acc_ci": [0.79, 0.9]},
           "calibration": {"temperature": 1.5, "test": {"ece": 0.1, "ece_scaled": 0.04}}}
    assert run_summary({**out, "data": {"groups": {"train": 98, "val": 15, "test": 30}}}, "x", "val_auc").splitlines()[
        0] == "best epoch 5 (by val_auc), stopped after epoch 10; 321 train images/s; wall 61 s; patients " \
              "train/val/test 98/15/30"
    assert run_summary(out, "x", "val_auc").splitlines()[0].endswith("wall 61 s")  # images only: no patients clause


def test_the_run_s_first_line_gives_the_patients_per_split_of_grouped_data(tmp_path):
    """The start of a run says how many patients each split holds beside its images (it gave images alone; the
    summary at the end said the patients); data without patients keep the line as it was."""
    import torch

    from medtrain.api import start_line
    from medtrain.data.base import Split, Splits

    def split(n, patients):
        return Split(torch.zeros(n, 1, 8, 8, dtype=torch.uint8), torch.arange(n) % 2,
                     groups=None if patients is None else [f"p{i % patients}" for i in range(n)])

    grouped = Splits("own", "binary-class", {"0": "a", "1": "b"}, split(12, 5), split(4, 2), split(6, 3))
    assert start_line(grouped, "resnet18_28_half", tmp_path) == (
        f"medtrain: own (binary-class, 2 classes, train/val/test 12/4/6 of 5/2/3 patients, 1x8x8) -> "
        f"resnet18_28_half, run {tmp_path}")
    plain = Splits("own", "binary-class", {"0": "a", "1": "b"}, split(12, None), split(4, None), split(6, None))
    assert "train/val/test 12/4/6, 1x8x8" in start_line(plain, "resnet18_28_half", tmp_path)


def test_the_start_line_says_a_2d_network_on_volumes_is_inflated_and_a_3d_one_is_not(tmp_path):
    """A 2D network on volumes had been inflated to 3D without a word, training at a quarter of the default 3D
    network's speed (a walk)."""
    import torch

    from medtrain.api import start_line
    from medtrain.data.base import Split, Splits

    def split(n):
        return Split(torch.zeros(n, 1, 8, 8, 8, dtype=torch.uint8), torch.arange(n) % 2)

    volumes = Splits("vol", "binary-class", {"0": "a", "1": "b"}, split(6), split(2), split(2))
    assert start_line(volumes, "resnet18_28_half", tmp_path).endswith(
        f"1x8x8x8) -> resnet18_28_half (a 2D network, its kernels inflated to 3D: I3D), run {tmp_path}")
    assert start_line(volumes, "med3d_resnet10", tmp_path).endswith(f"1x8x8x8) -> med3d_resnet10, run {tmp_path}")
    assert start_line(volumes, "med3d_resnet10-separable", tmp_path).endswith(
        f"-> med3d_resnet10-separable, run {tmp_path}")  # a 3D network, its convolutions separable (a review)
