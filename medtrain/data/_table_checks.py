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
import re
import unicodedata
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Optional

import numpy as np

from medtrain.data._folds import label_name
from medtrain.errors import MedtrainError

PART_NAMES = ("train", "val", "test")
_SEPARATORS = ((";", "';'"), ("\t", "tabs"), ("|", "'|'"))  #: what spreadsheets export instead of commas
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  #: a label that is a number (``1``, ``1.0``, ``1e0``)
#: the columns read as the group (patient) column without ``group_column``, the first the header names; ``group`` as
#: medtrain's own files name it (``splits.csv``, the prediction CSVs: the hash, which groups the rows alike)
GROUP_COLUMNS = ("patient", "patient_id", "subject", "group")
#: the columns of medtrain's prediction CSVs (``medtrain predict``'s and a run's ``predictions_<split>.csv``) besides
#: the one named by each class: a class named so would repeat a column, and a reader of the file lose one
RESERVED_COLUMNS = ("index", "input", "group", "prediction", "prediction_at_operating_point", "entropy",
                    "true_label", "correct", "correct_at_operating_point", "positive_class_at_operating_point",
                    "threshold_at_operating_point")
#: the numbered columns of those files: ``label0..`` (labels), ``p0..`` (probabilities), ``q0..`` (scaled ones)
RESERVED_NUMBERED = re.compile(r"(label|p|q)(0|[1-9]\d*)")
#: the start of a multi-label predict file's column of each label's threshold (``threshold_at_operating_point:Mass``)
THRESHOLD_PREFIX = "threshold_at_operating_point:"


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
        raise MedtrainError(f"{csv_path}: header must name the columns {named_columns(group)}, "
                            f"got {','.join(header)}{hint}")


def named_columns(group: Optional[str] = None) -> str:
    """The columns of a label CSV's header as messages name them: ``path,label[,split][,patient|...|group]`` (the
    names a group column is found by), or with ``group`` the group column in use."""
    return f"path,label[,split][,{group or '|'.join(GROUP_COLUMNS)}]"


def check_not_a_header(csv_path: os.PathLike, rows: list[list[str]], lines: Optional[list[int]] = None) -> None:
    """Refuse a first row that names no file while the next does: a header medtrain does not know
    (``image,diagnosis``), which would be read as an entry named ``image``. ``lines``: each row's line in the
    file (default: 1, 2, ...)."""
    if len(rows) > 1 and len(rows[0]) > 1 and not Path(rows[0][0].strip()).suffix and Path(rows[1][0].strip()).suffix:
        raise MedtrainError(f"{csv_path}: line {lines[0] if lines else 1} ({','.join(rows[0])}) looks like a header "
                            f"but does not name the columns {named_columns()}")


def row_error(csv_path: os.PathLike, line: int, row: list[str], ncols: Optional[int]) -> MedtrainError:
    """The error of the row on ``line`` of the file whose number of cells is wrong (``ncols``: the header's,
    None without one)."""
    if ncols is not None:
        return MedtrainError(f"{csv_path}: line {line} has {len(row)} columns, its header {ncols}")
    sep = separator_of(row)
    return MedtrainError(f"{csv_path}: line {line} must be path,label[,split], got {len(row)} columns"
                         + (f" (separated by {sep}? columns are separated by commas)" if sep else ""))


def separator_of(row: list[str]) -> Optional[str]:
    """The name of the other separator a one-cell row was probably written with (``';'``, ``tabs``, ``'|'``)."""
    return next((name for c, name in _SEPARATORS if len(row) == 1 and c in row[0]), None)


def _entry_key(path: os.PathLike) -> tuple:
    """What an entry is: the file (device and inode: a symlink or hard link to it is the same entry, as is
    another spelling of it on a case-insensitive file system), or, when nothing is there, its normalised path
    (``\\`` read as ``/``, as :meth:`medtrain.data.table.LabelTable.resolve` may read it)."""
    try:
        st = os.stat(path)
        return ("file", st.st_dev, st.st_ino)
    except (OSError, ValueError):  # missing, a name the file system cannot look up, a NUL byte
        return ("path", os.path.normpath(str(path).replace("\\", "/")))


