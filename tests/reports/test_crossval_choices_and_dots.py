"""A cross-validation's report and cv.md say what its folds applied, and its figure averages only what its tables
average (walk 'clinic', findings 4 and 5).

* folds.png had drawn a mean ± std bar for the folds' calibrated thresholds (0.556 ± 0.08) and temperatures
  (0.49 ± 0.46) beside a table that gives them "–" (each fold's calibrated scale is its own).
* The report's settings table showed the settings as given (``augment = ['flip', 'shift']`` where every fold's flips
  were off, ``class_weights = auto`` of folds that kept two rules), and no output said what each fold chose.
"""
from __future__ import annotations

import html
import re

import pytest

from medtrain.crossval import PER_FOLD, applied_settings, fold_choices, report_data, to_markdown
from medtrain.reports import plots
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
    figures = {}
    save = plots._save

    def keep(fig, path):
        figures[path.name] = fig
        save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)

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
    assert {"threshold", "temperature", "threshold_raw"} <= set(columns)
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
