"""Plumbing of :mod:`medtrain.data.split` (the one public splitter, which imports this): dealing rows, whole groups
(patients, or sets of pixel-identical images) at a time, into K folds stratified by class.

:func:`fold_ids` is the cross-validation folds (imported from :mod:`medtrain.data.split` by its users);
:func:`held_fold` is the one fold that :func:`medtrain.data.split.group_split` holds out as test or validation;
:func:`fill_label_values` puts each label of multi-label rows into every split where its rows allow.
"""
from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from typing import Optional

import numpy as np

from medtrain.errors import MedtrainError


def group_ids(groups, n: int) -> np.ndarray:
    """Group ids as integers; without groups every row is its own group."""
    if groups is None:
        return np.arange(n)
    return np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1)


def _strata(labels: np.ndarray) -> np.ndarray:
    """What folds are stratified on: the class; multi-label rows, the rarest label value each carries (a label's
    positives, or its negatives if fewer), so a rare label spreads over the folds (as one stratum, 5 positives
    had fallen 2, 2, 1, 0, 0 into 5 folds)."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        return labels
    pos = labels.sum(0)
    rare = labels == (pos <= len(labels) - pos)  # (N, L): the row holds the label's rarer value
    order = np.argsort(np.minimum(pos, len(labels) - pos), kind="stable")
    hit = rare[:, order]
    return np.where(hit.any(1), order[hit.argmax(1)], labels.shape[1])


#: dealings made, by :func:`_deal_key` (the rows' content): every fold of a cross-validation is one call of
#: ``assign_splits``, which checks every fold, so each call deals the same folds (and each fold's validation
#: split) again; the most recent :data:`_DEALT_MAX` are kept (each a byte or two per row). By hand, not
#: ``functools.lru_cache``: that keys on the arguments, and arrays are neither hashable nor compared by content.
#: A 5-fold cross-validation's dealing 0.342 s -> 0.077 s (40 patients x 5 images).
_DEALT: OrderedDict = OrderedDict()
_DEALT_MAX = 128
_DEALT_LOCK = threading.Lock()


def _deal_key(labels: np.ndarray, groups: np.ndarray, k: int, seed: int) -> Optional[tuple]:
    """What a dealing depends on: the labels' and groups' dtype, shape and bytes (digested), ``k`` and ``seed``;
    None where the groups are not plain numbers (not kept)."""
    labels, groups = np.ascontiguousarray(labels), np.ascontiguousarray(groups)
    if labels.dtype.hasobject or groups.dtype.hasobject:
        return None
    h = hashlib.blake2b(digest_size=32)
    for a in (labels, groups):
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.tobytes())
    return h.digest(), int(k), int(seed)


def _deal(labels: np.ndarray, groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold 0..k-1 of each row (:func:`_deal_afresh`), dealt once per content of the rows, ``k`` and ``seed``
    (a copy each call)."""
    key = _deal_key(labels, groups, k, seed)
    with _DEALT_LOCK:
        kept = _DEALT.get(key) if key is not None else None
        if kept is not None:
            _DEALT.move_to_end(key)
    if kept is not None:
        return kept.astype(np.int64)
    out = _deal_afresh(labels, groups, k, seed)
    if key is not None:
        with _DEALT_LOCK:
            _DEALT[key] = out.astype(np.min_scalar_type(max(int(k) - 1, 0)))
            while len(_DEALT) > _DEALT_MAX:
                _DEALT.popitem(last=False)
    return out


def _deal_afresh(labels: np.ndarray, groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold 0..k-1 of each row: sklearn's ``StratifiedGroupKFold`` (whole groups, class shares as equal as
    whole groups allow), shuffled by ``seed``. Without repeated groups it is ``StratifiedKFold``."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    y = _strata(labels)
    out = np.zeros(len(y), np.int64)
    with warnings.catch_warnings():  # "least populated class has only n members": expected, handled by callers
        warnings.simplefilter("ignore", UserWarning)
        if len(np.unique(groups)) == len(groups):
            parts = StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
        else:
            parts = StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, groups)
        try:
            for f, (_, held) in enumerate(parts):
                out[held] = f
        except ValueError:  # too few members of every class to stratify: whole groups dealt at random
            order = np.random.default_rng(seed).permutation(np.unique(groups))
            fold_of = {g: i % k for i, g in enumerate(order)}
            out = np.array([fold_of[g] for g in groups], np.int64)
    return out


