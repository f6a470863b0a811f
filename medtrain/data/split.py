"""The class order and the one seeded stratified train/val/test split of a label CSV's rows.

The rows are those :mod:`medtrain.data.table` reads (or an array source's). The same CSV gives the same
classes, the same class order and the same split whether it lists 2D images (:mod:`medtrain.data.folder`)
or volumes (:mod:`medtrain.data.volumes`):

* classes are numbered in sorted order of their names: numerically when every label is an integer
  (so ``0..K-1`` keep their values and ``10`` comes after ``9``), otherwise as strings;
* without a split column, :func:`stratified_split` assigns the rows, per class, reproducibly for a seed;
  with groups, :func:`group_split` assigns whole groups (stratified as far as whole groups allow); multi-label
  rows (a 0/1 matrix) are stratified by the rarest label value each holds (:func:`~medtrain.data._folds._strata`,
  as the folds are), then each label's positives and negatives put in every split where they are in enough rows;
* with ``folds=K`` (cross-validation), :func:`fold_ids` (:mod:`medtrain.data._folds`) deals the groups into K
  stratified folds and :func:`assign_splits` holds out fold ``fold``: as validation when the data come with
  official splits (the official test split stays untouched), as test otherwise;
* with ``digests`` (:func:`medtrain.data.duplicates.image_digests` of the inputs), pixel-identical inputs (a copy
  under another name) are one unit, as a patient's are, and land in one split and one fold: a test image that is
  also a training image scores as if seen. Without patients each set of copies is dealt as one input, labelled by
  its most common label (copies of different labels stay together too: the duplicate report names them); with
  patients, patients that share an image are one group. Data without copies split exactly as without digests;
* a class (a multi-label label's positives or negatives) with fewer than :data:`~medtrain.data._table_checks.FEW_TRAINING` training images
  is trained on as it is, and said in one line per load (:class:`~medtrain.data._table_checks.RareClassWarning`), split column given or not.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np

# fold_ids is public here too (medtrain.evaluation.bias, the tests import it from this module)
from medtrain.data._folds import _strata, fill_label_values, fold_ids, group_ids, held_fold, label_name
from medtrain.data._origin import dealt_origin
from medtrain.data._table_checks import check_split_classes, warn_if_shares_off, warn_rare_classes
from medtrain.data.duplicates import copy_set_labels, copy_sets, warn_not_kept
from medtrain.errors import MedtrainError
from medtrain.intervals import repeated

PARTS = ("train", "val", "test")  #: the split a :func:`stratified_split` code 0, 1, 2 stands for
@dataclass
class SplitRecord:
    """Which input went to which split, one entry per input in input order: what ``splits.csv`` holds."""

    inputs: list[str]  #: each input as its source names it (a CSV path, ``train/17`` for an array row)
    assign: np.ndarray  #: 0/1/2 (train/val/test) per input
    groups: Optional[list[str]] = None  #: :func:`group_hash` of each input's group (patient), or None
    folds: Optional[np.ndarray] = None  #: cross-validation fold per input (-1: official test), or None
    held_out: Optional[str] = None  #: cross-validation: the split the held-out fold became (val or test)
    #: where keeping pixel-identical inputs in one split moved some (:func:`~medtrain.data.duplicates.moved_note`):
    #: 0/1/2 per input of the split made as if they were distinct (by medtrain before it kept them together)
    ungrouped: Optional[np.ndarray] = None
    ungrouped_folds: Optional[np.ndarray] = None  #: with ``ungrouped``, in cross-validation: its fold per input
    #: with ``ungrouped``: how many inputs it put in another split than a pixel-identical input (0: no copy straddled)
    ungrouped_shared: int = 0
    origin: Optional[str] = None  #: where val and test came from: own, drawn, ... (:mod:`medtrain.data._origin`)

    def part_groups(self, part: int) -> Optional[list[str]]:
        """The group of each input of split ``part`` (0/1/2), in input order, where some group has several
        inputs; None otherwise (each input its own unit)."""
        if not repeated(self.groups):
            return None
        return [g for g, a in zip(self.groups, self.assign) if int(a) == part]

    def rows(self) -> list[list[str]]:
        """``[input, split, group[, fold]]`` per input (group: the hash, empty without groups)."""
        return [[x, PARTS[int(a)], self.groups[i] if self.groups is not None else ""]
                + ([str(int(self.folds[i]))] if self.folds is not None else [])
                for i, (x, a) in enumerate(zip(self.inputs, self.assign))]


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


def stratified_split(labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int,
                     each_part: bool = False) -> np.ndarray:
    """Assign each index to 0 (train), 1 (val) or 2 (test), per class, reproducibly for ``seed``.

    Each class is shuffled (``numpy.random.default_rng(seed)``, classes in sorted order) and its first
    ``round(n * test_fraction)`` members go to test, the next ``round(n * val_fraction)`` to val; every
    class keeps at least one training example. With ``each_part``, a class that rounding would leave out
    of val or test (fraction positive) puts one member there, as far as its size allows. If rounding
    leaves val or test empty although its fraction is positive, one training example of the largest class
    moves there. Multi-label rows ``(N, L)``: per rarest label value, then (``each_part``) each label's positives
    and negatives in every split where it has a row for each (:func:`~medtrain.data._folds.fill_label_values`).

    Raises:
        MedtrainError: unless both fractions lie in [0, 1) with a sum below 1.
    """
    ok = all(isinstance(f, (int, float)) and 0 <= f < 1 for f in (val_fraction, test_fraction))
    if not ok or not val_fraction + test_fraction < 1:
        raise MedtrainError(f"val_fraction and test_fraction must be in [0, 1) with sum < 1, got "
                            f"{val_fraction}, {test_fraction}")
    labels = np.asarray(labels)
    if labels.ndim == 2:  # multi-label: dealt by each row's rarest label value, then each label filled in
        assign = stratified_split(_strata(labels), val_fraction, test_fraction, seed, each_part)
        return fill_label_values(labels, assign, None, _parts(val_fraction, test_fraction), seed) if each_part \
            else assign
    rng = np.random.default_rng(seed)
    assign = np.zeros(len(labels), np.int64)
    pools = {}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = len(idx)
        least = (int(each_part and test_fraction > 0), int(each_part and val_fraction > 0))
        n_test = min(max(int(round(n * test_fraction)), least[0]), max(n - 1, 0))
        n_val = min(max(int(round(n * val_fraction)), least[1]), max(n - 1 - n_test, 0))
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


def group_split(labels: np.ndarray, groups: list[str], val_fraction: float, test_fraction: float,
                seed: int) -> np.ndarray:
    """0/1/2 (train/val/test) per row with whole groups per split, stratified as whole groups allow.

    The test split is one fold of ``round(1 / test_fraction)`` :func:`fold_ids`-style folds, validation one
    fold of ``round((1 - test share) / val_fraction)`` folds of the rest; so shares are those of whole
    folds (0.2 and 0.1 exactly; 0.3 becomes 1/3), or a single patient when there are fewer patients
    than folds.

    A patient holding more rows than val and test together are to hold (:func:`_dominant`: 90 of 100 images)
    stays in train, and the other patients are dealt so that val and test keep the proportion asked: dealt
    blindly, such a patient had become the test split (92% of the images for 0.2 asked). That split is used
    when it is closer to the fractions asked and leaves no class out of a split the plain one fills.

    Raises:
        MedtrainError: a single patient left to split.
    """
    stratified_split(np.zeros(0), val_fraction, test_fraction, seed)  # the same checks of the fractions
    labels = np.asarray(labels)
    g = group_ids(groups, len(labels))
    plain = _deal_out(labels, g, val_fraction, test_fraction, seed, np.ones(len(labels), bool))
    pool = ~np.isin(g, _dominant(g, val_fraction, test_fraction))
    if pool.all() or len(np.unique(g[pool])) < 2 * ((val_fraction > 0) + (test_fraction > 0)):
        return _filled(labels, plain, groups, val_fraction, test_fraction, seed)
    kept = _deal_out(labels, g, val_fraction, test_fraction, seed, pool)
    asked = np.array([val_fraction, test_fraction])
    if (np.abs(_shares(kept) - asked).sum() < np.abs(_shares(plain) - asked).sum()
            and _classes_missing(labels, kept) <= _classes_missing(labels, plain)):
        return _filled(labels, kept, groups, val_fraction, test_fraction, seed)
    return _filled(labels, plain, groups, val_fraction, test_fraction, seed)


def _parts(val_fraction: float, test_fraction: float) -> tuple:
    """The splits (0/1/2) a made split fills: train, and val and test where their fraction is positive."""
    return (0,) + ((1,) if val_fraction > 0 else ()) + ((2,) if test_fraction > 0 else ())


def _filled(labels, assign, groups, val_fraction, test_fraction, seed) -> np.ndarray:
    """``assign``, multi-label: with each label's positives and negatives in each split as whole groups allow."""
    if labels.ndim != 2:
        return assign
    return fill_label_values(labels, assign, groups, _parts(val_fraction, test_fraction), seed)


