"""Which interval an AUC takes where the percentile bootstrap's cannot mean what it says, and why (the
``auc_ci_method`` and ``auc_ci_reason`` :mod:`medtrain.metrics` records): few independent units of a class
(images; patients where a patient has several images, :func:`medtrain.intervals.units_in`), or a perfect
separation, where every resample separates the classes as the test set does and the bootstrap's "95%" interval
is the point [1, 1] (or [0, 0]). The intervals themselves are :mod:`medtrain.intervals`'; the AUCs are
:mod:`medtrain.metrics`', which calls these with them. A multi-label task's mean AUC takes the mean of its
labels' own intervals there (:func:`label_mean`), and its mean ACC of 1 or 0 the mean of the labels' Wilson
intervals (:func:`label_mean_acc`)."""
from __future__ import annotations

import numpy as np

from medtrain.intervals import (FEW_FOR_AUC, MIN_UNITS, class_units, clustered_wilson, macro_auc_logit_interval,
                                macro_auc_score_interval, newcombe_auc_interval, repeated, units_in, wilson_interval)
from medtrain.tasks import BINARY, MULTILABEL

#: why a binary AUC's interval is Newcombe's: few units of a class, images or patients (:func:`few_reason`)
FEW_FOR_AUC_REASON, FEW_PATIENTS_FOR_AUC_REASON = "few images of a class", "few patients of a class"
#: why a multi-class AUC's interval is DeLong's logit one or the score one: the draws within classes miss too much
FEW_UNITS_REASON = "few units per class"
#: why an AUC's interval is a score one though its classes have many units: an AUC of exactly 1 (or 0), whose
#: bootstrap interval is a point, the resamples of a perfectly separated set all separated as perfectly
DEGENERATE_REASON = "bootstrap degenerate: perfect separation"
#: the width (and distance from 0 or 1) under which a bootstrap AUC interval is a point at a bound
DEGENERATE_WIDTH = 1e-9
#: the ``auc_ci_method`` of a multi-label mean AUC whose interval is the mean of its labels' (:func:`label_mean`)
LABEL_MEAN = "label-mean"


def few_reason(groups) -> str:
    """:data:`FEW_PATIENTS_FOR_AUC_REASON` where ``groups`` repeat (the units are patients), else images'."""
    return FEW_PATIENTS_FOR_AUC_REASON if repeated(groups) else FEW_FOR_AUC_REASON


def few_for_auc(y_true, task: str, groups=None) -> tuple[int, int] | None:
    """(positives, negatives) of a binary task in independent units (images; patients where ``groups`` repeat,
    :func:`medtrain.intervals.units_in`) whose rarer class has 1 to :data:`FEW_FOR_AUC` - 1 of them: where its
    AUC takes Newcombe's interval over them; else None (also for one test patient: no interval)."""
    if task != BINARY or not len(y_true) or units_in(np.ones(len(y_true)), groups) < MIN_UNITS:
        return None
    y = np.asarray(y_true).reshape(-1)
    n_pos, n_neg = units_in(y == 1, groups), units_in(y == 0, groups)
    return (n_pos, n_neg) if 0 < min(n_pos, n_neg) < FEW_FOR_AUC else None


def degenerate(ci) -> bool:
    """Whether a bootstrap AUC interval ``ci`` is a point (to :data:`DEGENERATE_WIDTH`) at 0 or 1."""
    lo, hi = (float(v) for v in ci)
    return bool(np.isfinite([lo, hi]).all() and hi - lo <= DEGENERATE_WIDTH
                and (lo >= 1 - DEGENERATE_WIDTH or hi <= DEGENERATE_WIDTH))


