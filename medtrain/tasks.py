"""Task names, as MedMNIST spells them (``medmnist.INFO[...]["task"]``); the one place they are defined.

Data loaders label a dataset with one of these, metrics and the loss read it back. Also a run's class (multi-label:
label) names in index order (:func:`class_names`), the one list every layer above builds from ``label_names``.
"""
from __future__ import annotations

import unicodedata

import numpy as np

BINARY = "binary-class"
MULTICLASS = "multi-class"
MULTILABEL = "multi-label, binary-class"
ORDINAL = "ordinal-regression"
TASKS = (BINARY, MULTICLASS, MULTILABEL, ORDINAL)
#: multi-label column names that mean "no label positive" to a reader (CheXpert's ``No Finding``): trained as a label
#: of their own (said when read: :class:`medtrain.data._multilabel_table.NoFindingWarning`), and no finding when the
#: images with a finding are counted (:func:`medtrain.operating_point.label_rates`)
NO_FINDING = ("no finding", "no findings", "no_finding", "nofinding", "normal")


def is_no_finding(name) -> bool:
    """Whether a label's name is one of :data:`NO_FINDING`, in any case, Unicode form or surrounding spaces: the one
    test of the reader that warns of it and of the count that leaves it out."""
    return unicodedata.normalize("NFC", str(name)).strip().casefold() in NO_FINDING

__all__ = ["BINARY", "MULTICLASS", "MULTILABEL", "ORDINAL", "TASKS", "class_names", "one_vs_rest"]


def class_names(label_names: dict, count: int | None = None) -> list[str]:
    """The names of classes ``0 .. count - 1`` (``count``: as many as ``label_names`` holds) as text, from a run's
    ``label_names`` (``{"0": name, ...}``, as its data and its weights' metadata hold them); a class it does not
    name is shown by its index."""
    n = len(label_names) if count is None else count
    return [str(label_names.get(str(i), i)) for i in range(n)]


def one_vs_rest(labels, num_classes: int) -> np.ndarray:
    """A multi-class (or ordinal) task's labels (``(N,)`` or ``(N, 1)`` class indices) as ``(N, num_classes)`` 0/1 columns, one
    per class against the rest: the curves whose AUCs MedMNIST's multi-class AUC averages."""
    y = np.asarray(labels).reshape(-1).astype(int)
    return (y[:, None] == np.arange(num_classes)[None, :]).astype(int)
