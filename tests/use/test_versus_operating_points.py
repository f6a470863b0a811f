"""``eval RUN --vs OTHER`` of binary runs with operating points compares them where they decide: each run's calls
at its own threshold, read as calls of one positive class, their sensitivity and specificity paired with McNemar's
exact test. Two runs with thresholds of their own had been said to "make the same call on every image" (at 0.5)
while their deployed calls differed on 44 of 120 images (a reader's walk)."""
from __future__ import annotations

import numpy as np
import pytest

from medtrain._predictions_csv import SavedPredictions
from medtrain.versus import at_operating_points, versus_summary

NAMES = ["benign", "malignant"]


def _saved(called_malignant, decisions=True):
    called = np.asarray(called_malignant, bool)
    scores = np.where(called[:, None], [0.4, 0.6], [0.6, 0.4])
    return SavedPredictions(np.zeros(len(called), int), scores, None, None,
                            [NAMES[int(c)] for c in called] if decisions else None)


def test_each_run_is_read_at_its_own_threshold_and_paired_on_positives_and_negatives():
    y = np.array([1] * 10 + [0] * 20)
    a = np.r_[np.ones(10), np.ones(8), np.zeros(12)]    # sensitivity 1.0, specificity 12/20
    b = np.r_[np.ones(6), np.zeros(4), np.zeros(20)]    # sensitivity 0.6, specificity 1.0
    ops = ({"operating_point": {"rule": "sensitivity=0.95", "threshold": 0.2, "positive_class": "malignant"}},
           {"operating_point": {"rule": "youden", "threshold": 0.7, "positive_class": "malignant"}})
    at = at_operating_points(y, (NAMES, NAMES), ops, (_saved(a), _saved(b)), grouped=False)
    assert at["calls_differ"] == 12 and at["positive_class"] == "malignant"
    sens, spec = at["sensitivity"], at["specificity"]
    assert (sens["run"], sens["other"], sens["run_only_correct"], sens["other_only_correct"]) == (1.0, 0.6, 4, 0)
    assert (spec["run"], spec["other"], spec["run_only_correct"], spec["other_only_correct"]) == (0.6, 1.0, 0, 8)
    assert spec["p"] == pytest.approx(2 / 2 ** 8)  # McNemar's exact: 0 of 8 discordant negatives, two-sided
    assert "p" not in at_operating_points(y, (NAMES, NAMES), ops, (_saved(a), _saved(b)), grouped=True)["sensitivity"]
    res = {"run": "A", "other": "B", "split": "test", "n": 30, "patients": None, "same_test_set": "digest",
           "bootstrap": 0, "operating_points": at,
           **{k: {"run": 0.7, "other": 0.7, "difference": 0.0, "difference_ci": [0.0, 0.0], "test": "McNemar exact",
                  "p": 1.0, "run_only_correct": 0, "other_only_correct": 0} for k in ("auc", "acc")}}
    text = versus_summary(res)
    assert "the same call on every image at 0.5: their operating points below" in text
    assert ("at their operating points (first: sensitivity=0.95, threshold 0.2000, positive class 'malignant'; "
            "second: youden, threshold 0.7000, positive class 'malignant'), as calls of 'malignant': they differ on "
            "12 image(s)") in text
    assert "specificity 0.600 vs 1.000: -0.400, McNemar exact p = 0.00781 (of the 20 negatives: 0 right only" in text


def test_a_run_without_one_is_read_at_0_5_and_positive_classes_that_differ_are_said():
    y = np.array([1, 1, 0, 0])
    ops = ({"operating_point": {"rule": "youden", "threshold": 0.3, "positive_class": "benign"}}, {})
    at = at_operating_points(y, (NAMES, NAMES), ops, (_saved([0, 1, 1, 1]), _saved([1, 1, 0, 0], decisions=False)), False)
    assert at["positive_class"] == "benign" and at["other"] is None
    assert at["sensitivity"]["n"] == 2 and (at["sensitivity"]["run"], at["sensitivity"]["other"]) == (0.0, 1.0)
    assert at_operating_points(y, (NAMES, NAMES), ({}, {}), (_saved([1] * 4), _saved([1] * 4)), False) is None
    both = ({"operating_point": {"rule": "youden", "threshold": 0.3, "positive_class": "benign"}},
            {"operating_point": {"rule": "youden", "threshold": 0.6, "positive_class": "malignant"}})
    at = at_operating_points(y, (NAMES, NAMES), both, (_saved([0, 1, 1, 1]), _saved([1, 1, 0, 0])), False)
    from medtrain.versus import _op_lines

    assert "name different positive classes, 'benign' and 'malignant'" in "\n".join(_op_lines(at))


def test_runs_that_name_the_classes_apart_are_read_by_index():
    # two runs of one data, one naming the classes '0' and '1': its calls had all read as negatives
    y = np.array([1, 1, 0, 0])
    other = SavedPredictions(np.zeros(4, int), np.zeros((4, 2)), None, None, ["1", "1", "0", "0"])
    ops = ({"operating_point": {"rule": "youden", "threshold": 0.5, "positive_class": "malignant"}},
           {"operating_point": {"rule": "youden", "threshold": 0.5, "positive_class": "1"}})
    at = at_operating_points(y, (NAMES, ["0", "1"]), ops, (_saved([1, 1, 0, 0]), other), False)
    assert at["calls_differ"] == 0 and at["sensitivity"]["other"] == 1.0 and at["specificity"]["other"] == 1.0