def _dominant(g: np.ndarray, val_fraction: float, test_fraction: float) -> np.ndarray:
    """The groups that hold more rows than val and test together are to hold: wherever else they went, that
    split would dwarf its share."""
    ids, sizes = np.unique(g, return_counts=True)
    return ids[sizes > (val_fraction + test_fraction) * len(g)]


def _deal_out(labels: np.ndarray, g: np.ndarray, val_fraction: float, test_fraction: float, seed: int,
              pool: np.ndarray) -> np.ndarray:
    """Test, then val, as one fold each of the groups of ``pool`` (a row mask; the others stay in train).
    With every row in the pool, ``round(1 / test_fraction)`` and ``round((1 - test_fraction) / val_fraction)``
    folds; with a smaller pool, as many folds as its rows hold each split's share of all rows, so that val
    and test keep the proportion asked."""
    assign = np.zeros(len(labels), np.int64)
    rest = np.flatnonzero(pool)
    whole = bool(pool.all())
    for part, frac in ((2, test_fraction), (1, val_fraction)):
        if frac <= 0:
            continue
        if whole:
            k = round(1 / frac) if part == 2 else round((1 - test_fraction) / frac)
        else:
            k = round(len(rest) / (frac * len(labels)))
        n_groups = len(np.unique(g[rest]))
        if n_groups < 2:
            raise MedtrainError(f"only {n_groups} patient left to split into {PARTS[part]} and train; "
                                f"give more patients or a split column")
        k = min(max(k, 2), n_groups)  # few patients: one of them, the smallest share whole groups allow
        held = held_fold(labels[rest], g[rest], k, seed)
        assign[rest[held]] = part
        rest = rest[~held]
    return assign


