"""Metrics exactly as the MedMNIST evaluator defines them (``medmnist.evaluator.getAUC/getACC``).

- binary: AUC of the positive class's score; ACC with threshold 0.5 on that score;
- multi-class and ordinal: mean one-vs-rest AUC over classes; ACC of the arg-max;
- multi-label: mean AUC over labels; mean per-label accuracy at threshold 0.5.

Scores are probabilities: softmax over classes, or sigmoid per label for multi-label tasks.
This module sits below training and evaluation, which both use it.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.metrics import confusion_matrix

from medtrain import _auc_interval
from medtrain._auc_interval import (DEGENERATE_REASON, FEW_FOR_AUC_REASON, FEW_PATIENTS_FOR_AUC_REASON,
                                    FEW_UNITS_REASON, few_for_auc)
from medtrain.intervals import (FEW_FOR_AUC, MAX_SHORTFALL, MIN_UNITS, Resampler, bootstrap, class_strata,
                                clustered_wilson, macro_auc_logit_interval, macro_auc_score_interval,
                                percentile_interval, proportion_ci, repeated, shortfall, newcombe_auc_interval,
                                class_units, units_in, wilson_interval)
from medtrain.tasks import BINARY, MULTILABEL, class_names

#: named as metrics' by their callers (the reports, ``eval --vs``, tests): the AUC intervals' rules and sizes
RE_EXPORTED = (DEGENERATE_REASON, FEW_FOR_AUC_REASON, FEW_PATIENTS_FOR_AUC_REASON, FEW_UNITS_REASON, FEW_FOR_AUC,
               few_for_auc, macro_auc_logit_interval, macro_auc_score_interval, newcombe_auc_interval, class_units)
ECE_BINS = 15  #: equal-width confidence bins of the expected calibration error
PER_CLASS_CI = ("precision", "recall", "f1", "auc")  #: the per-class statistics given bootstrap CIs


def scores_from_logits(logits: torch.Tensor, task: str) -> torch.Tensor:
    return torch.sigmoid(logits) if task == MULTILABEL else torch.softmax(logits, dim=-1)


def _safe_auc(y: np.ndarray, s: np.ndarray) -> float:
    """One column's ROC AUC (see :func:`_column_auc`)."""
    return float(_column_auc(np.asarray(y).reshape(-1, 1), np.asarray(s).reshape(-1, 1))[0])


def _column_auc(member: np.ndarray, score: np.ndarray) -> np.ndarray:
    """ROC AUC of each column of ``score`` against 0/1 ``member``, ``(n, k) -> (k,)``: NaN where a column is
    undefined (one class only: tiny validation sets, bootstrap draws) or holds a score that is not finite (a
    diverged network's NaN), instead of an exception."""
    finite = np.isfinite(score).all(0)
    return np.where(finite, _rank_auc(member.astype(int), np.where(np.isfinite(score), score, 0)), np.nan)


