"""Multi-label rows (a 0/1 label matrix) split without a split column by the one splitter: stratified by each
row's rarest label value (:func:`medtrain.data._folds._strata`), each label's positives and negatives then put in
every split where enough rows (patients) hold them, seeded, patients kept whole. A label matrix in memory
(``medtrain.train({'data': (x, Y)})``) is split the same way; it had been refused ("split by nobody but you"), and
the splitter had no multi-label split (a 2D label array crashed it)."""
from __future__ import annotations

import numpy as np
import pytest

from medtrain.data._folds import _strata
from medtrain.data.arrays import arrays_npz
from medtrain.data.split import assign_splits, split_record, stratified_split
from medtrain.errors import MedtrainError

NAMES = ["Atelectasis", "Cardiomegaly", "Effusion", "Nodule"]  # sorted: the order labels are numbered in
RATES = [0.45, 0.35, 0.25, 0.15]


def _matrix(n: int, seed: int = 0) -> np.ndarray:
    y = (np.random.default_rng(seed).random((n, len(NAMES))) < RATES).astype(np.int64)
    y[:3] = 0  # images with no finding
    return y


def _gaps(y: np.ndarray, assign: np.ndarray, groups=None) -> list:
    """(label, value, split) where a label value held by 3 rows (patients) or more is missing from a split."""
    g = np.asarray(groups if groups is not None else range(len(y)))
    return [(j, v, p) for j in range(y.shape[1]) for v in (0, 1) if len(set(g[y[:, j] == v])) >= 3
            for p in range(3) if not ((y[:, j] == v) & (assign == p)).any()]


def test_the_split_puts_every_label_in_every_split_where_counts_allow_and_is_seeded():
    rng = np.random.default_rng(31)
    y = (rng.random((60, 6)) < [0.5, 0.3, 0.15, 0.08, 0.06, 0.05]).astype(np.int64)  # 3 to 30 positives
    by_strata = stratified_split(_strata(y), 0.1, 0.2, 0, each_part=True)
    assert _gaps(y, by_strata)  # the rarest label value alone leaves a label out of val here
    a = stratified_split(y, 0.1, 0.2, 0, each_part=True)
    assert _gaps(y, a) == [] and np.bincount(a).tolist() == [39, 8, 13]  # asked: 42, 6, 12
    assert np.array_equal(stratified_split(y, 0.1, 0.2, 0, each_part=True), a)  # seeded
    assert not np.array_equal(stratified_split(y, 0.1, 0.2, 1, each_part=True), a)
    assert np.array_equal(assign_splits(y, None, 0.1, 0.2, 0), a)  # the splitter CSV rows and arrays go through


def test_a_grouped_split_keeps_patients_whole_and_every_label_in_every_split():
    rng = np.random.default_rng(1)
    y = (rng.random((90, 5)) < [0.4, 0.25, 0.1, 0.06, 0.04]).astype(np.int64)
    groups = [f"P{i // 3}" for i in range(len(y))]  # three images per patient
    record = split_record([str(i) for i in range(len(y))], y, None, 0.1, 0.2, 0, groups)
    parts: dict = {}
    for g, a in zip(groups, record.assign.tolist()):
        parts.setdefault(g, set()).add(a)
    assert all(len(p) == 1 for p in parts.values())
    # label 2's 5 positives (in 3+ patients) had all been dealt into train with their patients
    assert _gaps(y, record.assign, groups) == []
    again = split_record([str(i) for i in range(len(y))], y, None, 0.1, 0.2, 0, groups)
    assert np.array_equal(again.assign, record.assign)


def test_a_label_too_rare_for_the_split_is_refused_in_one_line_naming_it():
    y = _matrix(40)
    y[:, 3] = 0
    y[[5, 9], 3] = 1  # two images of Nodule: three splits cannot each hold one
    with pytest.raises(MedtrainError) as e:
        assign_splits(y, None, 0.1, 0.2, 0, label_names={str(i): n for i, n in enumerate(NAMES)}, source="l.csv")
    msg = str(e.value)
    assert "l.csv: label 'Nodule' has 2 images (none in " in msg and "\n" not in msg


def test_a_label_matrix_in_memory_is_split_by_the_splitter(tmp_path):
    y = _matrix(100, seed=5)
    x = np.random.default_rng(0).integers(0, 255, (100, 16, 16), dtype=np.uint8)
    with np.load(arrays_npz((x, y), 0.1, 0.2, 0, tmp_path)) as z:
        drawn = stratified_split(y, 0.1, 0.2, 0, each_part=True)
        for code, s in enumerate(("train", "val", "test")):
            assert np.array_equal(z[f"{s}_labels"], y[drawn == code]) and np.array_equal(z[f"{s}_images"],
                                                                                          x[drawn == code])
            assert (z[f"{s}_labels"].sum(0) > 0).all(), s

