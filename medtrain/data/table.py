"""The label CSV every on-disk loader reads.

A label CSV lists one entry per row: ``path,label[,split]``. A header row naming the columns (``path``,
``label`` and optionally ``split`` and a group column, in any order; other columns are ignored) is optional;
without one the columns are taken in that order. The group column (``group_column``; by default one named by
:data:`GROUP_COLUMNS`: ``patient``, ``patient_id``, ``subject`` or ``group``) names the patient each row comes from:
rows of one group always land in the same split, so no patient is in both train and test; values that differ only in
case (``P07``, ``p07``) are one patient; a value on an implausible share of the rows is said
(:class:`LargeGroupWarning`: a placeholder for missing IDs). Group values are kept only as one-way hashes
(:func:`group_hash`). Paths are relative to the CSV's folder (absolute paths are used as they are). Blank rows and
rows starting with ``#`` are ignored. Errors name a row by its line in the file as an editor or spreadsheet numbers it
(the header, when there is one, is line 1; blank and comment lines count). ``split`` is ``train``, ``val`` or
``test`` (``training``, ``valid``, ``validation``, ``testing`` are accepted); either every row has one or none does.

Multi-label data (several findings per image) come in either of two forms, read as one table of 0/1 per label:
the label cell names the row's labels joined by ``|`` or ``;`` (``Atelectasis|Cardiomegaly``, as NIH ChestX-ray14
writes them; a file where some cell joins labels is multi-label, and there an empty cell is an image with no label
positive; so is a file read as multi-label data, ``multilabel=True``, where no cell joins two: a small test set of a
multi-label run), or a header that names ``path`` and no ``label`` column, every other column (but split and the group
column) then one label holding 0 or 1 per row (as CheXpert writes them). The labels are numbered in
:func:`~medtrain.data.split.label_order` (sorted; numerically where all are integers) in both forms, so one data set
gives one task whichever way it is written. A named "No Finding" stays a label of its own (said in one line).
Those rows are parsed by :mod:`medtrain.data._multilabel_table`.

The class order and the split of the rows it read (without a split column) are :mod:`medtrain.data.split`'s.
``predict`` and ``explain`` read a CSV that lists images (labels not needed) through :func:`read_path_column`:
the same records (BOM, blank and comment rows, line numbers, cells refused for line breaks), its path column alone.
"""
from __future__ import annotations

import csv
import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from medtrain._io import path_kind
from medtrain.data._multilabel_table import NoFindingWarning  # noqa: F401 (re-exported)
from medtrain.data._multilabel_table import (flag, joined, label_columns, label_matrix, multilabel_names, near_known,
                                             warn_no_finding_beside_findings)
from medtrain.data._table_checks import (GROUP_COLUMNS, check_distinct_labels, check_header, check_listed_once,
                                         check_not_a_header, row_error, text_key)
from medtrain.errors import MedtrainError

SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "test": "test", "testing": "test"}
COLUMNS = ("path", "label", "split")
#: what spreadsheets, pandas, R and ``str(None)`` write for a missing value; as a label it trains as a class
MISSING_MARKERS = ("nan", "na", "n/a", "#n/a", "null", "none")


class MissingLabelWarning(UserWarning):
    """Labels that read like a missing-value marker (``NaN``, ``NA``, ``None``...): trained as a class of their
    own, which is right only where a class is really named so (a finding of "None")."""


class GroupCaseWarning(UserWarning):
    """Group (patient) IDs written in more than one case (``P07`` and ``p07``): read as one patient, so its rows
    share a split; the warning says so, since the spreadsheet may mean two patients."""


class LargeGroupWarning(UserWarning):
    """A group value on more than :data:`LARGE_GROUP_SHARE` of the rows and more than :data:`LARGE_GROUP_RATIO` times
    the median group's rows: a placeholder for a missing patient ID (``unknown``, ``NA``, ``-``) is read as one
    patient (a 20% block of both classes had made the test split 2 "patients", silently). A tenth of the rows is more
    than a default validation split holds (``val_fraction`` 0.1): the value fills or dwarfs whichever split it lands
    in; ten times the median is far beyond a typical patient, which few patients of many images each never reach."""


