"""Which interval an AUC takes where the percentile bootstrap's cannot mean what it says, and why (the
``auc_ci_method`` and ``auc_ci_reason`` :mod:`medtrain.metrics` records): few independent units of a class
(images; patients where a patient has several images, :func:`medtrain.intervals.units_in`), or a perfect
separation, where every resample separates the classes as the test set does and the bootstrap's "95%" interval
is the point [1, 1] (or [0, 0]). The intervals themselves are :mod:`medtrain.intervals`'; the AUCs are
:mod:`medtrain.metrics`', which calls these with them."""
from __future__ import annotations

import numpy as np

from medtrain.intervals import (FEW_FOR_AUC, MIN_UNITS, class_units, macro_auc_logit_interval,
                                macro_auc_score_interval, newcombe_auc_interval, repeated, units_in)
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
    mean AUC keeps its bootstrap interval (its labels' own take Newcombe's in :func:`per_class`)."""
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