def headline(res: dict, y_true, y_score, task: str, groups, value: float, few_units: bool,
             level: float = 0.95) -> None:
    """Replace the bootstrap's AUC interval in ``res`` (:func:`medtrain.metrics.bootstrap_ci`'s) where it cannot
    hold 95%, for :func:`medtrain.metrics.acc_auc_ci`: a binary AUC of few units of a class, Newcombe's over them;
    a multi-class one whose classes are too small for draws within them (``few_units``), DeLong's logit interval
    over independent images, else (an AUC of 1 or 0; patients) the score interval over each class's units. Where
    neither holds and the bootstrap's is a point at 1 (or 0), the same score interval over the units
    (:data:`DEGENERATE_REASON`): 30 + 30 perfectly separated images had read AUC 1.000 [1.000, 1.000]. A multi-label
    mean AUC is not this function's: :func:`label_mean` gives it the mean of its labels' intervals there."""
    if task == MULTILABEL or not len(y_true) or units_in(np.ones(len(y_true)), groups) < MIN_UNITS:
        return
    counts, k = few_for_auc(y_true, task, groups), np.asarray(y_score).shape[1]
    ci, method, reason = None, None, None
    if counts:
        ci, method, reason = newcombe_auc_interval(value, *counts, level), "newcombe", few_reason(groups)
    elif few_units and task != BINARY:  # the mean one-vs-rest AUC: the same few units per class
        ci = [float("nan")] * 2 if repeated(groups) else macro_auc_logit_interval(y_true, y_score, level)
        method, reason = "delong-logit", FEW_UNITS_REASON
        if not np.isfinite(ci).all():  # an AUC of 1 (or 0), or patients: no logit interval (the bootstrap's a point)
            ci, method = _score(value, y_true, k, groups, level), "score"
    elif degenerate(res.get("auc_ci", [float("nan")] * 2)):
        ci, reason = _score(value, y_true, k, groups, level), DEGENERATE_REASON
        method = "newcombe" if task == BINARY else "score"
    if ci is not None and np.isfinite(ci).all():
        res["auc_ci"], res["auc_ci_method"], res["auc_ci_reason"] = ci, method, reason


def _score(value: float, y_true, k: int, groups, level: float) -> list[float]:
    """The score interval of an AUC over each class's units: Newcombe's for two classes (the positive's AUC),
    :func:`medtrain.intervals.macro_auc_score_interval` for more."""
    own, rest = class_units(y_true, k, groups)
    if k == 2:
        return newcombe_auc_interval(value, int(own[1]), int(rest[1]), level)
    return macro_auc_score_interval(value, own, level, rest_counts=rest)


def per_class(out: dict, names: list, member: np.ndarray, values, groups, points: set, level: float = 0.95) -> None:
    """Newcombe's interval over the units, in :func:`medtrain.metrics.per_class_ci`'s ``out`` (``{name: cis}``),
    for each class (or label) ``i`` of ``member`` (0/1 columns) whose one-vs-rest AUC ``values[i]`` has fewer than
    :data:`FEW_FOR_AUC` units on a side (each is a binary AUC), or whose bootstrap interval was a point at 1 or 0
    (``i`` in ``points``, :func:`degenerate`)."""
    if units_in(np.ones(len(member)), groups) < MIN_UNITS:  # (one patient: no interval)
        return
    for i, value in enumerate(values):
        m, rest = units_in(member[:, i] == 1, groups), units_in(member[:, i] == 0, groups)
        few = 0 < min(m, rest) < FEW_FOR_AUC
        if (few or (i in points and min(m, rest) > 0)) and np.isfinite(value):
            cis = out[names[i]]
            cis["auc_ci"] = newcombe_auc_interval(float(value), m, rest, level)
            cis["auc_ci_method"], cis["auc_ci_reason"] = "newcombe", few_reason(groups) if few else DEGENERATE_REASON