def check_listed_once(csv_path: os.PathLike, paths: list[str], resolved: Optional[list] = None,
                      lines: Optional[list[int]] = None) -> None:
    """Refuse an entry listed twice, naming both rows by their ``lines`` in the file (header = line 1; without
    ``lines``, the entries counted from 1).

    Entries are compared as the loader opens them: ``resolved`` (each path as
    :meth:`medtrain.data.table.LabelTable.resolve` gives it; default: joined to the CSV's folder) is the same
    file (``./a.png`` is ``a.png``, ``imgs\\a.png`` is ``imgs/a.png``, a symlink is its target)."""
    if resolved is None:
        resolved = [os.path.join(os.path.dirname(csv_path), p) for p in paths]
    seen: dict[tuple, int] = {}
    for i, (path, full) in enumerate(zip(paths, resolved), 1):
        j = seen.setdefault(_entry_key(full), i)
        if j != i:
            first = paths[j - 1]
            same = ""
            if first != path:
                text = os.path.normpath(first.replace("\\", "/")) == os.path.normpath(path.replace("\\", "/"))
                same = f", the second time as {path}" + ("" if text else ", the same file")
            where = f"lines {lines[j - 1]} and {lines[i - 1]}" if lines else f"entries {j} and {i}"
            raise MedtrainError(f"{csv_path}: {first} is listed twice ({where}{same}); an image listed "
                                f"twice could land in train and test: list it once")


def text_key(text: str) -> str:
    """``text`` as one key for every spelling that differs only in case or Unicode form (an accent composed
    or decomposed, as macOS writes names): ``Normal``, ``normal`` and ``NORMAL`` are one."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


def _meaning(label: str):
    """What a label stands for: its value when it is a number (``1``, ``1.0``, ``+1`` are one), else its
    :func:`text_key`."""
    text = unicodedata.normalize("NFC", label.strip())
    if _NUMBER.fullmatch(text):
        return Decimal(text)
    return text_key(text)


def reserved_reason(name: str) -> Optional[str]:
    """What column of the prediction CSVs a class ``name`` would repeat as its own column's name, or None."""
    if name in RESERVED_COLUMNS:
        return f"the column '{name}'"
    if name.startswith(THRESHOLD_PREFIX):
        return f"the columns {THRESHOLD_PREFIX}<label>"
    numbered = RESERVED_NUMBERED.fullmatch(name)
    return f"the columns {numbered[1]}0, {numbered[1]}1, ..." if numbered else None


def check_class_names(source: os.PathLike, labels: list[str], what: str = "labels") -> None:
    """Refuse a class named like a column of the prediction CSVs (:data:`RESERVED_COLUMNS`,
    :data:`RESERVED_NUMBERED`): ``predict`` would write that header twice (``input,prediction,input,...``),
    so a reader takes the probability for the file name, and ``predictions_test.csv`` would leave its
    column out. Names the first such class in one line (``what``: labels, class folders)."""
    for name in dict.fromkeys(labels):
        clash = reserved_reason(name)
        if clash is not None:
            raise MedtrainError(f"{source}: {what} include the class '{name}', named like {clash} of medtrain's "
                                f"prediction CSVs, where its probability column would repeat that name; rename it")


def _ascii_form(label: str) -> str:
    return ascii(label)[1:-1]


