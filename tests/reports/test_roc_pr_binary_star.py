"""A binary run's roc_pr.png draws its operating point's star at the test rates the run recorded
(``metrics.json``'s ``operating_point.test``, handed on by the run report), as a multi-label run's stars are: the
star had been computed again from the threshold and the scores, a second computation of what the run reports."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from medtrain import _run_report
from medtrain.reports import plots
from medtrain.tasks import BINARY


def _stars(fig) -> dict:
    """``{x label of the panel: [(x, y) of each star]}``."""
    return {ax.get_xlabel(): [(float(line.get_xdata()[0]), float(line.get_ydata()[0])) for line in ax.get_lines()
                              if line.get_marker() == "*" and len(line.get_xdata())] for ax in fig.axes}


@pytest.fixture
def kept(monkeypatch):
    kept = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: kept.setdefault("fig", fig))
    return kept


def test_the_star_is_at_the_recorded_rates(tmp_path, kept):
    rng = np.random.default_rng(0)
    y, s = rng.integers(0, 2, 60), rng.random(60)
    recorded = {"threshold": 0.5, "sensitivity": 0.8, "specificity": 0.7, "ppv": 0.65, "npv": 0.8}
    plots.roc_pr(y, s, tmp_path / "roc.png", 0.5, "youden", "t", recorded)
    stars = _stars(kept["fig"])
    assert stars["1 - specificity"] == [pytest.approx((0.3, 0.8))]
    assert stars["recall (sensitivity)"] == [pytest.approx((0.8, 0.65))]


def test_no_pr_star_where_the_recorded_ppv_is_undefined_and_without_rates_the_scores_place_it(tmp_path, kept):
    y, s = np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9])
    plots.roc_pr(y, s, tmp_path / "roc.png", 0.95, "rule", "t",
                 {"sensitivity": 0.0, "specificity": 1.0, "ppv": None})  # nothing called positive (null in JSON)
    stars = _stars(kept.pop("fig"))
    assert stars["1 - specificity"] == [pytest.approx((0.0, 0.0))] and stars["recall (sensitivity)"] == []
    plots.roc_pr(y, s, tmp_path / "roc.png", 0.5, "rule", "t")  # a caller without recorded rates
    stars = _stars(kept["fig"])
    assert stars["1 - specificity"] == [pytest.approx((0.5, 0.5))]
    assert stars["recall (sensitivity)"] == [pytest.approx((0.5, 0.5))]


def test_the_run_report_hands_on_the_recorded_test_rates(tmp_path, monkeypatch):
    got = {}
    monkeypatch.setattr(plots, "reliability_diagram", lambda *a, **k: None)
    monkeypatch.setattr(plots, "roc_pr", lambda *a, **k: got.update(args=a, kwargs=k))
    rng = np.random.default_rng(1)
    labels = torch.from_numpy(rng.integers(0, 2, (30, 1)))
    scores = rng.dirichlet((1, 1), 30)
    splits = SimpleNamespace(task=BINARY, label_names={"0": "benign", "1": "malignant"},
                             val=SimpleNamespace(labels=labels), test=SimpleNamespace(labels=labels))
    recorded = {"threshold": 0.4, "sensitivity": 0.75, "specificity": 0.6, "ppv": 0.5, "npv": 0.8}
    out = {"calibration": {"temperature": 1.0}, "operating_point": {"threshold": 0.4, "test": recorded}}
    _run_report._calibration_plots(splits, tmp_path, "t", {"scores": scores, "scores_scaled": scores}, scores,
                                   scores, out, 0.4, "youden", 1)
    assert any(a is recorded for a in got["args"]) or got["kwargs"].get("rates") is recorded
