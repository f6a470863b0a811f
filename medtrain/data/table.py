"""The label CSV every on-disk loader reads, and the one seeded stratified train/val/test split.

A label CSV lists one entry per row: ``path,label[,split]``. A header row naming the columns (``path``,
``label`` and optionally ``split``, in any order) is optional; without one the columns are taken in that
order. Paths are relative to the CSV's folder (absolute paths are used as they are). Blank rows and rows
starting with ``#`` are ignored. ``split`` is ``train``, ``val`` or ``test`` (``training``, ``valid``,
``validation``, ``testing`` are accepted); either every row has one or none does.

The same CSV gives the same classes, the same class order and the same split whether it lists 2D images
(:mod:`medtrain.data.folder`) or volumes (:mod:`medtrain.data.volumes`):

* classes are numbered in sorted order of their names: numerically when every label is an integer
  (so ``0..K-1`` keep their values and ``10`` comes after ``9``), otherwise as strings;
* without a split column, :func:`stratified_split` assigns the rows, per class, reproducibly for a seed.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from medtrain._io import path_kind
from medtrain.errors import MedtrainError

SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "test": "test", "testing": "test"}
PARTS = ("train", "val", "test")  #: the split a :func:`stratified_split` code 0, 1, 2 stands for
COLUMNS = ("path", "label", "split")


@dataclass
class LabelTable:
    """The rows of a label CSV: entry paths as written, label strings, splits (or None), and the source."""

    source: Path
    paths: list[str]
    labels: list[str]
    splits: Optional[list[str]]  #: None when the CSV has no split column

    def resolve(self, root: str | os.PathLike | None = None) -> list[Path]:
        """Entry paths joined to ``root`` (default: the CSV's folder); absolute ones kept."""
        base = Path(root) if root is not None else self.source.parent
        return [Path(p) if Path(p).is_absolute() else base / p for p in self.paths]


def _header(row: list[str]) -> Optional[list[str]]:
    cells = [c.strip().lower() for c in row]
    return cells if "path" in cells or "label" in cells else None


def read_label_csv(csv_path: str | os.PathLike) -> LabelTable:
    """Read a label CSV ``path,label[,split]`` (header optional).

    Raises:
        MedtrainError: naming the file (and the row), if it is missing, unreadable, empty, has other
            columns, a row without a path or label, an unknown split, or splits on some rows only.
    """
    csv_path = Path(csv_path)
    if path_kind(csv_path) != "file":
        raise MedtrainError(f"{csv_path}: label CSV not found (expected rows path,label[,split])")
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if any(c.strip() for c in r) and not r[0].lstrip().startswith("#")]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise MedtrainError(f"{csv_path}: not a readable CSV file ({type(e).__name__})") from None
    for i, r in enumerate(rows):
        if any("\n" in c or "\r" in c for c in r):
            raise MedtrainError(f"{csv_path}: record {i + 1} has a line break inside a cell")
    cols = [0, 1, 2]
    ncols = None
    header = _header(rows[0]) if rows else None
    if header is not None:
        rows = rows[1:]
        unknown = [c for c in header if c not in COLUMNS]
        if unknown or len(set(header)) != len(header) or not {"path", "label"} <= set(header):
            raise MedtrainError(f"{csv_path}: header must name the columns path,label[,split], "
                                f"got {','.join(header)}")
        cols = [header.index(c) if c in header else None for c in COLUMNS]
        ncols = len(header)
    paths, labels, splits = [], [], []
    for i, r in enumerate(rows, 1):
        r = [c.strip() for c in r]
        n = ncols if ncols is not None else len(r)
        if len(r) != n or n not in (2, 3):
            raise MedtrainError(f"{csv_path}: row {i} must be path,label[,split], got {len(r)} columns")
        path, label = r[cols[0]], r[cols[1]]
        if not path or not label:
            raise MedtrainError(f"{csv_path}: row {i} has an empty {'path' if not path else 'label'}")
        paths.append(path)
        labels.append(label)
        if n == 3:
            given = r[cols[2] if cols[2] is not None else 2]
            split = SPLIT_NAMES.get(given.lower())
            if split is None:
                raise MedtrainError(f"{csv_path}: row {i} has split '{given}'; use train, val or test")
            splits.append(split)
    if not paths:
        raise MedtrainError(f"{csv_path}: no rows (expected path,label[,split])")
    if splits and len(splits) != len(paths):
        raise MedtrainError(f"{csv_path}: some rows have a split and some do not")
    return LabelTable(csv_path, paths, labels, splits or None)


def label_order(values: list[str]) -> list[str]:
    """The distinct labels in class order: numeric if every label is an integer, else sorted as strings."""
    uniq = set(values)
    try:
        key = {v: (int(v), v) for v in uniq}
    except ValueError:
        return sorted(uniq)
    return sorted(uniq, key=key.__getitem__)


def encode_labels(values: list[str]) -> tuple[np.ndarray, dict]:
    """Label strings -> (int64 class indices, ``label_names`` ``{"0": name, ...}``), per :func:`label_order`."""
    order = label_order(values)
    index = {v: i for i, v in enumerate(order)}
    return np.array([index[v] for v in values], np.int64), {str(i): v for i, v in enumerate(order)}


def stratified_split(labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    """Assign each index to 0 (train), 1 (val) or 2 (test), per class, reproducibly for ``seed``.

    Each class is shuffled (``numpy.random.default_rng(seed)``, classes in sorted order) and its first
    ``round(n * test_fraction)`` members go to test, the next ``round(n * val_fraction)`` to val; every
    class keeps at least one training example. If rounding leaves val or test empty although its
    fraction is positive, one training example of the largest class moves there.

    Raises:
        MedtrainError: unless both fractions lie in [0, 1) with a sum below 1.
    """
    ok = all(isinstance(f, (int, float)) and 0 <= f < 1 for f in (val_fraction, test_fraction))
    if not ok or not val_fraction + test_fraction < 1:
        raise MedtrainError(f"val_fraction and test_fraction must be in [0, 1) with sum < 1, got "
                            f"{val_fraction}, {test_fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    assign = np.zeros(len(labels), np.int64)
    pools = {}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = len(idx)
        n_test = min(int(round(n * test_fraction)), max(n - 1, 0))
        n_val = min(int(round(n * val_fraction)), max(n - 1 - n_test, 0))
        assign[idx[:n_test]] = 2
        assign[idx[n_test:n_test + n_val]] = 1
        pools[c] = idx
    for part, frac in ((1, val_fraction), (2, test_fraction)):
        if frac > 0 and not (assign == part).any():
            for c in sorted(pools, key=lambda c: -len(pools[c])):
                train = [i for i in pools[c] if assign[i] == 0]
                if len(train) > 1:
                    assign[train[-1]] = part
                    break
    return assign


def assign_splits(labels: np.ndarray, splits: Optional[list[str]], val_fraction: float, test_fraction: float,
                  seed: int) -> np.ndarray:
    """0/1/2 (train/val/test) per row: the CSV's split column if it has one, else :func:`stratified_split`."""
    if splits is None:
        return stratified_split(labels, val_fraction, test_fraction, seed)
    return np.array([PARTS.index(s) for s in splits], np.int64)