def auc(y_true: np.ndarray, y_score: np.ndarray, task: str) -> float:
    """MedMNIST's AUC: binary, the positive class's score; multi-class and ordinal, the mean one-vs-rest AUC
    over classes; multi-label, the mean over labels (NaN when any of them is undefined)."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    if task == MULTILABEL:
        return float(np.mean(_column_auc(y_true, y_score)))
    if task == BINARY:
        return _safe_auc(y_true, y_score[:, -1] if y_score.ndim == 2 else y_score)
    return float(np.mean(_column_auc(y_true.reshape(-1, 1) == np.arange(y_score.shape[1]), y_score)))


def auc_undefined(y_true, y_score, task: str, label_names: dict) -> dict | None:
    """Why :func:`auc` is NaN where a class has no image (a label no positive, or no negative): ``{"unit": "class"
    | "label", "no_positive": [names], "no_negative": [names], "mean_over_rest": m, "rest": r}``, ``m`` the mean
    AUC over the ``r`` classes where it is defined (None for a binary task), shown labelled as such, never as the
    AUC, which stays NaN. None where every class has both sides. (``AUC nan`` had been blamed on resamples.)"""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    if not len(y_true) or y_score.ndim != 2:
        return None
    k = y_score.shape[1]
    member = y_true.astype(int) if task == MULTILABEL else (y_true.reshape(-1, 1) == np.arange(k)).astype(int)
    pos, names = member.sum(0), class_names(label_names, k)
    no_pos, no_neg = [names[i] for i in range(k) if pos[i] == 0], [names[i] for i in range(k) if pos[i] == len(member)]
    if not no_pos and not no_neg:
        return None
    aucs = _column_auc(member, y_score)
    rest = np.isfinite(aucs) & (pos > 0) & (pos < len(member))
    mean = float(np.mean(aucs[rest])) if rest.any() and task != BINARY else None
    return {"unit": "label" if task == MULTILABEL else "class", "no_positive": no_pos, "no_negative": no_neg,
            "mean_over_rest": mean, "rest": int(rest.sum()) if mean is not None else 0}


def predictions(y_score: np.ndarray, task: str, threshold: float = 0.5) -> np.ndarray:
    y_score = np.asarray(y_score)
    if task == MULTILABEL:
        return (y_score > threshold).astype(int)
    if task == BINARY:
        return ((y_score[:, -1] if y_score.ndim == 2 else y_score) > threshold).astype(int)
    return np.argmax(y_score, axis=-1)


def predicted_names(y_score: np.ndarray, task: str, names: list, threshold: float = 0.5) -> list[str]:
    """The decision of :func:`predictions` as label names (multi-label: every positive label, joined by ``;``)."""
    pred = predictions(y_score, task, threshold)
    if task == MULTILABEL:
        return [";".join(str(names[j]) for j in np.flatnonzero(row)) for row in pred]
    return [str(names[int(j)]) for j in pred]


def acc(y_true: np.ndarray, y_score: np.ndarray, task: str, threshold: float = 0.5) -> float:
    y_true = np.asarray(y_true)
    pred = predictions(y_score, task, threshold)
    if task == MULTILABEL:  # the mean over labels of each label's accuracy (every label has n entries)
        return float(np.mean(pred == y_true))
    return float(np.mean(pred == y_true.reshape(-1)))


def per_class(y_true: np.ndarray, y_score: np.ndarray, task: str, label_names: dict) -> dict:
    """Per class (or label): support, how often it was predicted, precision, recall (sensitivity), F1 and
    one-vs-rest AUC.

    A class never predicted has no precision (0/0): it is None, which ``metrics.json`` writes as ``null`` and
    the report shows as "–", not sklearn's ``zero_division`` default of 0, which reads as a measured 0 and
    would pull down any mean taken over classes (whoever averages them must leave it out, as sklearn's
    ``zero_division=np.nan`` does). Its F1 is still defined: F1 is ``2 TP / (2 TP + FP + FN)``, sklearn's
    definition, equal to the harmonic mean of precision and recall wherever both are defined, and 0 for a class
    with images never called it (recall 0), whatever its precision; sklearn gives 0 there with any
    ``zero_division``. A class with no image (a label never positive) has no recall and no AUC (None, NaN; not
    0.0 beside a support of 0), and no F1 where it was never called either (0/0)."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    pred = predictions(y_score, task)
    out = {}
    for i, name in enumerate(class_names(label_names, y_score.shape[1])):
        t = y_true[:, i] if task == MULTILABEL else (y_true == i).astype(int)
        p = pred[:, i] if task == MULTILABEL else (pred == i).astype(int)
        tp, fp, fn = int(np.sum((t == 1) & (p == 1))), int(np.sum((t == 0) & (p == 1))), int(np.sum((t == 1) & (p == 0)))
        prec = tp / (tp + fp) if tp + fp else None  # undefined, not 0 (see above)
        rec = tp / (tp + fn) if tp + fn else None  # no image of the class: undefined, as precision above
        # F1 from the counts (sklearn's formula), so an undefined precision needs no stand-in value
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
        out[name] = {"support": int(t.sum()), "predicted": tp + fp, "precision": prec, "recall": rec,
                     "f1": f1, "auc": _safe_auc(t, y_score[:, i])}
    return out


def _rank_auc(member: np.ndarray, score: np.ndarray) -> np.ndarray:
    """One-vs-rest AUC of every column at once, as the Mann-Whitney U statistic (ties count half): the same
    number as sklearn's ``roc_auc_score`` (to 1e-15), without its per-call input checks, which took ~5 ms a
    call and dominated a 1000-draw bootstrap (``bench/bootstrap.py``). Written here because neither sklearn
    nor torchmetrics scores many columns or draws without those checks."""
    ranks = rankdata(score, axis=0)
    pos = member.sum(0)
    neg = len(member) - pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * member).sum(0) - pos * (pos + 1) / 2) / (pos * neg)
    return np.where((pos > 0) & (neg > 0), auc, np.nan)