LARGE_GROUP_SHARE, LARGE_GROUP_RATIO = 0.1, 10  #: the rule of :class:`LargeGroupWarning`


@dataclass
class LabelTable:
    """The rows of a label CSV: entry paths as written, label strings, splits (or None), and the source."""

    source: Path
    paths: list[str]
    labels: list[str]
    splits: Optional[list[str]]  #: None when the CSV has no split column
    groups: Optional[list[str]] = None  #: :func:`group_hash` of each row's group; None without a group column
    lines: Optional[list[int]] = None  #: each row's line in the file (header = line 1), as errors name it
    #: multi-label: the labels (the columns of its 0/1 matrix) in order; None where each row names one class.
    #: ``labels`` then holds each row's labels joined by ``;`` (as ``predict`` writes them), "" for none
    label_names: Optional[list[str]] = None
    label_sets: Optional[list[tuple[str, ...]]] = None  #: multi-label: each row's positive labels, in order
    #: multi-label: the labels are the header's 0/1 columns, each named whether or not an image holds it (joined
    #: cells name only the labels some row holds)
    by_columns: bool = False

    def resolve(self, root: str | os.PathLike | None = None) -> list[Path]:
        """Entry paths joined to ``root`` (default: the CSV's folder); absolute ones kept; one written on
        Windows (``images\\a.png``) that names nothing here is read with ``/`` where that names an entry.

        Raises:
            MedtrainError: from another ``root`` than the CSV's folder, two rows naming one file there
                (:func:`~medtrain.data._table_checks.check_listed_once`)."""
        base = Path(root) if root is not None else self.source.parent
        out = _resolved(self.paths, base)
        if base != self.source.parent:  # read_label_csv checked them as found from the CSV's folder
            check_listed_once(self.source, self.paths, out, self.lines)
        return out

    def label_matrix(self, names: Optional[list[str]] = None) -> np.ndarray:
        """Multi-label: each row's labels (:attr:`label_sets`) as an int64 ``(N, L)`` 0/1 matrix, one column per
        label of ``names`` in its order (default :attr:`label_names`; another order, a run's, may name labels no
        row holds, but must name every label a row holds)."""
        return label_matrix(self.label_sets, self.label_names if names is None else names)


def _resolved(paths: list[str], base: Path) -> list[Path]:
    """Each entry path as the loaders open it (:func:`entry_path`)."""
    return [entry_path(base, p) for p in paths]


def entry_path(base: str | os.PathLike, entry: str) -> Path:
    """A CSV entry as every reader of a CSV of images finds it (training's and ``predict``'s): joined to
    ``base`` (the CSV's folder) unless absolute; one written on Windows (``imgs\\a.png``) that names nothing
    here is read with ``/`` where that names a file."""
    return _found(Path(entry) if Path(entry).is_absolute() else Path(base) / entry)


def _found(path: Path) -> Path:
    posix = Path(str(path).replace("\\", "/"))
    return posix if "\\" in str(path) and path_kind(path) is None and path_kind(posix) else path


def _header(row: list[str]) -> Optional[list[str]]:
    cells = [c.strip().lower() for c in row]
    return cells if "path" in cells or "label" in cells else None


def _records(f) -> tuple[list[list[str]], list[int]]:
    """The CSV records of ``f`` that are not blank or a ``#`` comment, and the line each starts on (from 1, as
    editors and spreadsheets number them: blank and comment lines count)."""
    rows, lines = [], []
    reader = csv.reader(f)
    start = 1
    for r in reader:
        if any(c.strip() for c in r) and not r[0].lstrip().startswith("#"):
            rows.append(r)
            lines.append(start)
        start = reader.line_num + 1
    return rows, lines


