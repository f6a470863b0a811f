"""A cross-validation's report and cv.md say what its folds applied, and its figure averages only what its tables
average (walk 'clinic', findings 4 to 6).

* folds.png had drawn a mean ± std bar for the folds' calibrated thresholds (0.556 ± 0.08) and temperatures
  (0.49 ± 0.46) beside a table that gives them "–" (each fold's calibrated scale is its own).
* The report's settings table showed the settings as given (``augment = ['flip', 'shift']`` where every fold's flips
  were off, ``class_weights = auto`` of folds that kept two rules), and no output said what each fold chose.
* With --operating-point, sensitivity and specificity were only a mean ± std over the folds (0.536 ± 0.153), no
  pooled rate and no interval, where the AUC had both.
"""
from __future__ import annotations

import html
import re

import numpy as np
import pytest

from medtrain._crossval_op import pooled_operating_point
from medtrain._predictions_csv import read_saved, write_predictions
from medtrain.crossval import PER_FOLD, applied_settings, fold_choices, report_data, to_markdown
from conftest import catch_figures
from medtrain.reports.html import FOLDS_FILE, write_crossval_report

RULES = ("val-fitted", "prior-adjusted", "val-fitted")  # the walk's folds 0-2
THRESHOLDS, TEMPERATURES = (0.4882, 0.6432, 0.5375), (0.110, 0.365, 1.0)


def _metrics(rule: str) -> dict:
    """A fold's metrics.json as far as its applied settings go (the walk's fold 0, with its class-weight rule)."""
    return {"precision": "bf16-mixed", "device": "cpu",
            "choices": {"flip": {"chosen": False, "how": "pinned (--flip)"},
                        "tta": {"chosen": "none", "how": "pinned (--tta)"},
                        "class_weights": {"chosen": rule, "how": "validation accuracy",
                                          "val_acc": {"balanced": 0.44, rule: 0.84}}}}


def _cv(rules=RULES) -> dict:
    per_fold = [{"fold": k, "sizes": {"train": 216, "val": 25, "test": 121}, "best_epoch": 1, "wall_s": 25.0,
                 "val_auc": 0.84 - 0.01 * k, "val_acc": 0.8, "test_auc": 0.75 + 0.02 * k, "test_acc": 0.7,
                 "threshold": t, "temperature": T, "threshold_raw": 0.52 + 0.01 * k, "test_sensitivity": 0.5,
                 "test_specificity": 0.8 + 0.05 * k, "choices": fold_choices(_metrics(rule))}
                for k, (t, T, rule) in enumerate(zip(THRESHOLDS, TEMPERATURES, rules))]
    summary = {n: {"mean": 0.7, "std": 0.05} for n in ("val_auc", "val_acc", "test_auc", "test_acc",
                                                       "test_sensitivity", "test_specificity")}
    summary["threshold_raw"] = {"mean": 0.53, "std": 0.01, "min": 0.52, "max": 0.54}
    return {"per_fold": per_fold, "held_out": "test", "folds": 3, "dataset": "d", "summary": summary,
            "oof": {"n": 362, "auc": 0.73, "acc": 0.70, "auc_ci": [0.67, 0.77], "acc_ci": [0.65, 0.75]}}


def _text(page: str) -> str:
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", page).split()))


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """write_crossval_report of :func:`_cv` and these settings: (the folds.png figure, the page as text)."""
    figures = catch_figures(monkeypatch)

    def draw(cv, config):
        page = write_crossval_report(tmp_path, report_data(cv, config)).read_text()
        return figures[FOLDS_FILE], _text(page)
    return draw


def test_folds_png_draws_a_mean_and_std_bar_only_for_the_columns_the_table_averages(drawn):
    fig, page = drawn(_cv(), {})
    (ax,) = fig.axes
    columns = [t.get_text() for t in ax.get_xticklabels()]
    bars = {columns[round(x - 0.28)] for line in ax.get_lines() if line.get_marker() == "_"
            for x in line.get_xdata()}  # the black mean markers, 0.28 right of their column
    assert bars == set(columns) - {"threshold", "temperature"}
    # each column named as the per-fold table heads it (it had been the raw key: test_auc, threshold_raw)
    assert columns == ["val AUC", "val ACC", "test AUC", "test ACC", "threshold", "temperature", "threshold raw",
                       "test sensitivity", "test specificity"]
    assert set(columns) <= set(report_data(_cv(), {})["fold_table"]["head"])
    # the thresholds and temperatures are still there, as the folds' dots
    dots = {(columns[round(x)], round(float(y), 4)) for line in ax.get_lines() if line.get_marker() == "o"
            for x, y in zip(line.get_xdata(), line.get_ydata())}
    assert {t for c, t in dots if c == "threshold"} == set(THRESHOLDS)
    assert {t for c, t in dots if c == "temperature"} == set(TEMPERATURES)
    assert "mean ± std" in page