def fold_ids(labels: np.ndarray, groups: Optional[list[str]], folds: int, seed: int,
             label_names: Optional[dict] = None) -> np.ndarray:
    """The cross-validation fold (0..folds-1) of each row: every group in one fold, every fold with
    every class as far as possible, reproducibly for ``seed``. ``label_names`` (``{"0": name, ...}``) names
    a class in an error (its index otherwise).

    Raises:
        MedtrainError: ``folds`` exceeds the number of groups (rows without groups), or the number of
            groups (rows) of the smallest class, so some fold would lack it.
    """
    labels = np.asarray(labels)
    g = group_ids(groups, len(labels))
    unit = "patients" if groups is not None else "images"
    if folds < 2:
        raise MedtrainError(f"folds must be >= 2, got {folds}")
    if len(np.unique(g)) < folds:
        raise MedtrainError(f"--folds {folds} is more than the {len(np.unique(g))} {unit} to deal into folds")
    if labels.ndim == 1:
        counts = {int(c): len(np.unique(g[labels == c])) for c in np.unique(labels)}
        c = min(counts, key=counts.get)
        if counts[c] < folds:
            raise MedtrainError(f"--folds {folds} is more than the {counts[c]} {unit} of the smallest class "
                                f"(class {label_name(c, label_names)}), so some fold would lack it")
    elif len(labels):  # multi-label: each label's positives and negatives (a label with none: not the folds')
        counts = {(c, v): len(np.unique(g[labels[:, c] == v])) for c in range(labels.shape[1]) for v in (1, 0)}
        counts = {cv: n for cv, n in counts.items() if n}
        (c, v), n = min(counts.items(), key=lambda item: item[1])
        if n < folds:
            raise MedtrainError(f"--folds {folds} is more than the {n} {unit} {('negative', 'positive')[v]} for "
                                f"label {label_name(c, label_names)}, so some fold would lack one; use --folds {n} "
                                "or fewer")
    return _deal(labels, g, folds, seed)


def label_name(c: int, label_names: Optional[dict]) -> str:
    """Class (or label) ``c`` as an error names it: its name quoted where ``label_names`` has it, else its index."""
    return repr(label_names[str(c)]) if label_names and str(c) in label_names else str(c)


def held_fold(labels: np.ndarray, g: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Rows of the first of ``k`` dealt folds that holds every class and leaves every class behind (none:
    of fewer folds, as many as the smallest class has groups; still none, or multi-label: fold 0)."""
    if labels.ndim != 1:
        return _deal(labels, g, k, seed) == 0
    classes = np.unique(labels)
    least = min(len(np.unique(g[labels == c])) for c in classes)
    for n in dict.fromkeys((k, min(k, max(least, 2)))):
        f = _deal(labels, g, n, seed)
        for i in range(n):
            if np.isin(classes, labels[f == i]).all() and np.isin(classes, labels[f != i]).all():
                return f == i
    return _deal(labels, g, k, seed) == 0


def fill_label_values(labels: np.ndarray, assign: np.ndarray, groups, parts: tuple, seed: int) -> np.ndarray:
    """Multi-label rows dealt by their :func:`_strata`, with each label's positives and negatives in each split
    of ``parts`` (0/1/2) where they are in as many groups (rows, without ``groups``) as there are parts: where a
    split lacks one, a group holding it moves there from the split holding most such groups, one that leaves its
    split every label value it had (so each move fills a gap and opens none). Seeded; a copy of ``assign``."""
    labels = np.asarray(labels)
    if not len(labels):
        return np.asarray(assign).copy()
    g = group_ids(groups, len(labels))
    ids, first = np.unique(g, return_index=True)
    rows = np.argsort(g, kind="stable")
    starts = np.searchsorted(g[rows], ids)
    holds = np.stack([labels == 0, labels == 1], -1)[rows].reshape(len(labels), -1)
    has = np.maximum.reduceat(holds, starts, axis=0)  # (groups, label values): the group holds the value
    part = np.asarray(assign)[first].copy()
    order = np.random.default_rng(seed).permutation(len(ids))
    wanted = [j for j in np.argsort(has.sum(0), kind="stable") if has[:, j].sum() >= len(parts)]
    moved = True
    while moved:
        moved = False
        for j in wanted:
            for p in parts:
                if (has[:, j] & (part == p)).any():
                    continue
                counts = {q: int((has[:, j] & (part == q)).sum()) for q in parts}
                for q in sorted(parts, key=lambda q: -counts[q]):
                    cover = has[part == q].sum(0)
                    u = next((u for u in order if part[u] == q and has[u, j] and not (has[u] & (cover == 1)).any()),
                             None) if counts[q] > 1 else None
                    if u is not None:
                        part[u], moved = p, True
                        break
    return part[np.searchsorted(ids, g)]
