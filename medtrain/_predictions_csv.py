"""The predictions CSV of a run directory (``predictions_test.csv``, ``predictions_val.csv``): its format,
written by :func:`medtrain.rundir.write_run` (the run's one writer) and read back by evaluation and
cross-validation. Split out of :mod:`medtrain.rundir` to keep each module about one concept."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import NamedTuple

import numpy as np

from medtrain._io import csv_cell, write_text
from medtrain.errors import MedtrainError
from medtrain.tasks import MULTILABEL, class_names

PREDICTIONS_FILE = "predictions_test.csv"
#: cross-validation folds: the validation predictions too, in the test file's columns (the calibrated class columns
#: its threshold was chosen on, the decisions at the operating point)
VAL_PREDICTIONS_FILE = "predictions_val.csv"


class SavedPredictions(NamedTuple):
    """What a run's ``predictions_<split>.csv`` holds for evaluation: labels ``(N,)`` (``(N, L)`` for several
    label columns), the probabilities ``p0..`` ``(N, K)``, and each image's ``group`` (patient) or None."""

    labels: np.ndarray
    scores: np.ndarray
    groups: list[str] | None
    inputs: list[str] | None = None  #: each row's ``input`` (its file, or its index in the split)
    decisions: list[str] | None = None  #: each row's ``prediction_at_operating_point`` (a run with one), else None


def read_saved(run_dir: str | Path, split: str = "test") -> SavedPredictions:
    """A run's ``predictions_<split>.csv``, read once (labels, probabilities and the patient column)."""
    path = Path(run_dir) / f"predictions_{split}.csv"
    try:
        with open(path, newline="", encoding="utf-8") as f:  # as written (_io.write_text), whatever the locale
            rows = list(csv.reader(f))
        head = rows[0]
        lab = _run_of(head, "label", 1)  # index, label0.., p0.. (columns named by class follow)
        prob = _run_of(head, "p", 1 + len(lab))
        labels = np.array([[int(r[i]) for i in lab] for r in rows[1:]], np.int64).reshape(-1, len(lab))
        scores = np.array([[float(r[i]) for i in prob] for r in rows[1:]], np.float64).reshape(-1, len(prob))
        groups = [r[head.index("group")] for r in rows[1:]] if "group" in head else None
        inputs = [r[head.index("input")] for r in rows[1:]] if "input" in head else None
        at_op = head.index("prediction_at_operating_point") if "prediction_at_operating_point" in head else None
        decisions = [r[at_op] for r in rows[1:]] if at_op is not None else None
    except (OSError, IndexError, ValueError):
        raise MedtrainError(f"{path} is missing or not a predictions file") from None
    return SavedPredictions(labels[:, 0] if labels.shape[1] == 1 else labels, scores, groups, inputs, decisions)


def read_pooled(run_dirs: list, split: str) -> SavedPredictions:
    """The ``predictions_<split>.csv`` of several runs as one set, in the order of ``run_dirs``: a
    cross-validation's folds, each holding out its own images, pooled so that every image is read once (its
    out-of-fold score; patients and inputs where every fold names them)."""
    return pooled([read_saved(d, split) for d in run_dirs])


def pooled(parts: list[SavedPredictions]) -> SavedPredictions:
    """Several runs' predictions (:func:`read_saved`'s, already read) as one set, in their order."""
    return SavedPredictions(np.concatenate([p.labels for p in parts]), np.concatenate([p.scores for p in parts]),
                            None if any(p.groups is None for p in parts) else [g for p in parts for g in p.groups],
                            None if any(p.inputs is None for p in parts) else [i for p in parts for i in p.inputs])