def per_class_ci(y_true: np.ndarray, y_score: np.ndarray, task: str, label_names: dict, n: int = 1000, seed: int = 0,
                 level: float = 0.95, groups=None) -> dict:
    """CIs of :func:`per_class`'s precision, recall, F1 and AUC: ``{name: {"precision_ci": [lo, hi],
    "precision_ci_draws": defined draws, ...}}``, percentile bootstrap ones drawn as :func:`bootstrap_ci` draws
    (within each class, whole patients with ``groups``). A draw where a statistic is undefined (no true or no
    predicted member) is left out; defined in under half the draws, there is no interval
    (:func:`medtrain.intervals.percentile_interval`).

    A class's statistics rest on its own units (images, or patients), of whose variance the draws within it
    leave out ``1/u`` (:func:`medtrain.intervals.shortfall`): a class of one test image had read recall
    0.000 [0.000, 0.000], AUC 0.986 [0.959, 1.000]. So under :data:`MIN_UNITS` units a class gets no interval
    (``_ci_draws`` 0). Under ``1 / MAX_SHORTFALL`` (10), or where the draws collapse to a point, recall and
    precision take Wilson's interval (``<name>_ci_method`` ``"wilson"``, clustered with ``groups``): recall
    over the class's units, precision over the images called the class (none under :data:`MIN_UNITS` of
    them; 8 of 61 had read [0.121, 0.143], Wilson [0.07, 0.24]); F1 and AUC, which have none such, get no
    interval. AUC also needs 10 units outside the class, which it compares against. A class (or label) with
    fewer than :data:`FEW_FOR_AUC` units on one side (images, or patients with ``groups``) takes Newcombe's
    interval of its AUC over those units instead (``auc_ci_method`` ``"newcombe"``), whatever the task: each
    one-vs-rest AUC is a binary AUC, whose bootstrap interval with 10 positives held it in 76-88% of simulated
    test sets; classes of 5 and 9 of 104 images (5 classes), Newcombe's held theirs in 95.7% of 300. So does a
    class whose draws all gave one AUC of 1 (or 0), however many its units (``auc_ci_reason``
    ``"bootstrap degenerate: perfect separation"``), where the point had been dropped, leaving no interval."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    k = y_score.shape[1]
    if n == 0 or len(y_true) == 0:
        return {name: {f"{m}_ci": [float("nan")] * 2 for m in PER_CLASS_CI} for name in class_names(label_names, k)}
    member = y_true.astype(int) if task == MULTILABEL else (y_true.reshape(-1, 1) == np.arange(k)).astype(int)
    pred = predictions(y_score, task)
    called = pred if task == MULTILABEL else (pred.reshape(-1, 1) == np.arange(k)).astype(int)
    resample = Resampler(len(y_true), groups, seed, None if task == MULTILABEL else y_true.reshape(-1))
    draws = np.full((n if resample.varies else 0, k, 4), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        for d in range(len(draws)):
            ix = resample.draw()
            t, p = member[ix], called[ix]
            tp, fp, fn = (t & p).sum(0), ((1 - t) & p).sum(0), (t & (1 - p)).sum(0)
            prec, rec = tp / (tp + fp), tp / (tp + fn)  # NaN where undefined
            draws[d, :, 0], draws[d, :, 1], draws[d, :, 2] = prec, rec, 2 * tp / (2 * tp + fp + fn)
            draws[d, :, 3] = _column_auc(t, y_score[ix])
    out, names, points = {}, class_names(label_names, k), set()
    for i, name in enumerate(names):
        cis = out[name] = {}
        for j, m in enumerate(PER_CLASS_CI):
            cis[f"{m}_ci"], cis[f"{m}_ci_draws"] = percentile_interval(draws[:, i, j], level)
        if _auc_interval.degenerate(cis["auc_ci"]):  # a perfect separation: every draw's AUC is 1 (or 0)
            points.add(i)
        _few_units(cis, member[:, i] == 1, called[:, i] == 1, groups)
    # each class's one-vs-rest AUC (each label's) is a binary AUC: with few units of a side (patients where they
    # repeat) or a point from the draws, Newcombe's interval over them (as the binary headline's), not a bootstrap
    _auc_interval.per_class(out, names, member, _column_auc(member, y_score), groups, points, level)
    return out


def _few_units(cis: dict, true: np.ndarray, called: np.ndarray, groups) -> None:
    """:func:`per_class_ci`'s rules for a class of few units, applied to its bootstrap intervals ``cis``."""
    small, units = 1 / MAX_SHORTFALL, units_in(true, groups)
    none = set(PER_CLASS_CI) if units < MIN_UNITS else {"f1", "auc"} if units < small else set()
    if units_in(~true, groups) < small:  # AUC rests on the images outside the class as much
        none.add("auc")
    # a class the network calls for every image: its precision is the ACC, its F1 follows, and over patients of
    # unequal size their draws vary a little without meaning it ([0.439, 0.581] beside ACC's Wilson [0.339, 0.679])
    always = bool(called.all()) and not bool(true.all())
    for m, rows, hit in (("recall", true, called), ("precision", called, true)):
        lo, hi = cis[f"{m}_ci"]
        few = units < small or units_in(rows, groups) < small
        if m not in none and (few or lo == hi or always):
            ci = proportion_ci(hit[rows], np.asarray(groups)[rows] if repeated(groups) else None)
            if np.isfinite(ci).all():
                cis[f"{m}_ci"], cis[f"{m}_ci_method"] = ci, "wilson"
                cis[f"{m}_ci_reason"] = ("few units" if few else ONE_CLASS if always
                                         else "every draw gave one value")
            else:
                none.add(m)
    for m in ("f1", "auc"):  # a point from the draws (a class never or always called) claims certainty
        lo, hi = cis[f"{m}_ci"]
        if lo == hi or (always and m == "f1"):
            none.add(m)
    for m in none:
        cis[f"{m}_ci"], cis[f"{m}_ci_draws"] = [float("nan")] * 2, 0


