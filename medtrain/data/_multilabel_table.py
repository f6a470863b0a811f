"""The multi-label rows of a label CSV, for :func:`medtrain.data.table.read_label_csv` (its module says the two
forms): labels joined in the label cell by ``|`` or ``;`` (:func:`joined`), or a header of ``path`` and one 0/1
column per label (:func:`label_columns`, :func:`flag`); the labels named and numbered as classes are
(:func:`multilabel_names`)."""
from __future__ import annotations

import difflib
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from medtrain.data._table_checks import check_distinct_labels
from medtrain.data.split import label_order
from medtrain.errors import MedtrainError
from medtrain.tasks import is_no_finding

SEPARATORS = ("|", ";")  #: what joins the labels of a multi-label row in one cell


class NoFindingWarning(UserWarning):
    """A multi-label CSV names a label like "No Finding": it trains as a label of its own (positive where the row
    names it), not as "no label positive", which an empty label cell (or all-0 columns) is."""


def near_known(header: list[str], group: Optional[str], columns: tuple, group_columns: tuple) -> bool:
    """A column named almost like path, label, split or a group column (``lable``): for
    :func:`~medtrain.data._table_checks.check_header` to refuse naming the one meant, not a 0/1 label column
    (``columns``, ``group_columns``: the table's known columns)."""
    look = ("label", "split") + (group_columns if group is None else ())
    return any(c not in columns + group_columns + (group,) and difflib.get_close_matches(c, look, 1, 0.8)
               for c in header)


def label_columns(csv_path: Path, header: list[str], written: list[str], group: Optional[str]) -> list:
    """``[(index, name as written)]`` of the 0/1 label columns of a header of ``path`` and no ``label``: all but
    path, split and the group column."""
    taken = ("path", "split", group)
    columns = [(j, name) for j, (key, name) in enumerate(zip(header, written)) if key not in taken]
    bad = next((f"column {j + 1} is named '{name}'" for j, name in columns
                if not name or any(s in name for s in SEPARATORS)), None)
    if not columns or bad:
        raise MedtrainError(f"{csv_path}: header {bad or 'names no label'}; a header of path without label names one "
                            f"0/1 column per label, named without | or ; (which join labels in predictions)")
    twice = [c for c in written if written.count(c) > 1] + [k for k in taken if k and header.count(k) > 1]
    if twice:  # (label columns named apart only by case: check_distinct_labels names both)
        raise MedtrainError(f"{csv_path}: header names the column '{twice[0]}' twice")
    return columns


def flag(csv_path: Path, line: int, name: str, value: str) -> bool:
    """A 0/1 label cell (``0``, ``1``, ``1.0``) as a bool; anything else is one line naming it."""
    try:
        number = float(value)
    except ValueError:
        number = None
    if number == -1.0:  # CheXpert's uncertain label: no 0/1 to guess (its papers map it either way)
        raise MedtrainError(f"{csv_path}: line {line}, column '{name}' holds -1, an uncertain label (CheXpert's "
                            f"convention); each label column holds 0 or 1 per image: map uncertain cells to 0 or 1 "
                            f"yourself (CheXpert's U-Zeros or U-Ones), or leave those images out")
    if number not in (0.0, 1.0):
        blank = "" if str(value).strip() else " (a blank cell, CheXpert's finding not mentioned, needs 0 or 1 too)"
        raise MedtrainError(f"{csv_path}: line {line}, column '{name}' holds '{value}'{blank}; a header of path "
                            f"without a label column makes every other column (but split and the patient's) a label "
                            f"holding 0 or 1 per image: drop other columns, or name the class column 'label'")
    return number == 1.0


def joined(csv_path: Path, labels: list[str], lines: list[int], multilabel: bool = False
           ) -> Optional[list[tuple[str, ...]]]:
    """Each row's labels where some cell joins several by ``|`` or ``;``, or where the data are known to be
    multi-label (``multilabel``: a cell then names one label where none joins two), an empty cell naming none;
    else None (one class per row)."""
    used = {s: next((i for cell, i in zip(labels, lines) if s in cell), None) for s in SEPARATORS}
    if None not in used.values():
        (a, i), (b, j) = used.items()
        raise MedtrainError(f"{csv_path}: labels are joined by '{a}' (line {i}) and by '{b}' (line {j}); join a "
                            f"row's labels by one of them throughout (and use neither inside a label's name)")
    sep = next((s for s, i in used.items() if i is not None), None)
    out = []
    for cell, i in zip(labels, lines) if sep or multilabel else ():
        parts = ([p.strip() for p in cell.split(sep)] if sep else [cell]) if cell else []
        twice = next((p for p in parts if parts.count(p) > 1), None)
        if "" in parts or twice is not None:
            raise MedtrainError(f"{csv_path}: line {i} has label '{cell}', " + (
                f"an empty name between or beside '{sep}' (labels are joined as A{sep}B; an image with no label has an "
                f"empty cell)" if twice is None else f"which names '{twice}' twice"))
        out.append(tuple(parts))
    return out if sep or multilabel else None


def label_matrix(sets: list[tuple[str, ...]], names: list[str]) -> np.ndarray:
    """Multi-label rows (each one's positive labels) as an int64 ``(N, L)`` 0/1 matrix, columns in ``names``' order
    (every label of ``sets`` among them)."""
    index = {n: j for j, n in enumerate(names)}
    out = np.zeros((len(sets), len(names)), np.int64)
    for i, labels in enumerate(sets):
        out[i, [index[n] for n in labels]] = 1
    return out


def warn_no_finding_beside_findings(csv_path: Path, sets: list[tuple[str, ...]], lines: list[int]) -> None:
    """Say in one line the rows that name a "No Finding" label beside a finding (``No Finding|Effusion``, which
    inconsistent CheXpert or ChestX-ray14 exports hold): both are trained as positive there, which no image can be.
    It had been accepted without a word."""
    both = [(i, s) for s, i in zip(sets, lines) if any(map(is_no_finding, s)) and not all(map(is_no_finding, s))]
    if both:
        i, first = both[0]
        warnings.warn(NoFindingWarning(
            f"{csv_path}: {len(both)} row{'s' if len(both) > 1 else ''} name{'' if len(both) > 1 else 's'} a 'no "
            f"finding' label beside a finding (line {i}: {'|'.join(first)}): both are trained as positive there; "
            f"check the export"), stacklevel=3)


def multilabel_names(csv_path: Path, names: list[str], unit: str) -> list[str]:
    """The labels in :func:`~medtrain.data.split.label_order`, checked as class names are (one written two ways, a
    prediction CSV's column name: one line), a "No Finding" said in one line; ``names``: each label as written on
    each ``unit`` (row or column)."""
    check_distinct_labels(csv_path, names, unit,
                          "write each label one way on every row" if unit == "row" else "name each label once")
    found = [n for n in dict.fromkeys(names) if is_no_finding(n)]
    if found:
        n = sum(names.count(f) for f in found)
        said = f" ({n} row{'s' if n > 1 else ''})" if unit == "row" else ""
        warnings.warn(NoFindingWarning(
            f"{csv_path}: '{found[0]}'{said} is trained as a label of its own, positive where a row names it; an "
            f"image with no label positive has an empty label cell (or 0 in every label column)"), stacklevel=3)
    return label_order(names)