def _read_records(csv_path: Path) -> tuple[list[list[str]], list[int]]:
    """The :func:`_records` of the CSV file at ``csv_path`` (UTF-8, a BOM dropped), for every reader of a CSV.

    Raises:
        MedtrainError: text that is not UTF-8, a file that cannot be read or parsed, or a cell holding a line
            break (an unclosed quote swallows the rows after it into one cell)."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            rows, lines = _records(f)
    except UnicodeDecodeError:
        raise MedtrainError(f"{csv_path}: not UTF-8 text; save it as 'CSV UTF-8'") from None
    except (OSError, csv.Error) as e:
        raise MedtrainError(f"{csv_path}: not a readable CSV file ({type(e).__name__})") from None
    for line, r in zip(lines, rows):
        if any("\n" in c or "\r" in c for c in r):
            raise MedtrainError(f"{csv_path}: line {line} has a line break inside a cell")
    return rows, lines


def _warn_missing_markers(csv_path: Path, labels: list[str], lines: list[int]) -> None:
    """One line per marker for labels that read like a missing value (:data:`MISSING_MARKERS`, any case): a
    warning, not an error, since a class may be named ``None`` or ``NA``."""
    found: dict[str, list[int]] = {}
    for label, line in zip(labels, lines):
        if label.lower() in MISSING_MARKERS:
            found.setdefault(label, []).append(line)
    for label, at in found.items():
        shown = ", ".join(map(str, at[:5])) + (", ..." if len(at) > 5 else "")
        rows = f"{len(at)} rows (lines {shown}) have" if len(at) > 1 else f"1 row (line {at[0]}) has"
        warnings.warn(MissingLabelWarning(
            f"{csv_path}: {rows} the label '{label}', which spreadsheets and pandas write for a missing "
            f"value; it trains as a class of its own: label or remove those rows unless '{label}' is a class"),
            stacklevel=3)


def group_hash(value: str) -> str:
    """A one-way hash of a group value (a patient ID): what outputs may show instead of the value.

    16 hex digits of SHA-256 over a fixed prefix and the value: equal IDs give equal hashes in every run
    and on every machine, so ``splits.csv`` can be audited and reproduced; the ID itself is not stored."""
    return hashlib.sha256(b"medtrain-group\0" + value.encode("utf-8")).hexdigest()[:16]


def _one_spelling(csv_path: Path, ids: list[str], lines: list[int], column: str) -> list[str]:
    """Each group ID as the first spelling in the file of the IDs that differ from it only in case (or Unicode
    form): one patient written ``P07`` and ``p07`` had been two, dealt into train and test. IDs without such a
    twin stay as written, so their hashes and splits are as they always were. Warns once when any are merged."""
    first: dict[str, tuple[str, int]] = {}
    twins: dict[str, tuple[str, int, str, int]] = {}
    out = []
    for value, line in zip(ids, lines):
        seen, at = first.setdefault(text_key(value), (value, line))
        if seen != value:
            twins.setdefault(text_key(value), (seen, at, value, line))
        out.append(seen)
    if twins:
        a, la, b, lb = next(iter(twins.values()))
        n = len(twins)
        warnings.warn(GroupCaseWarning(
            f"{csv_path}: {n} {column} ID{'s are' if n > 1 else ' is'} written in more than one case, e.g. '{a}' "
            f"(line {la}) and '{b}' (line {lb}); IDs that differ only in case are read as one {column}, whose rows "
            f"share a split"), stacklevel=3)
    return out


def _warn_large_group(csv_path: Path, ids: list[str], column: str) -> None:
    """One line naming the largest group value of the :class:`LargeGroupWarning` rule, with its rows (and how many
    more values are that large), where any is."""
    values, sizes = np.unique(np.asarray(ids, dtype=object).astype(str), return_counts=True)
    median, total = float(np.median(sizes)), len(ids)
    large = np.flatnonzero((sizes > LARGE_GROUP_SHARE * total) & (sizes > LARGE_GROUP_RATIO * median))
    if not len(large):
        return
    big = large[np.argmax(sizes[large])]
    n = int(sizes[big])
    more = f" (and {len(large) - 1} more value{'s' * (len(large) > 2)} that common)" if len(large) > 1 else ""
    warnings.warn(LargeGroupWarning(
        f"{csv_path}: {column} '{values[big]}' is on {n} of the {total} rows ({n / total:.0%}), {n / median:.0f} "
        f"times as many as the median {column} ({median:g}){more}: it may be a placeholder for a missing ID, and is "
        f"read as one patient, whose rows share one split and count as one patient in the intervals; give those rows "
        f"their patients' IDs, or remove them"), stacklevel=3)


def read_label_csv(csv_path: str | os.PathLike, group_column: Optional[str] = None,
                   multilabel: bool = False, known_group: Optional[str] = None) -> LabelTable:
    """Read a label CSV ``path,label[,split]`` (header optional) and its group column, if any; or a multi-label
    one (the module: labels joined in the label cell, or a header of ``path`` and 0/1 label columns).

    Args:
        group_column: the header column naming each row's group (patient); None takes a column named
            ``patient``, ``patient_id``, ``subject`` or ``group`` when the header has one (:data:`GROUP_COLUMNS`).
            IDs that differ only in case are one group (:class:`GroupCaseWarning`); a value on an implausible
            share of the rows is said (:class:`LargeGroupWarning`).
        multilabel: the rows are known to be multi-label (``medtrain eval`` of a multi-label run): read as such
            where no cell joins two labels too, each cell one label and an empty cell none (without it, such a
            file is one class per row, and an empty cell an error).
        known_group: without ``group_column``, a column taken as the group column before :data:`GROUP_COLUMNS`
            where the header names it, and not looked for where it does not (``eval --data``: the run's own
            ``group_column``, which an external site's CSV may or may not have).

    Raises:
        MedtrainError: naming the file (and the row), if it is missing, unreadable, empty, has a column
            named almost like split or a group column, a row without a path, label or group, an entry listed
            twice (compared as the file it resolves to: ``./a.png`` is ``a.png``, ``imgs\\a.png`` is
            ``imgs/a.png``, a symlink is its target), labels that are one number or one text written
            differently (``1`` and ``1.0``; Unicode NFC and NFD forms; ``normal`` and ``Normal``), a class named
            like a column of the prediction CSVs (``input``, ``p1``), an unknown split, splits on some rows
            only, or ``group_column`` is not in the header; multi-label: labels joined by ``|`` and ``;`` in one
            file, an empty name or one named twice in a cell, a label column holding other than 0/1 or named
            with either.
    """
    csv_path = Path(csv_path)
    if path_kind(csv_path) != "file":
        raise MedtrainError(f"{csv_path}: label CSV not found (expected rows path,label[,split])")
    rows, lines = _read_records(csv_path)
    cols = [0, 1, 2]
    ncols = None
    gcol = None
    columns = None  # multi-label 0/1 columns: [(index, name)]
    header = _header(rows[0]) if rows else None
    want = group_column.strip().lower() if group_column else None
    if header is not None:
        written_header = [c.strip() for c in rows[0]]
        rows, lines = rows[1:], lines[1:]
        found = [c for c in ((known_group.strip().lower(),) if known_group else ()) + GROUP_COLUMNS if c in header]
        if want is not None and want not in header:
            raise MedtrainError(f"{csv_path}: group column '{group_column}' is not in the header "
                                f"({','.join(header)})")
        gname = want if want is not None else (found[0] if found else None)
        if "path" in header and "label" not in header and not near_known(header, gname, COLUMNS, GROUP_COLUMNS):
            columns = label_columns(csv_path, header, written_header, gname)
        else:
            check_header(csv_path, header, COLUMNS + GROUP_COLUMNS, gname)
        cols = [header.index(c) if c in header else None for c in COLUMNS]
        gcol = header.index(gname) if gname is not None else None
        ncols = len(header)
    elif want is not None and rows:
        raise MedtrainError(f"{csv_path}: group column '{group_column}' needs a header row naming the columns")
    else:
        check_not_a_header(csv_path, rows, lines)
    paths, labels, splits, groups, sets = [], [], [], [], []
    empty = None  # the first line with an empty label cell
    for i, r in zip(lines, rows):  # i: the row's line in the file
        r = [c.strip() for c in r]
        n = ncols if ncols is not None else len(r)
        if len(r) != n or (ncols is None and n not in (2, 3)):
            raise row_error(csv_path, i, r, ncols)
        path = r[cols[0]]
        if not path:
            raise MedtrainError(f"{csv_path}: line {i} has an empty path")
        if columns is None:
            label = r[cols[1]]
            empty = empty if label or empty is not None else i
        else:
            sets.append(tuple(name for j, name in columns if flag(csv_path, i, name, r[j])))
            label = ""
        paths.append(path)
        labels.append(label)
        if gcol is not None:
            if not r[gcol]:
                raise MedtrainError(f"{csv_path}: line {i} has an empty group ({header[gcol]})")
            groups.append(r[gcol])
        if (cols[2] is not None) if header is not None else n == 3:  # a split column
            given = r[cols[2] if cols[2] is not None else 2]
            split = SPLIT_NAMES.get(given.lower())
            if split is None:
                raise MedtrainError(f"{csv_path}: line {i} has split '{given}'; use train, val or test")
            splits.append(split)
    if not paths:
        raise MedtrainError(f"{csv_path}: no rows (expected path,label[,split])")
    names = None
    if columns is None:
        sets = joined(csv_path, labels, lines, multilabel)
        if sets is None and empty is not None:
            raise MedtrainError(f"{csv_path}: line {empty} has an empty label")
    if sets is not None:  # multi-label: each label as written, and its line (a column's: the header's)
        named = [(n, 1) for _, n in columns] if columns else [(n, i) for s, i in zip(sets, lines) for n in s]
        names = multilabel_names(csv_path, [n for n, _ in named], "column" if columns else "row")
        warn_no_finding_beside_findings(csv_path, sets, lines)
        _warn_missing_markers(csv_path, [n for n, _ in named], [i for _, i in named])
        rank = {n: j for j, n in enumerate(names)}
        sets = [tuple(sorted(s, key=rank.__getitem__)) for s in sets]
        labels = [";".join(s) for s in sets]
    check_listed_once(csv_path, paths, _resolved(paths, csv_path.parent), lines)
    if names is None:
        check_distinct_labels(csv_path, labels)
        _warn_missing_markers(csv_path, labels, lines)
    written = list(groups)
    if gcol is not None:
        groups = _one_spelling(csv_path, groups, lines, header[gcol])
        _warn_large_group(csv_path, groups, header[gcol])
        groups = [group_hash(g) for g in groups]
    if splits and len(splits) != len(paths):
        raise MedtrainError(f"{csv_path}: some rows have a split and some do not")
    if splits and gcol is not None:  # the given split must not leak a patient across splits either
        first: dict[str, int] = {}
        for i, (g, sp) in enumerate(zip(groups, splits)):
            j = first.setdefault(g, i)
            if splits[j] != sp:
                cased = (f" ('{written[j]}' and '{written[i]}' differ only in case; if they are two patients, name "
                         "them apart)") if written[j] != written[i] else ""
                raise MedtrainError(f"{csv_path}: lines {lines[j]} and {lines[i]} are the same {header[gcol]}{cased} "
                                    f"but in splits {splits[j]} and {sp}; a patient's rows must share one split")
    return LabelTable(csv_path, paths, labels, splits or None, groups if gcol is not None else None, lines,
                      names, sets if names is not None else None, columns is not None)