def confusion(y_true: np.ndarray, y_score: np.ndarray, task: str) -> list:
    """Confusion matrix (rows: true class, columns: predicted); per label 2x2 for multi-label."""
    pred = predictions(y_score, task)
    y_true = np.asarray(y_true)
    if task == MULTILABEL:
        return [confusion_matrix(y_true[:, i], pred[:, i], labels=[0, 1]).tolist() for i in range(y_true.shape[1])]
    return confusion_matrix(y_true, pred, labels=list(range(np.asarray(y_score).shape[1]))).tolist()


def bootstrap_ci(y_true: np.ndarray, y_score: np.ndarray, task: str, n: int = 1000, seed: int = 0,
                 level: float = 0.95, groups=None) -> dict:
    """Percentile bootstrap confidence intervals of ACC and AUC (resampling images, or patients with
    ``groups``, with replacement, within each class: :class:`medtrain.intervals.Resampler`; multi-label rows
    freely, unstratified), with the number of draws each was defined in (``acc_ci_draws``, ``auc_ci_draws``:
    a multi-label AUC is undefined in a draw without a positive of some label)."""
    return bootstrap(y_true, y_score, {"acc": lambda y, s: acc(y, s, task), "auc": lambda y, s: auc(y, s, task)},
                     n, seed, level, groups, stratify=task != MULTILABEL)


# --- calibration -------------------------------------------------------------------------------------------

def calls_one_class(y_score, task: str) -> bool:
    """Whether the decisions of ``y_score`` (single-label tasks: :func:`predictions`) name one class for every
    image: the one rule of a run's warning, the choices' check of a fitted rule and ``eval --vs``'s caveat."""
    return task != MULTILABEL and len(np.unique(predictions(y_score, task))) < 2


#: why an interval is Wilson's where the network calls every image one class: its draws barely vary
ONE_CLASS = "every image called one class"