def _shares(assign: np.ndarray) -> np.ndarray:
    """The val and test shares of the rows."""
    return np.array([(assign == 1).mean(), (assign == 2).mean()]) if len(assign) else np.zeros(2)


def _classes_missing(labels: np.ndarray, assign: np.ndarray) -> int:
    """How many (class, non-empty split) pairs lack the class (multi-label rows: (label value, split) pairs)."""
    if labels.ndim != 1:
        held = [labels[assign == p] for p in range(3) if (assign == p).any()]
        return sum(int((~(h == v).any(0) & (labels == v).any(0)).sum()) for h in held for v in (0, 1))
    classes = np.unique(labels)
    return sum(int((~np.isin(classes, labels[assign == p])).sum()) for p in range(3) if (assign == p).any())


def assign_splits(labels: np.ndarray, splits: Optional[list[str]], val_fraction: float, test_fraction: float,
                  seed: int, groups: Optional[list[str]] = None, folds: int = 0, fold: Optional[int] = None,
                  label_names: Optional[dict] = None, source: str | os.PathLike | None = None,
                  digests: Optional[list[bytes]] = None) -> np.ndarray:
    """0/1/2 (train/val/test) per row.

    Without ``folds``: the CSV's split column if it has one, else :func:`stratified_split` (no groups) or
    :func:`group_split`. With ``folds`` K and ``fold`` k (cross-validation, :func:`fold_ids`): with a split
    column, fold k of its train+val rows is validation, the rest train, and its test rows stay test;
    without one, fold k is test and validation is ``val_fraction`` of the other folds' rows (groups kept
    whole). Every fold is checked, not only fold k (:func:`_deal_folds`). ``digests``: each row's image digest;
    rows of one digest are dealt as one (the module docstring).

    Raises:
        MedtrainError: a split lacks a class, per :func:`~medtrain.data._table_checks.check_split_classes`,
            or some fold's would.
    """
    return _split(labels, splits, val_fraction, test_fraction, seed, groups, folds, fold, label_names, source,
                  digests)[0]


def _split(labels, splits, val_fraction, test_fraction, seed, groups, folds, fold, label_names, source, digests=None):
    """(:func:`assign_splits`, the fold of each row or None)."""
    labels = np.asarray(labels)
    groups = groups if repeated(groups) else None  # no group repeats: the split (and fold) of single rows
    if folds and folds >= 2 and (fold is None or not 0 <= fold < folds):
        raise MedtrainError(f"with folds {folds}, fold must be one of 0..{folds - 1}, got {fold}")
    folds = folds if folds and folds >= 2 else 0
    if digests is not None and len(digests) != len(labels):
        raise MedtrainError(f"{len(digests)} image digests for {len(labels)} rows")
    args = (labels, splits, val_fraction, test_fraction, seed, groups, folds, fold, label_names, source)
    dealt, unit = copy_sets(groups, splits if folds else None, digests if splits is None or folds else None)
    if dealt is not groups or unit is not None:
        try:
            return _checked(*args, dealt, unit)
        except MedtrainError as e:  # data that split before are not refused now: split as before, and said
            warn_not_kept(source, digests, e)
    return _checked(*args, groups, None)


