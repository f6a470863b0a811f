"""Grouped splits and cross-validation folds: no patient's images ever straddle two splits."""
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from medtrain.data import load_splits
from medtrain.data._table_checks import SplitShareWarning
from medtrain.data.split import assign_splits, fold_ids, split_record
from medtrain.data.table import GroupCaseWarning, group_hash, read_label_csv
from medtrain.errors import MedtrainError

PATIENTS, IMAGES = 40, 5


def _patient_csv(tmp_path, patient_labels, column="patient", image_labels=None) -> "Path":
    """40 patients x 5 images; a patient's images share its label unless ``image_labels`` says otherwise."""
    rows = [f"path,label,{column}"]
    for p in range(PATIENTS):
        for i in range(IMAGES):
            label = image_labels[p * IMAGES + i] if image_labels is not None else patient_labels[p]
            rows.append(f"p{p}/img{i}.png,{label},P-{p:04d}")
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _patients_per_split(assign, groups) -> list[set]:
    return [{g for g, a in zip(groups, assign) if a == part} for part in (0, 1, 2)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), folds=st.integers(2, 8),
       patient_labels=st.lists(st.integers(0, 2), min_size=PATIENTS, max_size=PATIENTS),
       mixed=st.booleans())
def test_no_patient_is_ever_in_two_splits_for_any_seed_or_fold_count(tmp_path, seed, folds, patient_labels, mixed):
    rng = np.random.default_rng(seed)
    image_labels = rng.integers(0, 2, PATIENTS * IMAGES).tolist() if mixed else None  # labels per image
    table = read_label_csv(_patient_csv(tmp_path, patient_labels, image_labels=image_labels))
    labels = np.array([int(v) for v in table.labels])
    assert len(set(table.groups)) == PATIENTS
    per_class = [len({g for g, y in zip(table.groups, labels) if y == c}) for c in np.unique(labels)]
    if min(per_class) < 3:  # a class of one or two patients cannot be in train, val and test: refused
        with pytest.raises(MedtrainError, match=r"class \d has \d+ images of [12] patients? \(none in"):
            assign_splits(labels, None, 0.1, 0.2, seed, table.groups)
        return
    fixed = assign_splits(labels, None, 0.1, 0.2, seed, table.groups)
    train, val, test = _patients_per_split(fixed, table.groups)
    assert not (train & val or train & test or val & test) and val and test
    for part in (train, val, test):  # and every class in every split, so each split's AUC is defined
        assert {y for g, y in zip(table.groups, labels) if g in part} == set(labels.tolist())
    assume(min(per_class) >= folds)
    held = []
    for fold in range(folds):
        a = assign_splits(labels, None, 0.1, 0.2, seed, table.groups, folds, fold)
        train, val, test = _patients_per_split(a, table.groups)
        assert not (train & val or train & test or val & test)
        held.append(test)
    assert set().union(*held) == set(table.groups)  # every patient held out once ...
    assert sum(len(h) for h in held) == PATIENTS  # ... and only once


def test_folds_are_stratified_and_seeded():
    y = np.array([0] * 60 + [1] * 20)
    f = fold_ids(y, None, 4, seed=1)
    assert [int((y[f == k] == 1).sum()) for k in range(4)] == [5, 5, 5, 5]
    assert (fold_ids(y, None, 4, seed=1) == f).all() and not (fold_ids(y, None, 4, seed=2) == f).all()


def test_official_splits_keep_their_test_rows_and_folds_rotate_validation():
    y = np.array([0, 1] * 30)
    splits = ["train"] * 40 + ["val"] * 10 + ["test"] * 10
    vals = []
    for k in range(5):
        rec = split_record([str(i) for i in range(60)], y, splits, 0.1, 0.2, 0, None, 5, k)
        assert (rec.assign[50:] == 2).all() and not (rec.assign[:50] == 2).any() and rec.held_out == "val"
        vals.append(set(np.flatnonzero(rec.assign == 1)))
        assert (rec.folds[50:] == -1).all()
    assert set().union(*vals) == set(range(50)) and sum(map(len, vals)) == 50