def check_distinct_labels(source: os.PathLike, labels: list[str], unit: str = "row",
                          fix: str = "write each class one way on every row", what: str = "labels") -> None:
    """Refuse labels that differ as written but mean the same (``1`` and ``1.0``; ``hématome`` in Unicode NFC
    and NFD; ``normal`` and ``Normal``): each would train as a class of its own, two of them printing alike.
    Names the first such group (``what``: labels, class folders), most used first, with its ``unit`` count
    (rows, images) and ``fix``, in one line. Refuses names of prediction CSV columns too
    (:func:`check_class_names`)."""
    check_class_names(source, labels, what)
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    alike: dict[object, list[str]] = {}
    for label in counts:
        alike.setdefault(_meaning(label), []).append(label)
    group = next((g for g in alike.values() if len(g) > 1), None)
    if group is None:
        return
    group = sorted(group, key=lambda g: -counts[g])  # the most used first; ties as they first appear
    number = isinstance(_meaning(group[0]), Decimal)
    plural = lambda n: f"{n} {unit}{'' if n == 1 else 's'}"  # noqa: E731
    names = " and ".join(f"'{g}' ({plural(counts[g])})" for g in group)
    forms = {unicodedata.normalize("NFC", g) for g in group}
    if number:
        why = "are one number written differently"
    elif len(forms) == 1:
        why = (f"differ only in their Unicode encoding ({' vs '.join(_ascii_form(g) for g in group)}: "
               "accents composed or decomposed, NFC and NFD)")
    else:
        why = "differ only in case" + (" and Unicode encoding (NFC and NFD)" if len(forms) < len(group) else "")
    raise MedtrainError(f"{source}: {what} {names} {why}, so they would train as {len(group)} classes; "
                        f"{fix}")


def _hint(c: int, counts: dict, label_names: Optional[dict]) -> str:
    """`` — did you mean 'Benign'?`` when class ``c`` differs from a larger class only by case: label names
    that no reader checked (:func:`check_distinct_labels` refuses such labels in a CSV or class folders)."""
    if not label_names or str(c) not in label_names:
        return ""
    own = text_key(label_names[str(c)])
    alike = [k for k in counts if k != c and str(k) in label_names and text_key(label_names[str(k)]) == own]
    return f" — did you mean {label_name(max(alike, key=counts.get), label_names)}?" if alike else ""


#: why a given split without a class (a label's positives or negatives) cannot be used, by split
_UNSCORED = ("so there is none to learn from", "so the validation AUC is undefined", "so the test AUC is undefined")


