"""A multi-label run's reliability diagram pools every label's probabilities into one curve; its legend must give
that curve's ECE, said to be pooled, not the mean of each label's own ECE that calibration records (a 14-label
run's legend had read 0.060 beside a curve whose ECE is 0.033)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from medtrain import metrics
from medtrain._run_report import RELIABILITY_FILE, _calibration_plots
from medtrain.reports import plots

ML = "multi-label, binary-class"


def _split(y):
    return SimpleNamespace(labels=torch.from_numpy(y))


def _legends(fig) -> dict:
    """Each panel's legend entries, by the panel's title."""
    return {ax.get_title(): [t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes}


def _scores(n: int, seed: int):
    """Five labels of unlike prevalence, each over- or under-confident its own way: the pooled curve's ECE is
    not the mean of the labels' own."""
    rng = np.random.default_rng(seed)
    prev = np.array([0.05, 0.1, 0.3, 0.5, 0.7])
    y = (rng.random((n, 5)) < prev).astype(np.int64)
    s = np.clip(prev + 0.25 * (y - prev) + rng.normal(0, 0.1, (n, 5)) + [0.15, -0.1, 0.05, 0.0, -0.15], 0.001,
                0.999)
    return y, s


def test_the_multilabel_legend_gives_the_pooled_curve_s_ece_and_says_it_is_pooled(tmp_path, monkeypatch):
    figs, save = [], plots._save  # reliability.png's figure (a multi-label task's roc_pr.png is drawn as well)
    monkeypatch.setattr(plots, "_save", lambda fig, path: (figs.append(fig) if Path(path).name == RELIABILITY_FILE
                                                           else None, save(fig, path)))
    yv, sv = _scores(300, 0)
    yt, st = _scores(400, 1)
    t = 1.3
    scaled = {k: 1 / (1 + np.exp(-np.log(s / (1 - s)) / t)) for k, s in (("val", sv), ("test", st))}
    cal = {"temperature": t, **{k: {"ece": metrics.ece(y, s, ML), "ece_scaled": metrics.ece(y, scaled[k], ML)}
                                for k, y, s in (("val", yv, sv), ("test", yt, st))}}
    splits = SimpleNamespace(task=ML, val=_split(yv), test=_split(yt), label_names={str(i): f"l{i}" for i in range(5)})
    _calibration_plots(splits, tmp_path, "run", {"scores": sv, "scores_scaled": scaled["val"]}, st, scaled["test"],
                       {"calibration": cal}, None, None, 1)
    (fig,) = figs
    legends = _legends(fig)
    assert set(legends) == {"validation (all labels pooled)", "test (all labels pooled)"}
    before, after = legends["test (all labels pooled)"][1:]
    pooled = metrics.ece(yt.ravel(), st.ravel(), "binary-class")  # torchmetrics' ECE of every label's scores at once
    pooled_after = metrics.ece(yt.ravel(), scaled["test"].ravel(), "binary-class")
    assert before == f"before (pooled ECE {pooled:.3f})" and after == f"T = 1.30 (pooled ECE {pooled_after:.3f})"
    assert f"{cal['test']['ece']:.3f}" != f"{pooled:.3f}"  # the mean over labels, which the legend had shown


def _on_bin_edges(n: int, seed: int):
    """Binary, multi-class and multi-label scores half of which sit on the 15 bins' edges (k/15), where binning
    (lo, hi] instead of ECE's [lo, hi) moves them to the bin below: a hand-binned ECE differs from metrics.ece."""
    rng = np.random.default_rng(seed)
    edge = lambda size: np.where(rng.random(size) < 0.5, rng.integers(0, 16, size) / 15, rng.random(size))
    p = edge(n)
    yb = (rng.random(n) < np.clip(p + 0.1, 0, 1)).astype(np.int64)
    top, c = rng.integers(0, 4, n), np.where(rng.random(n) < 0.5, rng.integers(5, 16, n) / 15, rng.uniform(0.34, 1, n))
    sc = np.repeat(((1 - c) / 3)[:, None], 4, 1)
    sc[np.arange(n), top] = c
    yc = np.where(rng.random(n) < c - 0.1, top, (top + 1) % 4)
    sm = edge((n, 3))
    ym = (rng.random((n, 3)) < np.clip(sm - 0.1, 0, 1)).astype(np.int64)
    return {"binary-class": (yb, np.stack([1 - p, p], 1)), "multi-class": (yc, sc), ML: (ym, sm)}