def acc_auc_ci(y_true, y_score, task: str, n: int, seed: int, groups=None, acc_value: float | None = None,
               label_cis=None) -> dict:
    """:func:`bootstrap_ci`'s ACC and AUC intervals, except where the within-class resamples cannot show ACC's
    variability. ACC is a proportion, and there Wilson's interval (over the patients' effective size with
    ``groups``) stays honest, with ``acc_ci_method`` ``"wilson"``. That is where every image is right (or
    every one wrong), or every resample gives the same ACC (a network calling every image one class, its class
    counts fixed by the stratified draws): a point, where Wilson gives [0.862, 1] for 24 of 24. And where
    the draws leave out more than :data:`MAX_SHORTFALL` of ACC's variance (classes of fewer than about 10
    units, :func:`medtrain.intervals.shortfall`; ``acc_ci_reason`` ``"few units per class"``): 20 classes
    of 1-8 test images gave [0.108, 0.162] for 10 of 74 right, Wilson [0.075, 0.231]; over simulated test
    sets of many small classes the bootstrap's "95%" held the accuracy 78-89% of the time, Wilson's 95-97%
    (``tests/test_interval_coverage.py``). Over one patient there is no interval (``[nan, nan]``, no
    method). A binary task's AUC whose rarer class has fewer than :data:`FEW_FOR_AUC` test units (images, or
    patients with ``groups``: :func:`few_for_auc`) takes Newcombe's score interval over them instead
    (``auc_ci_method`` ``"newcombe"``, :func:`medtrain.intervals.newcombe_auc_interval`): 10 positives gave
    bootstrap intervals that held the AUC 76-88% of the time, and 4 + 4 patients of AUC 1 the point [1, 1]. A
    multi-class (or ordinal) AUC where ACC's draws leave out too much (few units per class) takes, over
    independent images, :func:`medtrain.intervals.macro_auc_logit_interval` (``"delong-logit"``): 20 classes
    of 4 images, the bootstrap's held the AUC in 88-92% of simulated test sets, this one 92-96%; where that one
    has none (an AUC of 1 or 0, the bootstrap's a point [1, 1]; patients, not independent images) the score-type
    :func:`medtrain.intervals.macro_auc_score_interval` over each class's units (``"score"``). Where the classes
    have many units but the AUC is exactly 1 (or 0), every resample separates them as perfectly and the bootstrap's
    interval is the point [1, 1]: that score interval over the units takes its place (Newcombe's for a binary
    task; ``auc_ci_reason`` ``"bootstrap degenerate: perfect separation"``; :mod:`medtrain._auc_interval`
    chooses). A multi-label task's mean AUC, where its bootstrap interval is a point at 1 (or 0) or a label has
    fewer than :data:`FEW_FOR_AUC` units of a side, takes the mean of the ends of its labels' own intervals
    (``label_cis``, :func:`per_class_ci`'s, computed here where not given: Newcombe's where a label has few units
    of a side or scores 1, else the bootstrap's; ``"label-mean"``, :func:`medtrain._auc_interval.label_mean`),
    and its mean ACC of 1 (or 0) the mean of its labels' Wilson intervals. Used for a run's test split and for
    pooled cross-validation."""
    res = bootstrap_ci(y_true, y_score, task, n, seed, groups=groups)
    acc_value = acc(y_true, y_score, task) if acc_value is None else acc_value
    lo, hi = res.get("acc_ci", [float("nan")] * 2)
    # A network that calls every image one class has the same ACC in every draw of the stratified bootstrap
    # (the class counts are fixed): "[0.731, 0.731]" claimed certainty (the regression walk of 2026-12-05).
    collapsed = res.get("acc_ci_draws") and lo == hi
    # ... and over patients of unequal size the draws differ a little, though every image is still called one
    # class: [0.632, 0.712] for 120 of 180 over 49 patients, where clustered Wilson gives [0.520, 0.787]
    if not n or not len(y_true):
        return res
    if task == MULTILABEL:  # the mean over labels: its labels' own intervals, where the bootstrap's cannot hold
        _auc_interval.label_mean(res, y_true, groups, auc(y_true, y_score, task), lambda: label_cis or [
            c["auc_ci"] for c in per_class_ci(y_true, y_score, task, {}, n, seed, groups=groups).values()])
        _auc_interval.label_mean_acc(res, y_true, predictions(y_score, task), groups, acc_value)
        return res
    called = predictions(y_score, task)
    hit = called == np.asarray(y_true).reshape(-1)
    one_class = calls_one_class(y_score, task) and len(np.unique(np.asarray(y_true))) > 1
    few = shortfall(hit, groups, class_strata(y_true)) > MAX_SHORTFALL
    _auc_interval.headline(res, y_true, y_score, task, groups, auc(y_true, y_score, task), few)
    reason = ("every image right" if acc_value == 1.0 else "every image wrong" if acc_value == 0.0
              else ONE_CLASS if one_class else "every draw gave one value" if collapsed
              else "few units per class" if few else None)
    if reason is not None:
        ci = clustered_wilson(hit, groups) if repeated(groups) else wilson_interval(int(hit.sum()), len(hit))
        if np.isfinite(ci).all():
            res["acc_ci"], res["acc_ci_method"], res["acc_ci_reason"] = ci, "wilson", reason
    return res