def test_cv_md_and_the_report_give_each_fold_s_choices_and_the_settings_say_they_were_decided_per_fold(drawn):
    cv = _cv()
    md = to_markdown(cv)
    assert "| fold | flips | TTA | class weights | precision | accelerator |" in md
    for k, rule in enumerate(RULES):
        assert (f"| {k} | off: pinned (--flip) | none: pinned (--tta) | {rule}: validation accuracy | bf16-mixed | "
                "cpu |") in md
    given = {"augment": ["flip", "shift"], "class_weights": "auto", "precision": "auto", "flip": "false"}
    applied = [applied_settings(given, _metrics(rule)) for rule in RULES]
    assert applied[0]["augment"] == ["shift"]  # the flips were off: no fold flipped
    assert [a["class_weights"] for a in applied] == [f"auto ({r})" for r in RULES]
    config = {"augment": ["shift"], "class_weights": PER_FOLD, "precision": "auto (bf16-mixed)", "flip": "false"}
    _, page = drawn(cv, config)  # fold_settings' table of those folds
    assert "Choices per fold" in page
    assert "1 off: pinned (--flip) none: pinned (--tta) prior-adjusted: validation accuracy bf16-mixed cpu" in page
    assert "augment = ['shift']" in page and "augment = ['flip', 'shift']" not in page
    assert "class_weights = auto (decided per fold: see Choices per fold)" in page
    assert "Settings at auto (class_weights, precision) were decided by each fold for itself" in page


def test_folds_that_agree_give_their_choices_in_one_line(drawn):
    cv = _cv(("prior-adjusted",) * 3)
    line = ("all 3 folds: flips off: pinned (--flip); TTA none: pinned (--tta); class weights prior-adjusted: "
            "validation accuracy; precision bf16-mixed; accelerator cpu")
    md = to_markdown(cv)
    assert line + "." in md and "| fold | flips" not in md
    _, page = drawn(cv, {"class_weights": "auto (prior-adjusted)"})
    assert line in page and "class_weights = auto (prior-adjusted)" in page


def _fold(path, scores, truth, patients, threshold, task="binary-class", names=("normal", "pneumonia")):
    """A fold's held-out predictions_test.csv as a run writes it, decided at its own ``threshold``."""
    path.mkdir()
    scores = np.asarray(scores, np.float64)
    if task == "binary-class":
        scores = np.column_stack([1 - scores, scores])
    write_predictions(path / "predictions_test.csv", np.asarray(truth), scores, None,
                      {str(i): n for i, n in enumerate(names)}, task, scaled=scores,
                      operating_point=(threshold, 1) if task == "binary-class" else (threshold, None), groups=patients)
    return read_saved(path, "test")


def test_the_pooled_operating_point_pools_each_fold_s_decisions_at_its_own_threshold_with_patient_intervals(
        tmp_path, drawn):
    # fold 0 decides at 0.3, fold 1 at 0.7: a score of 0.5 is pneumonia in fold 0 and normal in fold 1
    folds = [_fold(tmp_path / "fold0", [0.5, 0.5, 0.4, 0.2, 0.1, 0.35], [1, 1, 1, 0, 0, 0], list("aabbcc"), 0.3),
             _fold(tmp_path / "fold1", [0.5, 0.5, 0.9, 0.8, 0.6, 0.6, 0.2, 0.1], [1, 1, 1, 1, 0, 0, 0, 0],
                   list("ddeeffgg"), 0.7)]
    runs = [{"operating_point": {"rule": "youden", "positive_class": "pneumonia"},
             "data": {"classes": ["normal", "pneumonia"]}}] * 2
    y = np.concatenate([f.labels for f in folds])
    groups = [g for f in folds for g in f.groups]
    op = pooled_operating_point(runs, [tmp_path / "fold0", tmp_path / "fold1"], "test", "binary-class", y, groups)
    # fold 0: 3 of 3 positives called, 1 of 3 negatives (0.35) called; fold 1: 2 of 4 called, none of 4 negatives
    assert op["sensitivity_counts"] == [5, 7] and op["specificity_counts"] == [6, 7]
    assert (op["n_pos"], op["n_neg"], op["patients"], op["rule"]) == (7, 7, 7, "youden")
    assert op["sensitivity"] == pytest.approx(5 / 7) and op["specificity"] == pytest.approx(6 / 7)
    # a Wilson interval over the 7 patients, not over the 14 images: wider than the images' own
    from medtrain.intervals import wilson_interval
    for k, (a, n) in (("sensitivity", (5, 7)), ("specificity", (6, 7))):
        lo, hi = op[f"{k}_ci"]
        assert lo < op[k] < hi and hi - lo > np.diff(wilson_interval(a, n))[0]
    # validation folds chose the thresholds on those very images: no pooled operating point of them
    assert pooled_operating_point(runs, [tmp_path / "fold0", tmp_path / "fold1"], "val", "binary-class", y,
                                  groups) is None
    cv = _cv()
    cv["oof"]["operating_point"] = op
    lo, hi = op["sensitivity_ci"]
    assert (f"Pooled out-of-fold operating point (youden, positive pneumonia; each fold's decisions at its own "
            f"threshold): sensitivity 0.714 [{lo:.3f}, {hi:.3f}] (5/7), specificity 0.857") in to_markdown(cv)
    _, page = drawn(cv, {})  # beside the pooled AUC, as cards with their intervals
    assert f"pooled out-of-fold AUC 0.730 [0.670, 0.770] pooled out-of-fold ACC 0.700 [0.650, 0.750] pooled " \
           f"out-of-fold sensitivity 0.714 [{lo:.3f}, {hi:.3f}] pooled out-of-fold specificity 0.857" in page
    assert "Wilson's score intervals (over 7 patients)" in page and "5/7 and 6/7" in page


