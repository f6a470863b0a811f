"""The printed summary, the run report and a cross-validation's pooled note say why an AUC interval is not the
bootstrap's as ``auc_ci_reason`` records it: over few patients (a patient-grouped run) they had said "fewer than
30 images of a class", though the split held 120 images and Newcombe's interval counted the 8 patients; and a
perfect separation of many images is no matter of few of them."""
from __future__ import annotations

import html as markup

import numpy as np

from conftest import few_patients_scores
from medtrain import metrics
from medtrain.crossval import report_data
from medtrain.reports.html import run_report
from medtrain.reports.summary import auc_acc_line

NAMES2 = {"0": "benign", "1": "malignant"}


def _binary(per_class: int, images: int = 1, seed: int = 0):
    """``per_class`` units (patients of ``images`` images where more than 1) a class, scores that separate them
    but for one swapped pair of images (an AUC below 1)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.repeat([0, 1], per_class), images)
    p1 = np.where(y == 1, rng.uniform(0.5, 1, len(y)), rng.uniform(0, 0.6, len(y)))
    groups = (np.arange(len(y)) // images).astype(str) if images > 1 else None
    return y, np.stack([1 - p1, p1], 1), groups


def _test(y, s, task, groups=None, names=NAMES2):
    res = metrics.evaluate_scores(y, s, task, names, bootstrap=100, groups=groups)
    res.pop("scores")
    return res


def _page(task: str, test: dict) -> str:
    html = run_report({}, {"task": task, "history": [], "best_epoch": 0, "stop_epoch": 0,
                           "val": {"auc": 0.9, "acc": 0.8}, "test": test}, {})
    return markup.unescape(" ".join(html.split()))


def _note(oof: dict) -> str:
    return report_data({"oof": oof, "held_out": "test", "folds": 3, "per_fold": [], "dataset": "d"}, {})["pooled_note"]


def test_a_patient_grouped_run_s_newcombe_interval_is_said_to_be_over_few_patients():
    grouped = _test(*_binary(4, images=15)[:2], "binary-class", _binary(4, images=15)[2])
    assert grouped["auc_ci_reason"] == "few patients of a class" and grouped["n"] == 120
    line = auc_acc_line(grouped, "test ")
    assert "Newcombe's score interval: fewer than 30 test patients of a class" in line and "images of a" not in line
    page = _page("binary-class", grouped)
    assert "Newcombe's score interval: fewer than 30 patients of a class" in page
    assert "30 images of a class" not in page
    assert "(fewer than 30 patients of a class" in _note(grouped)


def test_a_run_of_independent_images_says_images():
    y, s, _ = _binary(8)
    single = _test(y, s, "binary-class")
    assert single["auc_ci_reason"] == "few images of a class"
    assert "Newcombe's score interval: fewer than 30 test images of a class" in auc_acc_line(single, "test ")
    assert "Newcombe's score interval: fewer than 30 images of a class" in _page("binary-class", single)
    assert "(fewer than 30 images of a class" in _note(single)


def test_a_perfect_separation_of_many_images_is_said_as_such_not_as_few_images():
    y = np.repeat([0, 1], 30)
    p = np.where(y == 1, 0.9, 0.1)
    res = _test(y, np.stack([1 - p, p], 1), "binary-class")
    assert res["auc_ci_reason"] == "bootstrap degenerate: perfect separation"
    for text in (auc_acc_line(res, "test "), _page("binary-class", res), _note(res)):
        assert "separate the classes perfectly" in text and "fewer than 30" not in text


def test_a_multi_class_run_over_few_patients_says_patients_for_its_score_and_class_intervals():
    y, groups, s = few_patients_scores()  # 4 patients of 8 images a class
    res = _test(y, s, "multi-class", groups,
                {str(i): f"c{i}" for i in range(4)})
    assert res["auc_ci_method"] == "score" and res["auc"] < 1
    line = auc_acc_line(res, "test ")
    assert "too few test patients per class" in line and "logit interval has no width" not in line
    page = _page("multi-class", res)
    assert "too few patients per class" in page and "DeLong's variance is 0" not in page
    assert "The AUC intervals of 4 classes (c0, c1, c2, c3) with fewer than 30 test patients of their own" in page
    assert "too few patients per class" in _note(res)


def test_a_multi_class_run_says_which_class_intervals_are_for_a_perfect_separation():
    y = np.repeat(np.arange(3), [40, 40, 9])
    s = np.full((len(y), 3), 0.2)
    s[np.arange(len(y)), y] = 0.6  # every class perfectly separated from the rest; the third has 9 images
    page = _page("multi-class", _test(y, s, "multi-class", names={str(i): f"c{i}" for i in range(3)}))
    assert "The AUC intervals of 1 class (c2) with fewer than 30 test images of their own" in page
    assert "The AUC intervals of 2 classes (c0, c1) whose scores separate them perfectly from the rest (AUC 1 or 0) are " \
           "Newcombe's score intervals" in page