def ece(y_true, y_score, task: str, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error (L1, ``n_bins`` equal-width bins) with torchmetrics' ``CalibrationError``.

    binary: the calibration of the positive class's probability (``BinaryCalibrationError``);
    multi-class and ordinal: of the top-label confidence (``MulticlassCalibrationError``);
    multi-label: the binary ECE of each label's probability, averaged over labels.
    """
    from torchmetrics.functional.classification import binary_calibration_error, multiclass_calibration_error

    y_true, y_score = np.asarray(y_true), np.asarray(y_score, dtype=np.float64)
    if len(y_true) == 0:
        return float("nan")
    p = torch.from_numpy(y_score).float()
    if task == MULTILABEL:
        t = torch.from_numpy(y_true.reshape(p.shape)).long()
        return float(np.mean([binary_calibration_error(p[:, i].contiguous(), t[:, i].contiguous(), n_bins=n_bins,
                                                       norm="l1").item() for i in range(p.shape[1])]))
    t = torch.from_numpy(y_true.reshape(-1)).long()
    if task == BINARY:
        pos = (p[:, -1] if p.ndim == 2 else p).contiguous()
        return float(binary_calibration_error(pos, t, n_bins=n_bins, norm="l1"))
    return float(multiclass_calibration_error(p, t, num_classes=p.shape[1], n_bins=n_bins, norm="l1"))


def reliability(y_true, y_score, task: str, n_bins: int = ECE_BINS, positive: int = 1) -> dict:
    """The points of a reliability diagram, binned as :func:`ece` bins them (torchmetrics' ``[lo, hi)`` bins of
    float32 confidences, 1.0 its own): per non-empty bin the mean confidence, the observed frequency (binary: of
    the ``positive`` class, its probability binned, the class a run's ROC and operating point name; multi-label:
    of positives, a multi-label task's labels pooled; multi-class: of correct top labels) and the count. Their ECE
    is :func:`ece`'s (binary: alike for either class; pooled labels: ``ece`` of the flattened labels as a binary
    task)."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score, dtype=np.float32)  # as ece hands them to torchmetrics
    if task == MULTILABEL:
        conf, hit = y_score.ravel(), y_true.reshape(y_score.shape).ravel().astype(float)
    elif task == BINARY:
        hit = (y_true.reshape(-1) == positive).astype(float)
        conf = y_score[:, positive] if y_score.ndim == 2 else (y_score if positive == 1 else 1 - y_score)
    else:
        conf, hit = y_score.max(axis=1), (y_score.argmax(axis=1) == y_true.reshape(-1)).astype(float)
    ix = torch.bucketize(torch.from_numpy(np.ascontiguousarray(conf)), torch.linspace(0, 1, n_bins + 1), right=True)
    ix = ix.numpy() - 1
    out = {"confidence": [], "frequency": [], "count": []}
    for b in range(n_bins + 1):
        m = ix == b
        if m.any():
            out["confidence"].append(float(conf[m].mean()))
            out["frequency"].append(float(hit[m].mean()))
            out["count"].append(int(m.sum()))
    return out


def evaluate_scores(y_true, y_score, task: str, label_names: dict, bootstrap: int = 0, seed: int = 0,
                    groups=None) -> dict:
    """Every test metric of a run: acc, auc, their CIs, per-class metrics and the confusion matrix.
    ``groups``: each image's patient where some have several images: the CIs resample patients."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    res = {"acc": acc(y_true, y_score, task), "auc": auc(y_true, y_score, task), "n": int(len(y_true))}
    clustered = repeated(groups)
    if clustered:
        res["patients"] = len(set(groups))  # the CIs' unit
    cis = per_class_ci(y_true, y_score, task, label_names, bootstrap, seed, groups=groups) if bootstrap else {}
    res.update(acc_auc_ci(y_true, y_score, task, bootstrap, seed, groups, res["acc"],
                          [c["auc_ci"] for c in cis.values()]))
    res["per_class"] = per_class(y_true, y_score, task, label_names)
    for name, c in cis.items():
        res["per_class"][name].update(c)
    if absent := auc_undefined(y_true, y_score, task, label_names):
        res["auc_undefined"] = absent
    if task != MULTILABEL:  # mean recall: accuracy as if every class were equally frequent; over the classes
        # the data hold (a class with no image has no recall), as sklearn's balanced_accuracy_score takes it
        recalls = [c["recall"] for c in res["per_class"].values() if c["recall"] is not None]
        res["balanced_acc"] = float(np.mean(recalls)) if recalls else float("nan")
    res["confusion"] = confusion(y_true, y_score, task)
    res["scores"] = y_score  # for the predictions file; not written into metrics.json
    return res