def test_medmnist_layout_cross_validation_leaves_the_official_test_split_alone(tiny_npz):
    base = dict(dataset=None, data=str(tiny_npz), data_dir=None, size=28, image_size=None, seed=0, folds=3,
                group_column=None, val_fraction=0.1, test_fraction=0.2)
    plain = load_splits(SimpleNamespace(**{**base, "folds": 0, "fold": None}))
    seen = []
    for k in range(3):
        s = load_splits(SimpleNamespace(**base, fold=k))
        assert s.test.images.equal(plain.test.images)
        assert len(s.train) + len(s.val) == len(plain.train) + len(plain.val)
        seen += [x for x, a in zip(s.record.inputs, s.record.assign) if a == 1]
    assert sorted(seen) == sorted(f"{p}/{i}" for p, n in (("train", 96), ("val", 32)) for i in range(n))


def test_group_column_is_found_by_name_or_given_and_values_are_only_hashed(tmp_path):
    path = _patient_csv(tmp_path, [0, 1] * 20, column="Subject")
    t = read_label_csv(path)
    assert t.groups[0] == group_hash("P-0000") and "P-0000" not in repr(t)
    (tmp_path / "c.csv").write_text("path,label,case\na.png,0,X1\nb.png,1,X1\n")
    assert read_label_csv(tmp_path / "c.csv", group_column="case").groups == [group_hash("X1")] * 2


@pytest.mark.parametrize("text, column, message", [
    ("path,label,patient\na.png,0,P1\n", "case", "group column 'case' is not in the header"),
    ("a.png,0\n", "patient", "needs a header row"),
    ("path,label,patient\na.png,0,\n", None, "line 2 has an empty group"),
    ("path,label,split,patient\na.png,0,train,P1\nb.png,1,test,P2\nc.png,1,test,P1\n", None,
     "lines 2 and 4 are the same patient but in splits train and test"),
])
def test_bad_group_column_is_one_error(tmp_path, text, column, message):
    (tmp_path / "l.csv").write_text(text)
    with pytest.raises(MedtrainError, match=message) as e:
        read_label_csv(tmp_path / "l.csv", group_column=column)
    assert "\n" not in str(e.value)


