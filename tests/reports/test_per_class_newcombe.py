"""A class's one-vs-rest AUC is a binary AUC, whatever the task: with fewer than 30 test images on a side it takes
Newcombe's interval in a multi-class run as a multi-label run's label does. An 8-class run's 'cyst' of 9 test
images had shown ``0.895 [–]`` while a label of 8 positives got Newcombe's."""
from __future__ import annotations

import html as markup

import numpy as np
import pytest

from medtrain import metrics
from medtrain.reports.html import run_report


def _rare_class(seed: int = 0):
    """4 classes, 'cyst' with 9 of 129 images; scores with signal."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2, 3], [40, 40, 40, 9])
    s = rng.dirichlet(np.ones(4), len(y))
    s[np.arange(len(y)), y] += 0.4
    return y, s / s.sum(1, keepdims=True)


def test_a_small_class_s_auc_takes_newcombe_s_interval_as_a_label_with_as_few_positives_does():
    y, s = _rare_class()
    names = {"0": "normal", "1": "benign", "2": "adenoma", "3": "cyst"}
    cyst = metrics.per_class_ci(y, s, "multi-class", names, n=100)["cyst"]
    auc = metrics._safe_auc(y == 3, s[:, 3])
    assert cyst["auc_ci_method"] == "newcombe" and cyst["auc_ci"] == pytest.approx(
        metrics.newcombe_auc_interval(auc, 9, len(y) - 9))
    # the same column as a multi-label task's label: the same interval
    ml = metrics.per_class_ci((y.reshape(-1, 1) == np.arange(4)).astype(int), s, "multi-label, binary-class",
                              names, n=100)["cyst"]
    assert ml["auc_ci"] == pytest.approx(cyst["auc_ci"]) and ml["auc_ci_method"] == "newcombe"
    # patients of 2 images: Newcombe's over the patients, 5 of cyst against 60 of the other classes, as for labels
    grouped = metrics.per_class_ci(y, s, "multi-class", names, n=50, groups=np.arange(len(y)) // 2)
    assert grouped["cyst"]["auc_ci"] == metrics.newcombe_auc_interval(auc, 5, 60)


def test_the_report_counts_the_classes_with_newcombe_s_auc_interval():
    y, s = _rare_class()
    test = metrics.evaluate_scores(y, s, "multi-class", {str(i): f"c{i}" for i in range(4)}, bootstrap=50)
    test.pop("scores")
    html = run_report({}, {"task": "multi-class", "history": [], "best_epoch": 0, "stop_epoch": 0,
                           "val": {"auc": 0.9, "acc": 0.8}, "test": test}, {})
    text = markup.unescape(" ".join(html.split()))
    assert "The AUC intervals of 1 class (c3) with fewer than 30 test images of their own or of the other classes " \
           "are Newcombe's score intervals" in text  # named: a reader of 4 classes had to guess which one


def test_the_report_s_count_for_newcombe_s_class_intervals_is_intervals_few_for_auc(monkeypatch):
    """The page's "fewer than N" is intervals.FEW_FOR_AUC, the number metrics decides by, not a copy of it."""
    from medtrain import intervals

    y, s = _rare_class()
    test = metrics.evaluate_scores(y, s, "multi-class", {str(i): f"c{i}" for i in range(4)}, bootstrap=50)
    test.pop("scores")
    monkeypatch.setattr(intervals, "FEW_FOR_AUC", 12)
    html = run_report({}, {"task": "multi-class", "history": [], "best_epoch": 0, "stop_epoch": 0,
                           "val": {"auc": 0.9, "acc": 0.8}, "test": test}, {})
    text = markup.unescape(" ".join(html.split()))
    assert "The AUC intervals of 1 class (c3) with fewer than 12 test images of their own" in text and "than 30" not in text