@pytest.mark.parametrize("task", ["binary-class", "multi-class", ML])
def test_the_legend_s_ece_is_metrics_ece_for_scores_on_bin_edges(tmp_path, monkeypatch, task):
    """The legend's ECE is the project's one ECE (metrics.ece, torchmetrics'; of the pooled labels for a
    multi-label task), as the report's test-ECE card: a hand-binned copy had differed by up to 0.048 on scores
    k/15."""
    figs, save = [], plots._save  # reliability.png's figure (a binary task's roc_pr.png is drawn as well)
    monkeypatch.setattr(plots, "_save", lambda fig, path: (figs.append(fig) if Path(path).name == RELIABILITY_FILE
                                                           else None, save(fig, path)))
    (yv, sv), (yt, st) = _on_bin_edges(300, 0)[task], _on_bin_edges(400, 1)[task]
    cal = {"temperature": 1.0, **{k: {"ece": metrics.ece(y, s, task), "ece_scaled": metrics.ece(y, s, task)}
                                  for k, y, s in (("val", yv, sv), ("test", yt, st))}}
    names = {str(i): f"l{i}" for i in range(4)}
    splits = SimpleNamespace(task=task, val=_split(yv), test=_split(yt), label_names=names)
    _calibration_plots(splits, tmp_path, "run", {"scores": sv, "scores_scaled": sv}, st, st, {"calibration": cal},
                       None, None, 1)
    (fig,) = figs
    pooled = task == ML
    for name, y, s in (("validation", yv, sv), ("test", yt, st)):
        e = metrics.ece(y.ravel(), s.ravel(), "binary-class") if pooled else metrics.ece(y, s, task)
        word = "pooled ECE" if pooled else "ECE"
        legend = _legends(fig)[name + (" (all labels pooled)" if pooled else "")]
        assert legend[1:] == [f"before ({word} {e:.3f})", f"T = 1.00 ({word} {e:.3f})"]


@pytest.mark.parametrize("task", ["binary-class", "multi-class", ML])
def test_the_reliability_points_are_binned_as_metrics_ece_bins_them(task):
    """The curve drawn has the legend's ECE: its points' count-weighted gap is metrics.ece's, scores on the
    bins' edges included (they had been put in the bin below)."""
    y, s = _on_bin_edges(500, 3)[task]
    r = metrics.reliability(y, s, task)
    gap = np.dot(np.abs(np.subtract(r["confidence"], r["frequency"])), r["count"]) / sum(r["count"])
    e = metrics.ece(y.ravel(), s.ravel(), "binary-class") if task == ML else metrics.ece(y, s, task)
    assert sum(r["count"]) == y.size if task == ML else len(y)
    assert gap == pytest.approx(e, abs=1e-6)


def test_the_multilabel_caption_says_the_curve_pools_the_labels_and_the_card_is_their_mean(tmp_path):
    import html as markup

    from PIL import Image

    from medtrain.reports.html import run_report

    Image.new("RGB", (4, 4)).save(tmp_path / "rel.png")
    cal = {"temperature": 1.2, "bins": 15, "test": {"ece": 0.06, "ece_scaled": 0.05}}
    pages = {task: markup.unescape(" ".join(run_report({}, {"task": task, "history": [], "best_epoch": 0,
                                                           "stop_epoch": 0, "val": {"auc": 0.9, "acc": 0.8},
                                                           "calibration": cal}, {"reliability": tmp_path / "rel.png"}
                                                       ).split()))
             for task in (ML, "multi-class")}
    said = "Every label's probabilities are pooled in one curve, and the legend's ECE is that curve's"
    assert said in pages[ML] and said not in pages["multi-class"]


def test_a_binary_diagram_bins_and_names_the_positive_class_the_roc_figure_names(tmp_path, monkeypatch):
    # with --positive-class naming the first class, the ROC figure and the operating point spoke of it while the
    # reliability diagram drew the other class's probability, naming none (a reader's walk)
    figs, save = [], plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: (figs.append(fig) if Path(path).name == RELIABILITY_FILE
                                                           else None, save(fig, path)))
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p1 = np.clip(0.25 + 0.4 * y + rng.normal(0, 0.1, 200), 0.01, 0.99)  # class 1 seen in 0.25-0.65
    s = np.stack([1 - p1, p1], 1)
    cal = {"temperature": 1.0, **{k: {"ece": metrics.ece(y, s, "binary-class"), "ece_scaled": 0.0}
                                  for k in ("val", "test")}}
    splits = SimpleNamespace(task="binary-class", val=_split(y), test=_split(y),
                             label_names={"0": "malignant", "1": "benign"})
    _calibration_plots(splits, tmp_path, "run", {"scores": s, "scores_scaled": s}, s, s, {"calibration": cal},
                       None, None, 0)
    ax = figs[0].axes[0]
    assert ax.get_xlabel() == "mean predicted probability of 'malignant' (per bin)"
    assert ax.get_ylabel() == "observed frequency of 'malignant'"
    confidence = ax.get_lines()[1].get_xdata()  # the "before" curve: bins of the first class's probability
    assert np.average(confidence, weights=metrics.reliability(y, s, "binary-class", positive=0)["count"]) == \
        pytest.approx(s[:, 0].mean(), abs=1e-6)
    assert metrics.reliability(y, s, "binary-class", positive=0)["frequency"] == \
        metrics.reliability(1 - y, s[:, ::-1], "binary-class")["frequency"]