def check_split_classes(labels: np.ndarray, assign: np.ndarray, made: bool, label_names: Optional[dict] = None,
                        source: str | os.PathLike | None = None, groups: Optional[list] = None,
                        wanted: tuple = ()) -> None:
    """Refuse a split that leaves a class out of a split it is scored on, in one line.

    A multi-label label counts as two classes, its positives and its negatives (as
    :func:`medtrain.data.split._deal_folds` deals folds): each needs an image in every split that
    :meth:`medtrain.data.base.Splits.validate` checks, so a label of 2 negatives is refused here, before anything
    is decoded (it had passed, to be refused there once every image was decoded and a store written).

    Args:
        labels: class index per row (multi-label rows: 0/1 per label column).
        assign: 0/1/2 (train/val/test) per row.
        made: True when medtrain made the split (no split column): then every class needs an image in each
            non-empty split; False for given splits: a class in train needs an image in validation (a
            multi-label label a positive and a negative image in each non-empty split).
        label_names: ``{"0": name, ...}``, to name the classes (indices otherwise).
        source: the file the rows come from, named first in the message.
        groups: the group (patient) of each row, or None: splits keep groups whole, so they are counted too.
        wanted: splits (0/1/2) a made split must fill even where no row went (val always, test when asked
            for): two images of a class cannot fill three splits, and an empty val had been refused later
            with no class and no count.
    """
    labels, assign = np.asarray(labels), np.asarray(assign)
    prefix = f"{source}: " if source is not None else ""
    multi = labels.ndim == 2
    if multi:  # (label, value): each label's positives and negatives
        members = {(c, v): labels[:, c] == v for c in range(labels.shape[1]) for v in (1, 0)}
    else:  # (class, None)
        members = {(int(c), None): labels == c for c in np.unique(labels)}
    counts = {key: int(m.sum()) for key, m in members.items()}
    of = {key: "" for key in members}
    if groups is not None:
        for key, m in members.items():
            n = len({g for g, x in zip(groups, m) if x})
            of[key] = f" of {n} patient{'' if n == 1 else 's'}"
    if made:
        parts = [p for p in range(3) if (assign == p).any() or p in wanted] or [0]
    elif multi:  # every non-empty given split, as Splits.validate checks them
        parts = [p for p in range(3) if (assign == p).any()]
    else:
        parts = [1] if (assign == 1).any() else []
        members = {key: m for key, m in members.items() if (m & (assign == 0)).any()}
    short = {key: [p for p in parts if not (m & (assign == p)).any()] for key, m in members.items()}
    short = {key: v for key, v in short.items() if v}
    if not short:
        return
    what = "label" if multi else "class"
    classes = {c: n for (c, _), n in counts.items()}  # (single-label: each class's images)

    def value(key) -> str:  # "negative " or "positive " of a label; "" of a class
        return ("negative ", "positive ")[key[1]] if multi else ""

    def hint(key) -> str:
        return "" if multi else _hint(key[0], classes, label_names)

    if not made:  # the first split lacking any
        p = next(p for p in parts if any(p in v for v in short.values()))
        names = ", ".join(f"{value(key)}image of {what} {label_name(key[0], label_names)} ({counts[key]} in all)"
                          f"{hint(key)}" for key, v in short.items() if p in v)
        raise MedtrainError(f"{prefix}the {PART_NAMES[p]} split has no {names}, {_UNSCORED[p]}; move some of its "
                            f"rows to {PART_NAMES[p]}" + (", or drop the label" if multi else ""))
    names = ", ".join(f"{what} {label_name(key[0], label_names)} has {counts[key]} {value(key)}image"
                      f"{'' if counts[key] == 1 else 's'}{of[key]} (none in {' or '.join(PART_NAMES[p] for p in v)})"
                      f"{hint(key)}" for key, v in short.items())
    needs = "a positive and a negative image" if multi else "an image"
    raise MedtrainError(f"{prefix}{names}; every {what} needs {needs} in each of "
                        f"{', '.join(PART_NAMES[p] for p in parts)}: fix or merge the labels, add images, "
                        f"change val_fraction/test_fraction, or give a split column")


class SplitShareWarning(UserWarning):
    """A split whose val or test share is far from the fraction asked (one patient, or one set of pixel-identical
    copies, holding most images): the run trains, but on other proportions than asked."""


