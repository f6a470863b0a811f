"""Cross-validation deals each fold once: every fold of one data set is one call of ``assign_splits`` (a run per
fold, and the tests), and each call checks every fold, so dealing them again in every call cost K times the
dealing (0.14 s a call at 40 patients). The folds and splits are exactly those dealt before the dealing was
reused: pinned below as computed by the code that dealt every call afresh."""
import hashlib

import numpy as np

from medtrain.data import _folds
from medtrain.data.split import assign_splits, fold_ids, group_split


def _patients(seed: int, mixed: bool):
    """40 patients x 5 images of 3 classes; with ``mixed`` a patient's images have labels of their own."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(rng.integers(0, 3, 40), 5)
    if mixed:
        labels = rng.integers(0, 3, 200)
    return labels, [f"P-{p:04d}" for p in range(40) for _ in range(5)]


def _cases():
    """(name, 0/1/2 per row) for grouped, image-mixed, ungrouped, split-column and multi-label data, every fold."""
    for seed, mixed, folds in ((0, False, 4), (11, True, 3)):
        labels, groups = _patients(seed, mixed)
        for k in range(folds):
            yield f"grouped-{seed}-{k}", assign_splits(labels, None, 0.1, 0.2, seed, groups, folds, k)
        yield f"fixed-{seed}", group_split(labels, groups, 0.1, 0.2, seed)
        yield f"fold-ids-{seed}", fold_ids(labels, groups, folds, seed + 1)
    y = np.random.default_rng(5).integers(0, 2, 60)
    for k in range(3):
        yield f"ungrouped-{k}", assign_splits(y, None, 0.1, 0.2, 5, None, 3, k)
    splits = ["train"] * 40 + ["val"] * 10 + ["test"] * 10
    for k in range(3):
        yield f"column-{k}", assign_splits(y, splits, 0.1, 0.2, 2, None, 3, k)
    ml = (np.random.default_rng(8).random((90, 3)) < [0.5, 0.3, 0.2]).astype(np.int64)
    groups = [f"p{i // 3}" for i in range(90)]
    for k in range(3):
        yield f"multilabel-{k}", assign_splits(ml, None, 0.1, 0.2, 8, groups, 3, k)


#: sha256 of "name:a,b,c;" over :func:`_cases`, as dealt before (every call dealing every fold afresh)
PINNED = "d83754626bdb6594a6923106bc1a1173f0d72c743c12af1dffdaf0d5e8f73573"
#: fold 1 of 3, 60 rows without groups, seed 5, as dealt before
UNGROUPED_FOLD_1 = [2, 0, 2, 2, 2, 0, 0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 0, 0, 2, 0, 2, 1, 2, 0, 1, 0, 2, 0, 0, 0,
                    0, 0, 0, 0, 2, 1, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 0, 0, 2, 0, 0, 2, 2, 1, 0, 0]


def _digest(cases) -> str:
    h = hashlib.sha256()
    for name, assign in cases:
        h.update(f"{name}:{','.join(map(str, np.asarray(assign).tolist()))};".encode())
    return h.hexdigest()


def test_every_fold_and_split_is_dealt_exactly_as_before():
    cases = list(_cases())
    assert dict(cases)["ungrouped-1"].tolist() == UNGROUPED_FOLD_1
    assert _digest(cases) == PINNED


def test_the_folds_of_one_cross_validation_are_dealt_once_not_once_per_fold(monkeypatch):
    from sklearn.model_selection import StratifiedGroupKFold

    labels, groups = _patients(23, False)
    dealt = []
    split = StratifiedGroupKFold.split
    monkeypatch.setattr(StratifiedGroupKFold, "split", lambda self, *a, **kw: dealt.append(1) or split(self, *a, **kw))
    first = assign_splits(labels, None, 0.1, 0.2, 23, groups, 5, 0)
    assert dealt  # (the first fold's call deals them)
    dealt.clear()
    later = [assign_splits(labels, None, 0.1, 0.2, 23, groups, 5, k) for k in range(1, 5)]
    assert not dealt, f"{len(dealt)} dealings repeated by folds 1-4"
    held = [first == 2] + [a == 2 for a in later]
    assert (np.sum(held, 0) == 1).all()  # each image held out by exactly one fold


def test_a_reused_dealing_is_a_copy_the_caller_may_change():
    labels, groups = _patients(29, False)
    f = fold_ids(labels, groups, 4, 29)
    want = f.copy()
    f[:] = 9
    assert (fold_ids(labels, groups, 4, 29) == want).all()


def test_the_reused_dealings_are_keyed_on_content_and_bounded():
    from sklearn.model_selection import StratifiedKFold

    y = np.array([0, 0, 1] * 20)
    fold_ids(y, None, 4, 3)
    y[:] = y[::-1].copy()  # the same array, other labels in its rows: dealt for what it now holds
    want = np.zeros(len(y), np.int64)
    for k, (_, held) in enumerate(StratifiedKFold(4, shuffle=True, random_state=3).split(y, y)):
        want[held] = k
    assert (fold_ids(y, None, 4, 3) == want).all()
    for seed in range(_folds._DEALT_MAX + 5):
        fold_ids(y, None, 2, 1000 + seed)
    assert len(_folds._DEALT) <= _folds._DEALT_MAX
