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
from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score

from medtrain.tasks import BINARY, MULTILABEL


def scores_from_logits(logits: torch.Tensor, task: str) -> torch.Tensor:
    return torch.sigmoid(logits) if task == MULTILABEL else torch.softmax(logits, dim=-1)


def _safe_auc(y: np.ndarray, s: np.ndarray) -> float:
    # roc_auc_score is undefined when only one class is present (tiny validation sets, bootstrap draws).
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, s))


def auc(y_true: np.ndarray, y_score: np.ndarray, task: str) -> float:
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    if task == MULTILABEL:
        return float(np.mean([_safe_auc(y_true[:, i], y_score[:, i]) for i in range(y_score.shape[1])]))
    if task == BINARY:
        return _safe_auc(y_true, y_score[:, -1] if y_score.ndim == 2 else y_score)
    return float(np.mean([_safe_auc((y_true == i).astype(float), y_score[:, i]) for i in range(y_score.shape[1])]))


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
    if task == MULTILABEL:
        return float(np.mean([accuracy_score(y_true[:, i], pred[:, i]) for i in range(y_true.shape[1])]))
    return float(accuracy_score(y_true, pred))


def per_class(y_true: np.ndarray, y_score: np.ndarray, task: str, label_names: dict) -> dict:
    """Per class (or label): support, precision, recall (sensitivity), F1 and one-vs-rest AUC."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    pred = predictions(y_score, task)
    out = {}
    for i in range(y_score.shape[1]):
        name = label_names.get(str(i), str(i))
        t = y_true[:, i] if task == MULTILABEL else (y_true == i).astype(int)
        p = pred[:, i] if task == MULTILABEL else (pred == i).astype(int)
        tp, fp, fn = int(np.sum((t == 1) & (p == 1))), int(np.sum((t == 0) & (p == 1))), int(np.sum((t == 1) & (p == 0)))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        out[name] = {"support": int(t.sum()), "precision": prec, "recall": rec,
                     "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0, "auc": _safe_auc(t, y_score[:, i])}
    return out


def confusion(y_true: np.ndarray, y_score: np.ndarray, task: str) -> list:
    """Confusion matrix (rows: true class, columns: predicted); per label 2x2 for multi-label."""
    pred = predictions(y_score, task)
    y_true = np.asarray(y_true)
    if task == MULTILABEL:
        return [confusion_matrix(y_true[:, i], pred[:, i], labels=[0, 1]).tolist() for i in range(y_true.shape[1])]
    return confusion_matrix(y_true, pred, labels=list(range(np.asarray(y_score).shape[1]))).tolist()


def bootstrap_ci(y_true: np.ndarray, y_score: np.ndarray, task: str, n: int = 1000, seed: int = 0,
                 level: float = 0.95) -> dict:
    """Percentile bootstrap confidence intervals of ACC and AUC (resampling images with replacement)."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    if n == 0 or len(y_true) == 0:
        return {"acc_ci": [float("nan")] * 2, "auc_ci": [float("nan")] * 2}
    rng = np.random.default_rng(seed)
    accs, aucs = [], []
    for _ in range(n):
        ix = rng.integers(0, len(y_true), len(y_true))
        accs.append(acc(y_true[ix], y_score[ix], task))
        aucs.append(auc(y_true[ix], y_score[ix], task))
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return {"acc_ci": [float(np.nanpercentile(accs, lo)), float(np.nanpercentile(accs, hi))],
            "auc_ci": [float(np.nanpercentile(aucs, lo)), float(np.nanpercentile(aucs, hi))]}


def evaluate_scores(y_true, y_score, task: str, label_names: dict, bootstrap: int = 0, seed: int = 0) -> dict:
    """Every test metric of a run: acc, auc, their CIs, per-class metrics and the confusion matrix."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    res = {"acc": acc(y_true, y_score, task), "auc": auc(y_true, y_score, task), "n": int(len(y_true))}
    res.update(bootstrap_ci(y_true, y_score, task, bootstrap, seed))
    res["per_class"] = per_class(y_true, y_score, task, label_names)
    if task != MULTILABEL:  # mean recall: accuracy as if every class were equally frequent
        res["balanced_acc"] = float(np.mean([c["recall"] for c in res["per_class"].values()]))
    res["confusion"] = confusion(y_true, y_score, task)
    res["scores"] = y_score  # for the predictions file; not written into metrics.json
    return res