def _checked(labels, splits, val_fraction, test_fraction, seed, groups, folds, fold, label_names, source, dealt,
             unit) -> tuple:
    """(0/1/2 per row, the fold of each row or None), dealt by the groups ``dealt`` or, with ``unit``, one row of
    each set of copies, every copy then where its set went (:func:`~medtrain.data.duplicates.copy_sets`); checked
    as the rows' own split."""
    rest = (val_fraction, test_fraction, seed)
    if unit is None:
        assign, f = _made(labels, splits, *rest, dealt, folds, fold, label_names, source)
    else:
        first = np.unique(unit, return_index=True)[1]
        one = None if splits is None else [splits[i] for i in first]
        assign, f = _made(copy_set_labels(labels, unit, first), one, *rest, None, folds, fold, label_names, source)
        assign, f = assign[unit], None if f is None else f[unit]
    wanted = (0, 1) + ((2,) if test_fraction > 0 or f is not None else ())  # the splits a made one fills
    check_split_classes(labels, assign, splits is None, label_names, source, groups, wanted)
    if splits is None and f is None and unit is not None:  # (folds' shares are 1/K by design)
        # one set of copies dealt whole can make a split of 20% asked 40% of the images, one picture counted 21
        # times there: said as a patient's is, where the same images dealt one by one are not as far off
        distinct = stratified_split(labels, val_fraction, test_fraction, seed, each_part=True)
        warn_if_shares_off(assign, unit, val_fraction, test_fraction, source, "copy", distinct)
    elif splits is None and f is None and groups is not None:
        warn_if_shares_off(assign, dealt, val_fraction, test_fraction, source)
    elif splits is None and (unit is not None or dealt is not None):  # a fold held out as test: 1/K by design
        _warn_fold_share(labels, assign, unit if unit is not None else dealt, "copy" if unit is not None else
                         "patient", folds, fold, val_fraction, seed, source)
    return assign, f


def _warn_fold_share(labels, assign, units, unit, folds, fold, val_fraction, seed, source) -> None:
    """Cross-validation: the held-out fold ``fold`` (test) holds 1/K of the images, as far as ``units`` (sets of
    copies, patients) dealt whole allow: said in one line where it is off as a fixed split's share is (21 copies of
    one picture had made fold 0 of 3 hold 41 of 81 images silently), not where rows dealt one by one are off too."""
    try:
        distinct = _deal_folds(labels, None, val_fraction, seed, None, folds)[1][fold]
    except MedtrainError:
        distinct = None
    where = f"{source}: --folds {folds}, fold {fold}" if source is not None else f"--folds {folds}, fold {fold}"
    warn_if_shares_off(assign, units, 0.0, round(1 / folds, 3), where, unit, distinct)


def _made(labels, splits, val_fraction, test_fraction, seed, groups, folds, fold, label_names, source) -> tuple:
    """(0/1/2 per row, the fold of each row or None): the split column's, or the one medtrain deals."""
    if folds:
        f, assigns, gap = _deal_folds(labels, splits, val_fraction, seed, groups, folds, label_names)
        if gap is not None:
            _refuse_fold(labels, splits, val_fraction, seed, groups, f, folds, gap, label_names, source)
        return assigns[fold], f
    if splits is not None:
        return np.array([PARTS.index(s) for s in splits], np.int64), None
    if groups is None:
        return stratified_split(labels, val_fraction, test_fraction, seed, each_part=True), None
    return group_split(labels, groups, val_fraction, test_fraction, seed), None


