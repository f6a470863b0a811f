"""What the report and the printed line say of a multi-label run's bootstrap: its rows are drawn freely, not within
classes (``intervals.class_strata`` is None for them), so a label with few positives is missing from some
resamples, where the mean AUC over labels is undefined; its interval then rests on fewer resamples than were
drawn, and says on how many (a 14-label run with one positive of a label among 160 images: 657 of 1000). The
report had said the resamples were "drawn within each class (each class keeps its count, as the split drew
it)" for multi-label runs too."""
from __future__ import annotations

import html as markup

import numpy as np

from medtrain import metrics
from medtrain.reports.html import run_report
from medtrain.reports.summary import auc_acc_line, run_summary

ML = "multi-label, binary-class"
VAL = {"auc": 0.9, "acc": 0.8}


def _one_positive_label(n: int = 160, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 3)) < [0.4, 0.3, 0.0]).astype(int)
    y[7, 2] = 1  # one positive: in about 1 - 1/e of the resamples
    s = np.clip(0.4 * y + 0.6 * rng.random((n, 3)), 0, 1)
    return y, s


def _page(task: str, test: dict) -> str:
    m = {"task": task, "history": [], "best_epoch": 0, "stop_epoch": 0, "val": VAL, "test": test}
    return markup.unescape(" ".join(run_report({}, m, {}).split()))


def _bootstrap_headline(y, s) -> dict:
    """The run's evaluation with the bootstrap's own mean-AUC interval as its headline: since session 30 a label with
    few positives gives the headline the mean of its labels' intervals instead (label-mean,
    tests/metrics/test_multilabel_mean_interval.py), so a bootstrap interval resting on fewer resamples is the
    wording's case where that rule does not apply."""
    res = metrics.evaluate_scores(y, s, ML, {"0": "a", "1": "b", "2": "rare"}, bootstrap=400)
    assert res["auc_ci_method"] == "label-mean"
    boot = metrics.bootstrap_ci(y, s, ML, 400)
    for k in ("auc_ci_method", "auc_ci_reason"):
        res.pop(k)
    res.update(auc_ci=boot["auc_ci"], auc_ci_draws=boot["auc_ci_draws"])
    return res


def test_a_multilabel_auc_interval_says_on_how_many_resamples_it_rests():
    y, s = _one_positive_label()
    res = _bootstrap_headline(y, s)
    used = res["auc_ci_draws"]
    assert 200 <= used < 400 and np.isfinite(res["auc_ci"]).all() and res["acc_ci_draws"] == 400
    said = (f"AUC's interval rests on the {used} of 400 resamples in which it is defined: in the others a label "
            "had no positive or no negative image")
    assert f"(95% bootstrap CIs; {said})" in auc_acc_line(res, "test ", task=ML)
    assert f" {said}." in _page(ML, res)  # the printed line's sentence, word for word
    # where the task is not known (a re-evaluation's line), the same sentence names either
    assert said.replace("a label", "a class or label") in auc_acc_line(res, "test ")


def test_the_printed_summary_and_the_report_say_the_resamples_sentence_in_one_wording():
    """summary words it, the page renders it: they had been written twice ("a class or label had no positive or no
    negative" in the printed line, "a label had no positive (or no negative) image" on the page)."""
    y, s = _one_positive_label()
    res = _bootstrap_headline(y, s)
    res.pop("scores")
    out = {"task": ML, "best_epoch": 0, "stop_epoch": 0, "train_images_per_s": 1.0, "wall_s": 1.0, "test": res,
           "calibration": {"temperature": 1.0, "test": {"ece": 0.1, "ece_scaled": 0.1}}}
    printed = run_summary(out, "chestmnist", "val_auc")
    said = printed[printed.index("AUC's interval rests on"):printed.index("image)") + len("image")]
    assert said.startswith(f"AUC's interval rests on the {res['auc_ci_draws']} of 400 resamples")
    assert f" {said}." in _page(ML, res)


def test_the_report_says_multilabel_rows_are_drawn_freely_and_single_label_ones_within_classes():
    y, s = _one_positive_label()
    y[:, 2] = (np.arange(len(y)) % 3 == 0)  # every label common: every resample defines the AUC
    ml = _page(ML, metrics.evaluate_scores(y, s, ML, {"0": "a", "1": "b", "2": "c"}, bootstrap=100))
    assert "drawn freely, not within classes" in ml and "each class keeps its count" not in ml
    assert "rests on" not in ml
    rng = np.random.default_rng(1)
    yc = np.arange(90) % 3
    sc = rng.dirichlet(np.ones(3), 90)
    res = metrics.evaluate_scores(yc, sc, "multi-class", {"0": "a", "1": "b", "2": "c"}, bootstrap=100)
    mc = _page("multi-class", res)
    assert "drawn within each class (each class keeps its count, as the split drew it)" in mc
    assert "drawn freely" not in mc and "rests on" not in mc and "rests on" not in auc_acc_line(res)
