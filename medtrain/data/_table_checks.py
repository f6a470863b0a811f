"""Checks of a label table: its header and rows (with what a spreadsheet export probably meant), each entry
listed once, and a train/val/test split that can be scored (every class in every split its AUC is computed on).

An image listed twice could be dealt into train and test at once.

A class with no image in validation makes the validation AUC undefined (NaN), and every choice made on
it (best epoch, early stopping, thresholds) meaningless; one with none in test, the test AUC. So
:func:`medtrain.data.split.assign_splits` refuses such a split, naming the classes, before anything is
decoded or trained.
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Optional

import numpy as np

from medtrain.errors import MedtrainError

PART_NAMES = ("train", "val", "test")
_SEPARATORS = ((";", "';'"), ("\t", "tabs"), ("|", "'|'"))  #: what spreadsheets export instead of commas


def check_header(csv_path: os.PathLike, header: list[str], known: tuple, group: Optional[str]) -> None:
    """Refuse a header without path and label, with a repeated column, or with a column named almost like a
    known one (``known``; ``group`` the group column in use). Other columns (age, sex, view...) are the user's
    and ignored, but silently ignoring ``splt`` would make medtrain split the rows itself."""
    # with a group column in use, other columns named like one (subject_id beside --group-column case) are
    # the user's: only path, label and split are looked for then
    if "fold" in header and group != "fold":  # would look like it assigns cross-validation folds, and would not
        raise MedtrainError(f"{csv_path}: header column 'fold' is not read: medtrain deals cross-validation folds "
                            "itself (--folds K); rename or drop the column")
    look = known if group is None else tuple(k for k in known if k in ("path", "label", "split"))
    near = [(c, m[0]) for c in header if c not in known and c != group
            and (m := difflib.get_close_matches(c, look, 1, 0.8))]
    if near or len(set(header)) != len(header) or not {"path", "label"} <= set(header):
        hint = f" (did you mean {near[0][1]} for {near[0][0]}?)" if near else ""
        raise MedtrainError(f"{csv_path}: header must name the columns path,label[,split][,group], "
                            f"got {','.join(header)}{hint}")


def check_not_a_header(csv_path: os.PathLike, rows: list[list[str]]) -> None:
    """Refuse a first row that names no file while the next does: a header medtrain does not know
    (``image,diagnosis``), which would be read as an entry named ``image``."""
    if len(rows) > 1 and len(rows[0]) > 1 and not Path(rows[0][0].strip()).suffix and Path(rows[1][0].strip()).suffix:
        raise MedtrainError(f"{csv_path}: row 1 ({','.join(rows[0])}) looks like a header but does not name the "
                            "columns path,label[,split][,group]")


def row_error(csv_path: os.PathLike, i: int, row: list[str], ncols: Optional[int]) -> MedtrainError:
    """The error of data row ``i`` whose number of cells is wrong (``ncols``: the header's, None without one)."""
    if ncols is not None:
        return MedtrainError(f"{csv_path}: row {i} has {len(row)} columns, its header {ncols}")
    sep = separator_of(row)
    return MedtrainError(f"{csv_path}: row {i} must be path,label[,split], got {len(row)} columns"
                         + (f" (separated by {sep}? columns are separated by commas)" if sep else ""))


def separator_of(row: list[str]) -> Optional[str]:
    """The name of the other separator a one-cell row was probably written with (``';'``, ``tabs``, ``'|'``)."""
    return next((name for c, name in _SEPARATORS if len(row) == 1 and c in row[0]), None)


def check_listed_once(csv_path: os.PathLike, paths: list[str]) -> None:
    """Refuse an entry listed twice, compared as the loader resolves it (``./a.png`` is ``a.png``), naming
    both rows (data rows, counted from 1)."""
    seen: dict[str, int] = {}
    for i, path in enumerate(paths, 1):
        j = seen.setdefault(os.path.normpath(os.path.join(os.path.dirname(csv_path), path)), i)
        if j != i:
            same = "" if paths[j - 1] == path else f", the second time as {path}"
            raise MedtrainError(f"{csv_path}: {paths[j - 1]} is listed twice (rows {j} and {i}{same})")


def _name(c: int, label_names: Optional[dict]) -> str:
    return f"'{label_names[str(c)]}'" if label_names and str(c) in label_names else f"{c}"


def _hint(c: int, counts: dict, label_names: Optional[dict]) -> str:
    """`` — did you mean 'Benign'?`` when class ``c`` differs from a larger class only by case."""
    if not label_names or str(c) not in label_names:
        return ""
    own = label_names[str(c)]
    alike = [k for k in counts if k != c and str(k) in label_names and label_names[str(k)].lower() == own.lower()]
    return f" — did you mean '{label_names[str(max(alike, key=counts.get))]}'?" if alike else ""


def check_split_classes(labels: np.ndarray, assign: np.ndarray, made: bool, label_names: Optional[dict] = None,
                        source: str | os.PathLike | None = None, groups: Optional[list] = None) -> None:
    """Refuse a split that leaves a class out of a split it is scored on, in one line.

    Args:
        labels: class index per row (multi-label rows: 0/1 per label column).
        assign: 0/1/2 (train/val/test) per row.
        made: True when medtrain made the split (no split column): then every class needs an image in each
            non-empty split; False for given splits: a class in train needs an image in validation.
        label_names: ``{"0": name, ...}``, to name the classes (indices otherwise).
        source: the file the rows come from, named first in the message.
        groups: the group (patient) of each row, or None: splits keep groups whole, so they are counted too.
    """
    labels, assign = np.asarray(labels), np.asarray(assign)
    prefix = f"{source}: " if source is not None else ""
    if labels.ndim == 2:  # multi-label (given splits only): a label with no positive in val
        members = {c: labels[:, c] == 1 for c in range(labels.shape[1])}
    else:
        members = {int(c): labels == c for c in np.unique(labels)}
    counts = {c: int(m.sum()) for c, m in members.items()}
    of = {c: "" for c in members}
    if groups is not None:
        for c, m in members.items():
            n = len({g for g, x in zip(groups, m) if x})
            of[c] = f" of {n} patient{'' if n == 1 else 's'}"
    if made:
        parts = [p for p in range(3) if (assign == p).any()] or [0]
    else:
        parts = [1] if (assign == 1).any() else []
        members = {c: m for c, m in members.items() if (m & (assign == 0)).any()}
    short = {c: [PART_NAMES[p] for p in parts if not (m & (assign == p)).any()] for c, m in members.items()}
    short = {c: v for c, v in short.items() if v}
    if not short:
        return
    what = "label" if labels.ndim == 2 else "class"
    if not made:
        names = ", ".join(f"{what} {_name(c, label_names)} ({counts[c]} in all){_hint(c, counts, label_names)}"
                          for c in short)
        raise MedtrainError(f"{prefix}the val split has no image of {names}, so the validation AUC is "
                            f"undefined; move some of its rows to val")
    names = ", ".join(f"{what} {_name(c, label_names)} has {counts[c]} image{'' if counts[c] == 1 else 's'}{of[c]} "
                      f"(none in {' or '.join(v)}){_hint(c, counts, label_names)}" for c, v in short.items())
    raise MedtrainError(f"{prefix}{names}; every {what} needs an image in each of "
                        f"{', '.join(PART_NAMES[p] for p in parts)}: fix or merge the labels, add images, "
                        f"change val_fraction/test_fraction, or give a split column")
