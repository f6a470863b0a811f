"""A multi-label run's report has ROC and precision-recall curves: one per label, named in the legend with its AUC
(the AUC metrics.json records for it), each label's operating point (its threshold chosen on validation) marked
where the test rates metrics.json records for it put it. roc_pr.png had been drawn for binary tasks only."""
from __future__ import annotations

import html
import json

import numpy as np
import pytest

from medtrain.reports import plots
from multilabel_op_data import arrays, train_run

NAMES = ["0", "1", "2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 2-epoch multi-label run with --operating-point youden, and the figures it drew (by file name)."""
    figures = {}
    save = plots._save

    def keep(fig, path):
        figures[path.name] = fig
        save(fig, path)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots, "_save", keep)
        path = train_run(tmp_path_factory.mktemp("roc_ml"), arrays(seed=3))
    return path, json.loads((path / "metrics.json").read_text()), figures


def _roc_panel(fig):
    return next(ax for ax in fig.axes if ax.get_xlabel() == "1 - specificity")


def test_a_multilabel_run_draws_each_label_s_roc_named_with_its_recorded_auc(run):
    path, m, figures = run
    assert (path / "roc_pr.png").is_file()
    page = html.unescape(" ".join((path / "report.html").read_text().split()))
    assert "<h2>ROC and precision-recall (test)</h2>" in page
    assert "one curve per label; a star marks each label's threshold chosen on validation." in page
    legend = [t.get_text() for t in _roc_panel(figures["roc_pr.png"]).get_legend().get_texts()]
    per_class = m["test"]["per_class"]
    assert legend[:3] == [f"{n} (AUC {per_class[n]['auc']:.3f})" for n in NAMES]
    assert "youden (each label's threshold)" in legend


def test_each_label_s_operating_point_is_marked_at_its_recorded_test_rates(run):
    _, m, figures = run
    ax = _roc_panel(figures["roc_pr.png"])
    stars = [(line.get_color(), float(line.get_xdata()[0]), float(line.get_ydata()[0])) for line in ax.get_lines()
             if line.get_marker() == "*" and len(line.get_xdata())]
    curves = {line.get_label().split(" (")[0]: line.get_color() for line in ax.get_lines()
              if "AUC" in str(line.get_label())}
    assert len(stars) == 3
    for name in NAMES:
        rates = m["operating_point"]["test"]["per_label"][name]
        (x, y), = [(x, y) for colour, x, y in stars if colour == curves[name]]  # in its label's colour
        assert (x, y) == pytest.approx((1 - rates["specificity"], rates["sensitivity"]))


def test_labels_past_the_limit_or_of_one_test_class_are_named_as_not_drawn(tmp_path, monkeypatch):
    kept = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: kept.setdefault("fig", fig))
    rng = np.random.default_rng(0)
    n, labels = 60, plots.ROC_LABELS + 2
    y = (rng.random((n, labels)) < 0.4).astype(int)
    y[:, 3] = 0  # no positive in the test split: no curve
    names = [f"finding {j}" for j in range(labels)]
    plots.roc_pr_labels(y, rng.random((n, labels)), names, tmp_path / "roc.png",
                        {"finding 0": {"sensitivity": 0.7, "specificity": 0.6, "ppv": 0.5}}, "youden")
    fig = kept["fig"]
    legend = [t.get_text() for t in _roc_panel(fig).get_legend().get_texts()]
    drawn = [t.split(" (AUC")[0] for t in legend if "(AUC" in t]
    assert drawn == [f"finding {j}" for j in range(labels) if j != 3][:plots.ROC_LABELS]
    below = fig.get_supxlabel()
    assert "Not drawn (2 of 12 labels)" in below and "finding 3 (one class in the test split)" in below
    assert "finding 11" in below and "finding 10" not in below


def test_the_stars_are_drawn_at_the_rates_the_caller_recorded_and_no_pr_star_where_ppv_is_undefined(tmp_path,
                                                                                                     monkeypatch):
    # the run holds each label's test rates at its threshold (metrics.json's operating_point.test.per_label): the
    # figure draws them as given (it had recomputed them from the threshold and the scores)
    kept = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: kept.setdefault("fig", fig))
    rng = np.random.default_rng(1)
    y = (rng.random((40, 2)) < 0.5).astype(int)
    points = {"a": {"sensitivity": 0.25, "specificity": 0.9, "ppv": 0.4},
              "b": {"sensitivity": 0.0, "specificity": 1.0, "ppv": float("nan")}}  # nothing called positive
    plots.roc_pr_labels(y, rng.random((40, 2)), ["a", "b"], tmp_path / "roc.png", points, "youden")
    fig = kept["fig"]
    roc = _roc_panel(fig)
    pr = next(ax for ax in fig.axes if ax.get_xlabel() == "recall (sensitivity)")

    def stars(ax):
        points = sorted((float(line.get_xdata()[0]), float(line.get_ydata()[0])) for line in ax.get_lines()
                        if line.get_marker() == "*" and len(line.get_xdata()))
        return [v for p in points for v in p]
    assert stars(roc) == pytest.approx([0.0, 0.0, 0.1, 0.25])
    assert stars(pr) == pytest.approx([0.25, 0.4])