def _deal_folds(labels, splits, val_fraction, seed, groups, folds, label_names=None) -> tuple:
    """(the fold of each row, -1 for a split column's test rows; each fold's 0/1/2 per row with it held out, as
    val beside a split column's test rows, else as test with val drawn from the other folds; the first gap:
    (fold, class, part, value, the class's dealt rows) where ``part`` lacks the class (a label's ``value``), or
    None). A class needs train, val, and test where medtrain makes it; a label positives and negatives in each
    (as ``check_split_classes`` and ``Splits.validate`` check the one split loaded: only its own fold had been
    checked, and fold 3 of 5 was refused after folds 0-2 had trained)."""
    f = np.full(len(labels), -1, np.int64)
    pool = np.arange(len(labels)) if splits is None else np.flatnonzero([s != "test" for s in splits])
    f[pool] = fold_ids(labels[pool], None if groups is None else [groups[i] for i in pool], folds, seed, label_names)
    assigns = []
    for k in range(folds):
        assign = np.where(f < 0, 2, np.where(f == k, 1, 0)) if splits is not None else np.where(f == k, 2, 0)
        rest = np.flatnonzero(f != k)
        if splits is None:
            assign[rest] = (stratified_split(labels[rest], val_fraction, 0.0, seed, each_part=True) if groups is None
                            else group_split(labels[rest], [groups[i] for i in rest], val_fraction, 0.0, seed))
        assigns.append(assign)
    if labels.ndim == 1:
        members = {(int(c), None): labels == c for c in np.unique(labels[f >= 0])}
    else:
        members = {(c, v): labels[:, c] == v for c in range(labels.shape[1]) for v in (1, 0)}
    members = {key: m & (f >= 0) for key, m in members.items() if (m & (f >= 0)).any()}
    gaps = ((k, c, p, v, m) for k, assign in enumerate(assigns) for (c, v), m in members.items()
            for p in ((0, 1, 2) if splits is None else (0, 1)) if not (m & (assign == p)).any())
    return f, assigns, next(gaps, None)


def _refuse_fold(labels, splits, val_fraction, seed, groups, f, folds, gap, label_names, source) -> None:
    """One line naming the fold, the class, and the most folds below ``folds`` that fill every split."""
    k, c, p, v, rows = gap
    what = (f"image of class {label_name(c, label_names)}" if v is None
            else f"{('negative', 'positive')[v]} image of label {label_name(c, label_names)}")
    unit, g = ("patients", np.asarray(groups, dtype=object)) if groups is not None else ("images", np.arange(len(f)))

    def fits(n: int) -> bool:
        try:
            return _deal_folds(labels, splits, val_fraction, seed, groups, n)[2] is None
        except MedtrainError:
            return False

    fewer = next((n for n in range(folds - 1, 1, -1) if fits(n)), None)
    prefix = f"{source}: " if source is not None else ""
    raise MedtrainError(f"{prefix}--folds {folds}: fold {k} would have no {what} in {PARTS[p]} ({len(set(g[rows]))} "
                        f"such {unit} among the {len(set(g[f >= 0]))} dealt into folds); "
                        + (f"use --folds {fewer}" if fewer else f"add more such {unit}"))


def split_record(inputs: list[str], labels: np.ndarray, splits: Optional[list[str]], val_fraction: float,
                 test_fraction: float, seed: int, groups: Optional[list[str]] = None, folds: int = 0,
                 fold: Optional[int] = None, label_names: Optional[dict] = None,
                 source: str | os.PathLike | None = None, digests: Optional[list[bytes]] = None,
                 say_rare: bool = True) -> SplitRecord:
    """:func:`assign_splits` with what it decided recorded per input (and the fold of each, with ``folds``); with
    ``digests``, and copies that moved, the split made without them (:attr:`SplitRecord.ungrouped`). Classes of few
    training images are said (:func:`warn_rare_classes`) unless ``say_rare`` is False (a split of part of the data,
    said of the whole where it is loaded)."""
    args = (labels, splits, val_fraction, test_fraction, seed, groups, folds, fold, label_names, source)
    assign, f = _split(*args, digests)
    if say_rare:
        warn_rare_classes(labels, assign, label_names, source)
    record = (SplitRecord(list(inputs), assign, groups) if f is None
              else SplitRecord(list(inputs), assign, groups, f, "test" if splits is None else "val"))
    record.origin = dealt_origin(splits is not None, f is not None)
    if digests is not None and len(set(digests)) < len(digests):
        try:
            with warnings.catch_warnings():  # said once, of the split made
                warnings.simplefilter("ignore")
                before, before_f = _split(*args)
        except MedtrainError:  # refused as if distinct: no run was trained on that split
            before, before_f = assign, f
        if (before != assign).any():
            parts: dict = {}  # the splits each image is in, as the older rule dealt them
            for d, a in zip(digests, before.tolist()):
                parts.setdefault(d, set()).add(a)
            record.ungrouped, record.ungrouped_folds = before, before_f
            record.ungrouped_shared = sum(len(parts[d]) > 1 for d in digests)
    return record
