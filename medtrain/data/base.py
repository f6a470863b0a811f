"""The in-memory form every data source is loaded into.

Datasets small enough for memory (every MedMNIST set, typical folders of a few thousand images) are held
as uint8 tensors, ``(N, C, H, W)`` for images or ``(N, C, D, H, W)`` for volumes, so a batch is one
indexing operation instead of N decodes. Labels are int64 ``(N,)`` class indices, or float ``(N, L)``
0/1 matrices for multi-label tasks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import Tensor

from medtrain.data.split import SplitRecord
from medtrain.errors import MedtrainError
from medtrain.tasks import BINARY, MULTICLASS, MULTILABEL, ORDINAL, TASKS  # noqa: F401 (re-exported)

SPLITS = ("train", "val", "test")


@dataclass
class Split:
    """Images ``(N, C, *spatial)`` uint8 and labels ``(N,)`` int64 or ``(N, L)`` float; ``sources``: the
    file (or DICOM series folder) each image was read from, where the data have files (None for arrays);
    ``groups``: the patient (group hash) of each image where the data name patients and some have several
    images (None otherwise): confidence intervals then resample patients, not images."""

    images: Tensor
    labels: Tensor
    sources: list[str] | None = None
    groups: list[str] | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, index: Tensor) -> "Split":
        """The images at ``index`` (int64 ``(M,)``), with their labels, sources and groups, in that order."""
        pick = lambda v: None if v is None else [v[i] for i in index.tolist()]  # noqa: E731
        return Split(self.images[index], self.labels[index], pick(self.sources), pick(self.groups))


@dataclass
class Splits:
    """A dataset with its train / val / test splits and what the labels mean."""

    name: str
    task: str
    label_names: dict  #: {"0": "normal", "1": "pneumonia"}
    train: Split
    val: Split
    test: Split
    source: str = ""  #: where it came from (file path), for the run record
    extra: dict = field(default_factory=dict)
    record: Optional[SplitRecord] = None  #: which input went to which split (a run's ``splits.csv``)

    @property
    def num_classes(self) -> int:
        """Outputs of the classifier: classes, or labels for a multi-label task."""
        return len(self.label_names)

    @property
    def in_chans(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def spatial_shape(self) -> tuple:
        return tuple(self.train.images.shape[2:])

    def split(self, name: str) -> Split:
        if name not in SPLITS:  # getattr would hand back any attribute, or raise AttributeError
            raise MedtrainError(f"unknown split {name!r}: one of {', '.join(SPLITS)}")
        return getattr(self, name)

    def validate(self) -> "Splits":
        """Check shapes, dtypes and label ranges; raise MedtrainError naming the problem."""
        if self.task not in TASKS:
            raise MedtrainError(f"{self.name}: unknown task '{self.task}'")
        k = self.num_classes
        if k < 2 and self.task != MULTILABEL:
            raise MedtrainError(f"{self.name}: needs at least 2 classes, found {k}")
        shape = None
        for s in SPLITS:
            sp = self.split(s)
            if sp.images.dtype != torch.uint8:
                raise MedtrainError(f"{self.name}: {s} images must be uint8, got {sp.images.dtype}")
            if sp.images.ndim not in (4, 5):
                raise MedtrainError(f"{self.name}: {s} images must be (N, C, H, W) or (N, C, D, H, W)")
            if 0 in sp.images.shape[1:]:
                raise MedtrainError(f"{self.name}: {s} images have an empty dimension, shape "
                                    f"{tuple(sp.images.shape[1:])}")
            if len(sp) != len(sp.labels):
                raise MedtrainError(
                    f"{self.name}: {s} has {len(sp)} images but {len(sp.labels)} labels")
            if len(sp) == 0 and s != "test":
                raise MedtrainError(f"{self.name}: the {s} split is empty")
            if shape is None:
                shape = sp.images.shape[1:]
            elif sp.images.shape[1:] != shape:
                raise MedtrainError(f"{self.name}: {s} images are {tuple(sp.images.shape[1:])}, "
                                    f"train images are {tuple(shape)}")
            if len(sp) == 0:
                continue
            if self.task == MULTILABEL:
                if sp.labels.ndim != 2 or sp.labels.shape[1] != k:
                    raise MedtrainError(f"{self.name}: {s} labels must be (N, {k}) for a multi-label task")
                if not torch.all((sp.labels == 0) | (sp.labels == 1)):
                    raise MedtrainError(f"{self.name}: {s} multi-label labels must be 0 or 1")
            else:
                lo, hi = int(sp.labels.min()), int(sp.labels.max())
                if lo < 0 or hi >= k:
                    raise MedtrainError(f"{self.name}: {s} labels must lie in 0..{k - 1}, found {lo}..{hi}")
        if self.task != MULTILABEL:
            missing = sorted(set(range(k)) - set(self.train.labels.unique().tolist()))
            if missing:
                names = ", ".join(self.label_names.get(str(i), str(i)) for i in missing)
                raise MedtrainError(f"{self.name}: class {names} has no training images")
        else:
            self._check_labels_vary()
        return self

    def _check_labels_vary(self) -> None:
        """Multi-label: every label needs a positive and a negative image in each non-empty split, as a class
        needs an image in each split a single-label task scores. A label that is always 0 (or 1) in train has
        nothing to learn; in val or test its AUC is undefined (MedMNIST's getAUC raises). They had been
        accepted: an all-positive val label logged val AUC 0.0 every epoch and chose the 'best' epoch by it."""
        for s in SPLITS:
            sp = self.split(s)
            if len(sp) == 0:
                continue
            positives = sp.labels.sum(0).tolist()
            bad = [f"{self.label_names.get(str(i), str(i))!r} ({'no positive' if n == 0 else 'no negative'})"
                   for i, n in enumerate(positives) if n in (0, len(sp))]
            if bad:
                why = "it has nothing to learn" if s == "train" else "its AUC is undefined"
                raise MedtrainError(f"{self.name}: in the {s} split, label {', '.join(bad)}: a label needs positive "
                                    f"and negative images in every split ({why}); drop the label or move images")
