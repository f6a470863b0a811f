"""What the printed summary and the report say of a multi-label mean AUC whose interval is the mean of its labels'
(``auc_ci_method`` ``"label-mean"``, :func:`medtrain._auc_interval.label_mean`): how it is made and why, in place
of "(95% bootstrap CIs)" beside an interval that is not the bootstrap's; the printed AUC 1.0000 [1.000, 1.000] of
a perfectly separated set is gone."""
from __future__ import annotations

import html as markup

import numpy as np

from medtrain import metrics
from medtrain.reports.html import run_report
from medtrain.reports.summary import auc_acc_line, auc_interval_sentence, run_summary

ML = "multi-label, binary-class"
NAMES = {"0": "a", "1": "b", "2": "c"}


def _page(test: dict) -> str:
    m = {"task": ML, "history": [], "best_epoch": 0, "stop_epoch": 0, "val": {"auc": 0.9, "acc": 0.8}, "test": test}
    return markup.unescape(" ".join(run_report({}, m, {}).split()))


def _printed(test: dict) -> str:
    out = {"task": ML, "best_epoch": 0, "stop_epoch": 0, "train_images_per_s": 1.0, "wall_s": 1.0, "test": test,
           "calibration": {"temperature": 1.0, "test": {"ece": 0.1, "ece_scaled": 0.1}}}
    return run_summary(out, "chestmnist", "val_auc")


def _separated(n: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.zeros((n, 3), int)
    for j, m in enumerate((40, 50, 60)):
        y[rng.permutation(n)[:m], j] = 1
    return y, np.where(y == 1, 0.8, 0.2) + rng.random(y.shape) * 0.1


def test_a_perfectly_separated_multilabel_test_split_prints_and_reports_the_label_mean_interval():
    y, s = _separated()
    res = metrics.evaluate_scores(y, s, ML, NAMES, bootstrap=100)
    res.pop("scores")
    printed = _printed(res)
    lo = res["auc_ci"][0]
    assert lo < 1 and f"test AUC 1.0000 [{lo:.3f}, 1.000]" in printed and "[1.000, 1.000]" not in printed
    assert "(95% CIs: ACC's is Wilson's: every image right; AUC's is the mean of the ends of the labels' own " \
           "intervals" in printed  # neither interval is a bootstrap one, and the line says so
    assert "scores separate every label perfectly, so every resample gives 1 and a bootstrap interval would be " \
           "the point [1, 1]" in printed
    page = _page(res)
    assert "The overall AUC's, the mean over labels, is the mean of the ends of the labels' own intervals" in page
    assert "the scores separate every label perfectly (mean AUC 1.000)" in page
    assert "claims no more than the labels' intervals do" in page


def test_few_test_patients_of_a_label_are_said_as_patients():
    rng = np.random.default_rng(4)
    patient = (rng.random((16, 3)) < [0.5, 0.4, 0.3]).astype(int)
    patient[0], patient[1] = 1, 0
    y = np.repeat(patient, 3, axis=0)
    s = np.clip(0.35 * y + 0.65 * rng.random(y.shape), 0, 1)
    res = metrics.evaluate_scores(y, s, ML, NAMES, bootstrap=100, groups=np.repeat(np.arange(16), 3).astype(str))
    res.pop("scores")
    assert res["auc_ci_method"] == "label-mean"
    line = auc_acc_line(res, "test ", task=ML)
    assert "(95% bootstrap CIs over 16 patients; AUC's is the mean of the ends of the labels' own intervals" in line
    assert "a label has fewer than 30 test patients of a side (positive or negative), too few for a bootstrap " \
           "interval of AUC to hold 95%" in line
    assert "a label has fewer than 30 test patients of a side" in _page(res)
    # one sentence, for the line and for a cross-validation's note alike
    assert auc_interval_sentence(res, "test images") in line
    assert auc_interval_sentence({"auc": 0.9, "auc_ci": [0.8, 0.95]}) is None  # a bootstrap interval: nothing
