"""A CSV given to ``predict`` and ``explain`` as a list of inputs, read by the one CSV reader of
:mod:`medtrain.data.table` (its records and header rule): its paths (:func:`read_path_column`) and its patient
column (:func:`read_id_column`), which ``predict`` writes beside each row's predictions."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from medtrain._io import path_kind
from medtrain.data._table_checks import GROUP_COLUMNS, separator_of
from medtrain.data.table import _header, _read_records, entry_path
from medtrain.errors import MedtrainError


def read_path_column(csv_path: str | os.PathLike) -> list[tuple[int, Path]]:
    """The images a CSV lists, as ``predict`` and ``explain`` read a CSV given as an input: one
    ``(line, path)`` per row, in the file's order.

    The rows are :func:`read_label_csv`'s (a BOM dropped; blank and ``#`` comment rows skipped; ``line`` the row's
    line in the file, header = line 1); the path is the column a header names ``path`` (other columns, a label
    too, are ignored and none is needed) or, without such a header, the first column; each found as
    :func:`entry_path` finds it. Errors name a row as ``row LINE``.

    Raises:
        MedtrainError: what :func:`_read_records` refuses; a first row that is one column separated by another
            character (``;``, tabs, ``|``) or a header that does not name ``path`` (``filename,label``); a row
            without a path."""
    csv_path = Path(csv_path)
    return _paths(csv_path, *_read_records(csv_path))


def _paths(csv_path: Path, rows: list[list[str]], lines: list[int]) -> list[tuple[int, Path]]:
    """:func:`read_path_column` of the file's records."""
    col = 0
    if rows:
        header = _header(rows[0])
        if header is not None and "path" in header:
            col = header.index("path")
            rows, lines = rows[1:], lines[1:]
        else:
            _check_first_path_row(csv_path, lines[0], rows[0])
    out = []
    for line, r in zip(lines, rows):
        if col >= len(r) or not r[col].strip():
            raise MedtrainError(f"{csv_path}: row {line} has no path")
        out.append((line, entry_path(csv_path.parent, r[col].strip())))
    return out


def _check_first_path_row(csv_path: Path, line: int, cells: list[str]) -> None:
    """Refuse a first row of a CSV of paths that is neither a header naming ``path`` nor an entry: another
    separator (a spreadsheet's ';' or tab export), or a header of other names (``filename,label``), which would
    be read as a file."""
    sep = separator_of(cells)
    if sep:
        raise MedtrainError(f"{csv_path}: row {line} is one column separated by {sep}; columns are separated by "
                            "commas, with the paths in the first or in one named path")
    if not Path(cells[0].strip()).suffix and path_kind(entry_path(csv_path.parent, cells[0].strip())) is None:
        raise MedtrainError(f"{csv_path}: row {line} ({','.join(cells)}) looks like a header; name the column of "
                            "paths 'path'")


def read_id_column(csv_path: str | os.PathLike, group_column: Optional[str] = None
                   ) -> tuple[Optional[str], dict[int, str]]:
    """A CSV of inputs' patient column: its name as the header writes it and each row's value as written (not
    hashed: the user's ID, to join on), by its line as :func:`read_path_column` numbers it; ``(None, {})`` for none.
    ``group_column`` (a run's ``--group-column``) where the header (naming ``path``) has it, else the first of
    :data:`GROUP_COLUMNS` it has, as ``eval --data`` finds it; the CSV's other columns are not read.

    Raises:
        MedtrainError: what :func:`read_path_column` refuses of the file itself."""
    return _ids(*_read_records(Path(csv_path)), group_column)


def read_input_csv(csv_path: str | os.PathLike, group_column: Optional[str] = None
                   ) -> tuple[list[tuple[int, Path]], Optional[str], dict[int, str]]:
    """:func:`read_path_column`'s entries, then :func:`read_id_column`'s column and IDs, from one read of the file."""
    csv_path = Path(csv_path)
    rows, lines = _read_records(csv_path)
    return (_paths(csv_path, rows, lines), *_ids(rows, lines, group_column))


def _ids(rows: list[list[str]], lines: list[int], group_column: Optional[str]) -> tuple[Optional[str], dict[int, str]]:
    """:func:`read_id_column` of the file's records."""
    header = (_header(rows[0]) if rows else None) or []
    if "path" not in header:
        return None, {}
    for name in ((group_column.strip().lower(),) if group_column else ()) + GROUP_COLUMNS:
        if name in header:
            j = header.index(name)
            return rows[0][j].strip(), {n: r[j].strip() if j < len(r) else "" for n, r in zip(lines[1:], rows[1:])}
    return None, {}
