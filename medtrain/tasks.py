"""Task names, as MedMNIST spells them (``medmnist.INFO[...]["task"]``); the one place they are defined.

Data loaders label a dataset with one of these, metrics and the loss read it back.
"""
from __future__ import annotations

BINARY = "binary-class"
MULTICLASS = "multi-class"
MULTILABEL = "multi-label, binary-class"
ORDINAL = "ordinal-regression"
TASKS = (BINARY, MULTICLASS, MULTILABEL, ORDINAL)

__all__ = ["BINARY", "MULTICLASS", "MULTILABEL", "ORDINAL", "TASKS"]