def warn_if_shares_off(assign: np.ndarray, groups: list, val_fraction: float, test_fraction: float,
                        source, unit: str = "patient", distinct: Optional[np.ndarray] = None) -> None:
    """Warn, in one line, when the val or test share of a split of whole ``groups`` is off by more than half the
    fraction asked and by more than 0.05 (5 of 100 images), naming the largest group and its share of the images.

    ``unit`` says what the groups are: ``"patient"`` (named by its hash, as ``splits.csv`` shows it) or ``"copy"``
    (sets of pixel-identical images, :func:`medtrain.data.duplicates.copy_sets`): then the line says where the set
    went, as how many images it is scored, and that the split's intervals count each copy as an independent image
    (no group is recorded for copies, so the bootstrap resamples them one by one). ``distinct``: 0/1/2 per row of
    the split made with every row its own unit; a split off there too is off by rounding, not by the groups, and is
    not warned of (a plain split of few images says nothing either)."""
    def shares(a):
        return [(a == 1).mean(), (a == 2).mean()] if len(a) else [0.0, 0.0]  # val, test shares

    def far(f, r):
        return f > 0 and abs(r - f) > max(0.5 * f, 0.05)

    got, alone = shares(assign), None if distinct is None else shares(np.asarray(distinct))
    asked = (("val", val_fraction, got[0]), ("test", test_fraction, got[1]))
    off = [(name, f, r) for i, (name, f, r) in enumerate(asked) if far(f, r) and not (alone and far(f, alone[i]))]
    if not off:
        return
    keys = np.asarray(groups, dtype=object).astype(str)
    ids, sizes = np.unique(keys, return_counts=True)
    big = int(np.argmax(sizes))
    n, total = int(sizes[big]), len(assign)
    prefix = f"{source}: " if source is not None else ""
    shares_said = ", ".join(f"{name} {r:.2f} of the images (asked {f:g})" for name, f, r in off)
    where = PART_NAMES[int(assign[np.flatnonzero(keys == ids[big])[0]])]
    if unit == "copy":
        scored = (f"weighing as {n} training images" if where == "train" else
                  f"so their scores count as {n} {where} images and the {where} intervals count each copy as an "
                  "independent image")
        said = (f"{shares_said}: {n} pixel-identical copies of one image ({n / total:.0%} of the {total} images) "
                f"are kept in one split, {where}, {scored}; remove the copies, or give a CSV with a split column to "
                "choose the splits yourself")
    else:
        said = (f"patient-level split: {shares_said}, as whole patients allow: the largest patient ({ids[big]} in "
                f"splits.csv) holds {n} of the {total} images ({n / total:.0%}), all in {where}; give a split column "
                "to choose the splits yourself")
    warnings.warn(SplitShareWarning(prefix + said), stacklevel=3)


FEW_TRAINING = 5  #: fewer training images of a class than this are said (:func:`warn_rare_classes`)


class RareClassWarning(UserWarning):
    """A class (a multi-label label's positives or negatives) with fewer than :data:`FEW_TRAINING` training images:
    the run trains, but learns it from those few, and its test scores rest on as few images."""


def warn_rare_classes(labels, assign: np.ndarray, label_names: Optional[dict] = None, source=None) -> None:
    """One line naming each class (multi-label: each label's positives, or negatives) with fewer than
    :data:`FEW_TRAINING` training images, with its images per split: 3 images split 1/1/1 had trained silently."""
    labels, assign = np.asarray(labels), np.asarray(assign)
    if labels.ndim == 2:
        members = [(f"label {label_name(c, label_names)} has {{}} {('negative', 'positive')[v]} image", v,
                    labels[:, c] == v) for c in range(labels.shape[1]) for v in (1, 0)]
    else:
        members = [(f"class {label_name(int(c), label_names)} has {{}} image", 1, labels == c)
                   for c in np.unique(labels)]
    rare = [(text, v, n) for text, v, m in members
            if sum(n := [int((m & (assign == p)).sum()) for p in range(3)]) and n[0] < FEW_TRAINING]
    if not rare:
        return
    names = ", ".join(text.format(sum(n)) + "s" * (sum(n) != 1) + f" (train {n[0]}, val {n[1]}, test {n[2]})"
                      for text, _, n in rare)
    scores = ["AUC"] + ["recall"] * any(v for _, v, _ in rare) + ["specificity"] * any(not v for _, v, _ in rare)
    scores = ", ".join(scores[:-1]) + " and " + scores[-1]
    if len(rare) == 1:
        n = rare[0][2]
        learns = f"learns it from {n[0]} image{'s' * (n[0] != 1)}" if n[0] else "never sees it in training"
        said = (f"fewer than {FEW_TRAINING} to train on: the network {learns}, and its test {scores} rest on "
                f"{n[2]} image{'s' * (n[2] != 1)}; add images of it, or merge it into a related class")
    else:
        said = (f"fewer than {FEW_TRAINING} each to train on: the network learns each from those few, and their test "
                f"{scores} rest on the test images counted; add images of them, or merge each into a related class")
    warnings.warn(RareClassWarning(f"{source}: " * (source is not None) + f"{names}, {said}"), stacklevel=3)
