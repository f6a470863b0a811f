"""A run's operating point read back from its weights' metadata the one way (``operating_point.from_meta``, which
eval, predict, export and the run's own predictions file use), the labels that kept 0.5 worded one way, and
cross-validation's per-label rates over folds: a std only where at least 2 folds define the rate."""
from __future__ import annotations

import warnings

import numpy as np

from medtrain import operating_point
from medtrain.crossval import to_markdown
from medtrain.reports.summary import operating_point_line


def test_from_meta_reads_binary_multilabel_and_none():
    binary = operating_point.from_meta({"threshold": 0.25, "positive_class": 0, "operating_point": "youden"},
                                       ["benign", "malignant"])
    assert (binary.rule, binary.threshold, binary.positive, binary.per_label) == ("youden", 0.25, 0, False)
    assert binary.decision == (0.25, 0)
    # no positive_class recorded: the last class, positive_index's default, which training writes
    assert operating_point.from_meta({"threshold": 0.4}, ["a", "b"]).positive == \
        operating_point.positive_index(None, {"0": "a", "1": "b"}) == 1
    multi = operating_point.from_meta({"thresholds": [0.2, 0.5, 0.7], "thresholds_not_chosen": ["b"],
                                       "operating_point": "sensitivity=0.9"}, ["a", "b", "c"])
    assert multi.per_label and multi.positive is None and multi.not_chosen == ("b",)
    assert multi.decision == ([0.2, 0.5, 0.7], None)
    assert operating_point.from_meta({"temperature": 1.3}, ["a", "b"]) is None


def test_the_kept_labels_are_worded_alike_in_the_warning_and_the_summary_line():
    y = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    s = np.array([[0.9, 0.1], [0.2, 0.3], [0.8, 0.2], [0.1, 0.4]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        thresholds, kept = operating_point.choose_label_thresholds(y, s, "youden", ["Edema", "Hernia"])
    assert kept == ["Hernia"] and thresholds[1] == operating_point.KEPT
    clause = operating_point.kept_clause(kept)
    assert clause == "1 kept at 0.5, 'Hernia': no validation positive or negative to choose one on"
    assert any(clause in str(w.message) for w in caught)
    op = {"per_label": {}, "not_chosen": kept,
          "summary": {"labels": 2, "mean_sensitivity": 1.0, "sensitivity_labels": 1, "mean_specificity": 1.0,
                      "specificity_labels": 2, "labels_sensitivity_0": [], "images": 4, "images_called": 2,
                      "images_with_finding": 2}}
    assert f"({clause})" in operating_point_line(op, "youden")


def _cv(per_label: dict) -> dict:
    return {"summary": {}, "per_fold": [], "held_out": "test", "oof": {"auc": 0.8, "acc": 0.7, "n": 10},
            "operating_point_per_label": per_label}


def test_a_label_s_rate_over_folds_has_a_std_only_from_two_folds():
    nan = float("nan")
    md = to_markdown(_cv({
        "two": {"sensitivity": {"mean": 0.6, "std": 0.1, "folds": 2}, "specificity": {"mean": 0.9, "std": 0.05,
                                                                                     "folds": 3}},
        "one": {"sensitivity": {"mean": 0.5, "std": 0.0, "folds": 1}, "specificity": {"mean": 0.8, "std": 0.0,
                                                                                     "folds": 1}},
        "none": {"sensitivity": {"mean": nan, "std": nan, "folds": 0}, "specificity": {"mean": 0.7, "std": 0.2,
                                                                                      "folds": 2}}}))
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:4]]
            for line in md.splitlines() if line.startswith("| ") and line.split("|")[1].strip() in
            ("two", "one", "none")}
    assert rows["two"] == ["0.600 ± 0.100", "0.900 ± 0.050"]
    assert rows["one"] == ["0.500 (1 fold)", "0.800 (1 fold)"]  # had been "0.500 ± 0.000"
    assert rows["none"] == ["–", "0.700 ± 0.200"]  # had been "nan ± nan"
    assert "nan" not in md and "± 0.000" not in md