def test_more_folds_than_the_smallest_class_or_the_patients_is_refused():
    y = np.array([0] * 12 + [1] * 3)
    with pytest.raises(MedtrainError, match="more than the 3 images of the smallest class"):
        fold_ids(y, None, 4, 0)
    with pytest.raises(MedtrainError, match=r"smallest class \(class 'benign'\)"):  # named, not 'class 1'
        fold_ids(y, None, 4, 0, {"0": "normal", "1": "benign"})
    groups = [group_hash(str(i // 5)) for i in range(15)]  # 3 patients
    with pytest.raises(MedtrainError, match="more than the 3 patients"):
        fold_ids(y, groups, 4, 0)


def test_a_patient_holding_most_images_stays_in_train_and_the_shares_left_are_warned_of():
    """P0 holds 90 of 100 images: dealt blindly it had become the test split (6/2/92 for 0.1/0.2 asked),
    silently. It stays in train, val and test keep the proportion asked of the other patients, and one line
    says how far the shares are from those asked, naming the patient as splits.csv does (its hash)."""
    groups = [group_hash("P0")] * 90 + [group_hash(f"P{i}") for i in range(1, 11)]
    y = np.array([i % 2 for i in range(100)])
    with pytest.warns(SplitShareWarning) as caught:
        a = assign_splits(y, None, 0.1, 0.2, 0, groups, source="labels.csv")
    assert (a[:90] == 0).all()
    n_val, n_test = int((a == 1).sum()), int((a == 2).sum())
    assert 1 <= n_val < n_test <= 7
    (w,) = caught
    msg = str(w.message)
    assert "\n" not in msg and msg.startswith("labels.csv: patient-level split: ")
    assert f"test {n_test / 100:.2f} of the images (asked 0.2)" in msg
    assert f"largest patient ({group_hash('P0')} in splits.csv) holds 90 of the 100 images (90%), all in train" in msg


@pytest.mark.parametrize("seed", range(3))
def test_an_ordinary_patient_split_keeps_its_assignment_and_warns_of_nothing(seed):
    y = np.repeat([0, 1] * 20, IMAGES)
    groups = [group_hash(f"P{i // IMAGES}") for i in range(PATIENTS * IMAGES)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", SplitShareWarning)
        a = assign_splits(y, None, 0.1, 0.2, seed, groups)
    assert [int((a == p).sum()) for p in (1, 2)] == [20, 40]  # 4 and 8 of the 40 patients


def _case_csv(tmp_path, split=None) -> "Path":
    """50 patients of 6 images, written 'P07' on even rows and 'p07 ' on odd ones (as found in a walkthrough's
    spreadsheet); ``split(patient, row)`` gives a split column."""
    rows = ["path,label,patient" + (",split" if split else "")]
    for p in range(50):
        for i in range(6):
            pid = f"P{p:02d}" if i % 2 == 0 else f"p{p:02d} "
            rows.append(f"{p}_{i}.png,{p % 2},{pid}" + (f",{split(p, i)}" if split else ""))
    (tmp_path / "case.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "case.csv"


def test_patient_ids_that_differ_only_in_case_are_one_patient_and_never_straddle_splits(tmp_path):
    """'P07' and 'p07' had been two patients: medtrain's split put 11 of 50 patients in both train and
    test, silently. They are one patient, hashed as the first spelling, with one line saying so."""
    with pytest.warns(GroupCaseWarning) as caught:
        t = read_label_csv(_case_csv(tmp_path))
    assert len(caught) == 1
    msg = str(caught[0].message)
    assert "\n" not in msg and msg.endswith(
        "case.csv: 50 patient IDs are written in more than one case, e.g. 'P00' (line 2) and 'p00' (line 3); "
        "IDs that differ only in case are read as one patient, whose rows share a split")
    assert t.groups == [group_hash(f"P{r // 6:02d}") for r in range(300)]
    y = np.array([int(label) for label in t.labels])
    for seed in range(3):
        a = assign_splits(y, None, 0.1, 0.2, seed, t.groups)
        assert all(len(set(a[r:r + 6])) == 1 for r in range(0, 300, 6))


def test_a_given_split_with_a_patient_in_two_cases_in_train_and_test_is_refused(tmp_path):
    path = _case_csv(tmp_path, split=lambda p, i: "train" if i % 2 == 0 else "test")
    with pytest.warns(GroupCaseWarning), pytest.raises(MedtrainError) as e:
        read_label_csv(path)
    # the two spellings named: the warning had said they are one patient, and the refusal did not say why
    assert str(e.value).endswith("lines 2 and 3 are the same patient ('P00' and 'p00' differ only in case; if they "
                                 "are two patients, name them apart) but in splits train and test; a patient's "
                                 "rows must share one split")


def test_patient_ids_without_a_case_twin_keep_their_hashes_and_splits(tmp_path):
    """IDs in mixed case but none the twin of another ('P-0001', 'p-0002'): the groups, hence every split and
    splits.csv, are those of the IDs as written, as before ids were compared without case."""
    ids = [f"{'Pp'[p % 2]}-{p:04d}" for p in range(PATIENTS)]
    rows = ["path,label,patient"] + [f"{p}_{i}.png,{p % 2}, {ids[p]}" for p in range(PATIENTS) for i in range(IMAGES)]
    (tmp_path / "l.csv").write_text("\n".join(rows) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", GroupCaseWarning)
        t = read_label_csv(tmp_path / "l.csv")
    before = [group_hash(ids[r // IMAGES]) for r in range(PATIENTS * IMAGES)]
    assert t.groups == before
    y = np.repeat([p % 2 for p in range(PATIENTS)], IMAGES)
    assert (split_record(t.paths, y, None, 0.1, 0.2, 3, t.groups, folds=4, fold=1).assign
            == split_record(t.paths, y, None, 0.1, 0.2, 3, before, folds=4, fold=1).assign).all()