def read_predictions(run_dir: str | Path, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """``(labels, scores)`` of a run's ``predictions_<split>.csv`` (:func:`read_saved` without the groups)."""
    saved = read_saved(run_dir, split)
    return saved.labels, saved.scores


def _run_of(head: list[str], prefix: str, start: int) -> list[int]:
    """Positions of the consecutive columns ``prefix0, prefix1, ...`` from ``start``."""
    out = []
    while start + len(out) < len(head) and head[start + len(out)] == f"{prefix}{len(out)}":
        out.append(start + len(out))
    return out


def write_predictions(path: Path, labels, scores, entropy, label_names: dict | None = None, task: str | None = None,
                      scaled=None, inputs: list[str] | None = None, operating_point: tuple | None = None,
                      groups: list[str] | None = None) -> None:
    """One row per image of the split (test; a fold run's val too): its label(s), the predicted probabilities,
    the temperature-scaled probabilities (``q0``...) and (MC dropout) the entropy; with ``label_names`` and
    ``task`` also the columns ``medtrain predict`` writes: ``prediction`` (label name) and one probability column
    per class named by its label (a name that would repeat a column is skipped), holding what ``predict`` gives: the
    temperature-scaled probabilities when there are any (the decision is the same either way). The
    column ``input`` names each image as ``predict`` does: its source file (``inputs``, where the data
    have files), else its index in the split. ``operating_point`` ``(threshold, positive)`` (multi-label:
    ``(thresholds, None)``, one per label) adds predict's ``prediction_at_operating_point`` (multi-label: the labels
    called at their thresholds, joined by ``;`` as ``prediction``); then, for failure analysis, ``true_label`` (the label's name; multi-label:
    the names joined by ``;``, as ``prediction``), ``correct`` (``true``/``false``) and, with an operating point,
    ``correct_at_operating_point``; ``groups`` (each image's patient hash, where patients have several
    images) the column ``group``, which cross-validation's pooled intervals resample by. Probabilities are
    written to 9 significant digits, float32's whole precision, so metrics recomputed from the file equal
    the run's (at 6 decimals, close scores tied and an AUC moved in the 4th decimal)."""
    from medtrain.metrics import predicted_names
    from medtrain.operating_point import names_at_operating_point

    labels = np.asarray(labels).reshape(len(scores), -1)
    k = scores.shape[1]
    head = ["index"] + [f"label{j}" for j in range(labels.shape[1])] + [f"p{j}" for j in range(k)]
    head += [f"q{j}" for j in range(k)] if scaled is not None else []
    head += ["entropy"] if entropy is not None else []
    names = class_names(label_names, k) if label_names and task else []
    head += ["input"] + (["group"] if groups is not None else [])
    after = ("true_label", "correct", "correct_at_operating_point")  # for failure analysis: each row's verdict
    named = [j for j, n in enumerate(names)
             if n not in head and n not in after and n != "prediction" and names.index(n) == j]
    decided = predicted_names(scores, task, names) if names else []
    shown = np.asarray(scaled) if scaled is not None else scores
    at_op = names_at_operating_point(shown, *operating_point, names) if names and operating_point else None
    truth = [";".join(names[j] for j in np.flatnonzero(row)) if task == MULTILABEL else names[int(row[0])]
             for row in labels] if names else []
    if names:
        head += ["prediction"] + [names[j] for j in named] + (["prediction_at_operating_point"] if at_op else [])
        head += ["true_label", "correct"] + (["correct_at_operating_point"] if at_op else [])
    lines = [",".join(csv_cell(h) for h in head)]
    for i in range(len(scores)):
        row = [str(i)] + [str(int(v)) for v in labels[i]] + [f"{v:.9g}" for v in scores[i]]
        row += [f"{v:.9g}" for v in scaled[i]] if scaled is not None else []
        row += [f"{entropy[i]:.9g}"] if entropy is not None else []
        row += [csv_cell(str(inputs[i])) if inputs is not None else str(i)]
        row += [csv_cell(groups[i])] if groups is not None else []
        if names:
            row += [csv_cell(decided[i])] + [f"{shown[i, j]:.9g}" for j in named]
            row += [csv_cell(at_op[i])] if at_op else []
            row += [csv_cell(truth[i]), str(decided[i] == truth[i]).lower()]
            row += [str(at_op[i] == truth[i]).lower()] if at_op else []
        lines.append(",".join(row))
    write_text(path, "\n".join(lines) + "\n")