def label_mean(res: dict, y_true, groups, value: float, label_cis) -> None:
    """The interval of a multi-label task's mean AUC ``value`` in ``res`` (:func:`medtrain.metrics.acc_auc_ci`'s)
    where the bootstrap's cannot hold 95%: a point at 1 (or 0, :func:`degenerate`: every label separated
    perfectly, as in every resample; a user's 37 images of 26 patients had read AUC 1.000 [1.000, 1.000] beside
    per-label Newcombe intervals from [0.439, 1]), or a label with fewer than :data:`FEW_FOR_AUC` units of a side
    (images, or patients where they repeat: 16 test patients had kept a bootstrap interval of the mean over the
    very patients whose per-label ones were replaced as too narrow). It is then the mean of the ends of the labels'
    own intervals, ``label_cis()`` (``(k, 2)``, :func:`medtrain.metrics.per_class_ci`'s): Newcombe's score
    interval where :func:`per_class` gives it (Newcombe, Statistics in Medicine 2006: few units of a side, or an
    AUC of 1 or 0), else the label's bootstrap interval (``auc_ci_method`` :data:`LABEL_MEAN`, ``auc_ci_reason``
    :func:`few_reason`'s or :data:`DEGENERATE_REASON`).

    Why the mean of the ends: were the labels' errors perfectly correlated (every label's AUC off by the same
    quantile of its own sampling distribution at once), the mean's interval would be exactly the mean of their
    intervals' ends; any weaker dependence lets the errors partly cancel, and the mean's true interval is
    narrower. So this interval is conservative: it never claims more than the labels' own intervals do, and
    holds 95% wherever each of theirs does. The mean AUC is undefined where a label's is
    (:func:`medtrain.metrics.auc`: NaN, no label left out), and so is this interval: nothing is changed then,
    nor where a label's interval is not given (the bootstrap's stays)."""
    y = np.asarray(y_true)
    if not np.isfinite(value) or y.ndim != 2 or not len(y) or units_in(np.ones(len(y)), groups) < MIN_UNITS:
        return
    sides = [min(units_in(y[:, i] == 1, groups), units_in(y[:, i] == 0, groups)) for i in range(y.shape[1])]
    few = any(0 < s < FEW_FOR_AUC for s in sides)
    if not few and not degenerate(res.get("auc_ci", [float("nan")] * 2)):
        return
    cis = np.asarray(label_cis(), dtype=np.float64)
    if cis.shape == (y.shape[1], 2) and np.isfinite(cis).all():
        res["auc_ci"], res["auc_ci_method"] = [float(v) for v in cis.mean(0)], LABEL_MEAN
        res["auc_ci_reason"] = few_reason(groups) if few else DEGENERATE_REASON


def label_mean_acc(res: dict, y_true, called, groups, value: float) -> None:
    """A multi-label mean ACC (over labels, of each label's share of images decided right at 0.5) of exactly 1
    or 0, in ``res``: every resample gives it again and the bootstrap's interval is the point [1, 1]. It takes
    the mean of the ends of the labels' Wilson intervals (clustered over patients where they repeat,
    :func:`medtrain.intervals.clustered_wilson`), as a single-label task's ACC takes Wilson's
    (``acc_ci_method`` ``"wilson"``, ``acc_ci_reason`` ``"every image right"`` or ``"every image wrong"``).
    At 1 (or 0) every label has every image right (wrong), so their intervals are one and the mean is it:
    the same interval the mean's own Wilson one would be; the mean of the ends is conservative anyway, as
    :func:`label_mean` says. Over one patient there is none (the bootstrap's stays)."""
    if value not in (0.0, 1.0):
        return
    hit = np.asarray(called) == np.asarray(y_true)
    cis = np.asarray([clustered_wilson(h, groups) if repeated(groups) else wilson_interval(int(h.sum()), len(h))
                      for h in hit.T], dtype=np.float64)
    if len(cis) and np.isfinite(cis).all():
        res["acc_ci"], res["acc_ci_method"] = [float(v) for v in cis.mean(0)], "wilson"
        res["acc_ci_reason"] = "every image right" if value == 1.0 else "every image wrong"