def test_a_multi_label_pooled_operating_point_is_given_per_label(tmp_path):
    names = ("edema", "mass")
    truth = [[1, 0], [1, 1], [0, 1], [0, 0]]
    folds = [_fold(tmp_path / "fold0", [[0.6, 0.2], [0.4, 0.9], [0.1, 0.5], [0.45, 0.1]], truth, None, [0.5, 0.3],
                   "multi-label, binary-class", names),
             _fold(tmp_path / "fold1", [[0.6, 0.2], [0.4, 0.9], [0.1, 0.5], [0.45, 0.1]], truth, None, [0.3, 0.6],
                   "multi-label, binary-class", names)]
    runs = [{"operating_point": {"rule": "youden"}, "data": {"classes": list(names)}}] * 2
    y = np.concatenate([f.labels for f in folds])
    op = pooled_operating_point(runs, [tmp_path / "fold0", tmp_path / "fold1"], "test", "multi-label, binary-class",
                                y, None)
    # edema: fold 0 (0.5) calls 1 of 2 positives and 0 of 2 negatives; fold 1 (0.3) calls 2 of 2 and 1 of 2
    assert op["per_label"]["edema"]["sensitivity_counts"] == [3, 4]
    assert op["per_label"]["edema"]["specificity_counts"] == [3, 4]
    # mass: fold 0 (0.3) calls 2 of 2 positives, 0 of 2 negatives; fold 1 (0.6) 1 of 2 positives, 0 of 2 negatives
    assert op["per_label"]["mass"]["sensitivity_counts"] == [3, 4]
    assert op["per_label"]["mass"]["specificity_counts"] == [4, 4]
    cv = _cv()
    cv["oof"]["operating_point"] = op
    md = to_markdown(cv)
    assert "Pooled out-of-fold operating point per label (youden" in md and "| mass | 0.750 [" in md


def test_pooled_figures_over_validation_folds_name_what_those_folds_decided():
    # the note had named "each run's checkpoint, TTA, class-weight rule and temperature" of folds that kept their
    # last epoch with flips pinned (a reader's walk)
    from medtrain.crossval import val_decided, val_note

    pinned = {"checkpoint": "last", "choices": {"flip": {"chosen": False, "how": "pinned (--flip)"},
                                                "tta": {"chosen": "none", "how": "flips are off"},
                                                "class_weights": {"chosen": "balanced", "how": "validation accuracy",
                                                                  "val_acc": {"balanced": 0.7}}},
              "calibration": {"temperature": 0.35}, "operating_point": {"rule": "youden", "chosen_on": "val"}}
    assert val_decided(pinned) == ["the class-weight rule", "the temperature", "the threshold"]
    best = {"checkpoint": "best", "early_stopped": True, "choices": {"tta": {"chosen": "hflip", "how": "validation",
                                                                             "val_auc": {"none": 0.8}}}}
    assert val_decided(best) == ["the epoch kept", "when to stop", "TTA"]
    assert val_decided({"checkpoint": "last"}) == []
    cv = {"held_out": "val", "val_decided": val_decided(pinned)}
    assert val_note(cv, "these figures") == ("; the validation folds also chose the class-weight rule, the temperature "
                                             "and the threshold, so these figures read optimistic")
    assert val_note({**cv, "held_out": "test"}, "these figures") == ""
    assert "so these figures are of unseen images" in val_note({**cv, "val_decided": []}, "these figures")
    assert "each run's checkpoint" in val_note({"held_out": "val"}, "these figures")  # a cv.json before the record


def test_a_linear_probe_fold_is_said_to_have_chosen_its_regularisation_not_an_epoch():
    from medtrain.crossval import val_decided

    assert val_decided({"checkpoint": "best", "probe": {"classifier": "logreg"}}) == ["the probe's regularisation"]
