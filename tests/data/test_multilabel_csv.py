"""Multi-label data in a CSV of images, as users hold them: the labels of a row joined in its label cell
(``Atelectasis|Cardiomegaly``, NIH ChestX-ray14's form; ``;`` too) or one 0/1 column per label after ``path``
(CheXpert's form). Both read as one multi-label task, its labels named and numbered as classes are (sorted), and
split without a split column by the one splitter, stratified by each row's rarest label value
(:func:`medtrain.data._folds._strata`) with each label's positives and negatives in every split where enough rows
hold them. A label matrix in memory (``medtrain.train({'data': (x, Y)})``) is split the same way. Had been: ``|``
made every combination a class of its own (3 labels, 8 classes), ``;`` and 0/1 columns were refused, and so was
an in-memory label matrix without splits."""
from __future__ import annotations

import csv
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from test_multilabel_external import _pngs
from medtrain.config import Config
from medtrain.data import MULTILABEL, load_csv, load_splits
from medtrain.data._folds import _strata
from medtrain.data.arrays import arrays_npz
from medtrain.data.split import assign_splits, split_record, stratified_split
from medtrain.data.folder import label_matrix
from medtrain.data.table import NoFindingWarning, read_label_csv
from medtrain.errors import MedtrainError

NAMES = ["Atelectasis", "Cardiomegaly", "Effusion", "Nodule"]  # sorted: the order labels are numbered in
RATES = [0.45, 0.35, 0.25, 0.15]


def _matrix(n: int, seed: int = 0) -> np.ndarray:
    y = (np.random.default_rng(seed).random((n, len(NAMES))) < RATES).astype(np.int64)
    y[:3] = 0  # images with no finding
    return y


def _images(root: Path, y: np.ndarray, size: int = 16) -> list[str]:
    """Learnable grey PNGs: each finding a bright square at its own place (test_multilabel_external's, seed 1)."""
    return _pngs(root, y, seed=1, size=size)[0]


def _write(root: Path, y: np.ndarray, form: str, name: str = "labels.csv", extra: dict | None = None) -> Path:
    """``y`` as a CSV of ``form``: joined by ``|`` or ``;`` (each row's labels in a shuffled order), or ``columns``
    (one 0/1 column per label, written in reverse order); ``extra``: more columns, one value per row."""
    paths = [f"img/{i}.png" for i in range(len(y))]
    extra = extra or {}
    rng = np.random.default_rng(2)
    with open(root / name, "w", newline="") as f:
        w = csv.writer(f)
        if form == "columns":
            w.writerow(["path", *NAMES[::-1], *extra])
            for i, row in enumerate(y):
                w.writerow([paths[i], *row[::-1].tolist(), *(v[i] for v in extra.values())])
        else:
            w.writerow(["path", "label", *extra])
            for i, row in enumerate(y):
                w.writerow([paths[i], form.join(NAMES[j] for j in rng.permutation(np.flatnonzero(row))),
                            *(v[i] for v in extra.values())])
    return root / name


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("multilabel")
    y = _matrix(120)
    _images(root, y)
    return root, y


@pytest.mark.parametrize("form", ["|", ";", "columns"])
def test_joined_and_column_forms_read_as_one_label_matrix_with_its_names(tmp_path, form):
    y = _matrix(40)
    table = read_label_csv(_write(tmp_path, y, form))
    assert table.label_names == NAMES  # sorted in every form, whatever order the columns or cells hold
    assert np.array_equal(label_matrix(table.label_sets, table.label_names), y)
    assert table.labels[0] == "" and table.splits is None  # rows of no finding: no label positive


def test_both_forms_load_as_the_same_multilabel_task_and_split(images):
    root, y = images
    loaded = [load_csv(_write(root, y, form, f"{i}.csv")) for i, form in enumerate(("|", ";", "columns"))]
    first = loaded[0]
    assert first.task == MULTILABEL and first.label_names == {str(i): n for i, n in enumerate(NAMES)}
    for other in loaded[1:]:
        assert other.task == first.task and other.label_names == first.label_names
        for s in ("train", "val", "test"):
            a, b = first.split(s), other.split(s)
            assert a.sources == b.sources and a.labels.tolist() == b.labels.tolist()
            assert a.images.equal(b.images)
    for s in ("train", "val", "test"):  # each label's positives and negatives in every split
        part = first.split(s).labels
        assert part.dtype.is_floating_point and part.shape[1] == len(NAMES)
        assert (part.sum(0) > 0).all() and (part.sum(0) < len(part)).all(), s


def test_an_empty_cell_is_no_finding_only_in_a_multilabel_file(tmp_path):
    (tmp_path / "m.csv").write_text("path,label\na.png,A|B\nb.png,\nc.png,B\n")
    table = read_label_csv(tmp_path / "m.csv")
    assert table.label_sets == [("A", "B"), (), ("B",)] and table.labels == ["A;B", "", "B"]
    (tmp_path / "s.csv").write_text("path,label\na.png,A\nb.png,\nc.png,B\n")  # one class per row: still refused
    with pytest.raises(MedtrainError, match="s.csv: line 3 has an empty label"):
        read_label_csv(tmp_path / "s.csv")


def test_a_named_no_finding_stays_a_label_of_its_own_said_in_one_line(tmp_path):
    (tmp_path / "l.csv").write_text("path,label\na.png,Effusion|Nodule\nb.png,No Finding\nc.png,No Finding\n")
    with pytest.warns(NoFindingWarning) as said:
        table = read_label_csv(tmp_path / "l.csv")
    assert table.label_names == ["Effusion", "No Finding", "Nodule"]
    msg = str(said[0].message)
    assert "'No Finding' (2 rows) is trained as a label of its own" in msg and "empty label cell" in msg
    assert "\n" not in msg and len(said) == 1  # no row names it beside a finding: nothing more said


@pytest.mark.parametrize("text", ["path,label\na.png,No Finding|Effusion\nb.png,Effusion\nc.png,Nodule|No Finding\n",
                                  "path,No Finding,Effusion,Nodule\na.png,1,1,0\nb.png,0,1,0\nc.png,1,0,1\n"])
def test_rows_naming_no_finding_beside_a_finding_are_said(tmp_path, text):
    # an inconsistent export's "No Finding|Effusion" had been accepted without a word
    (tmp_path / "l.csv").write_text(text)
    with pytest.warns(NoFindingWarning) as said:
        read_label_csv(tmp_path / "l.csv", multilabel=True)
    beside = [str(w.message) for w in said if "beside a finding" in str(w.message)]
    assert len(beside) == 1 and "2 rows name a 'no finding' label beside a finding (line 2: " in beside[0]


@pytest.mark.parametrize("form", ["|", "columns"])
def test_split_and_patient_columns_keep_working_in_both_forms(images, tmp_path, form):
    root, y = images
    n = len(y)
    patients = [f"P{i // 3}" for i in range(n)]  # three images per patient
    split = ["test" if i // 3 % 5 == 0 else "val" if i // 3 % 5 == 1 else "train" for i in range(n)]
    given = read_label_csv(_write(root, y, form, f"s{len(form)}.csv", {"split": split, "patient": patients}))
    assert given.splits == split and given.groups is not None and given.label_names == NAMES
    assert np.array_equal(label_matrix(given.label_sets, given.label_names), y)
    dealt = load_csv(_write(root, y, form, f"g{len(form)}.csv", {"patient": patients}), seed=3)
    where: dict = {}
    for s in ("train", "val", "test"):
        for src in dealt.split(s).sources:
            where.setdefault(patients[int(Path(src).stem)], set()).add(s)
    assert len(where) == n // 3 and all(len(v) == 1 for v in where.values())  # a patient's images share one split


@pytest.mark.parametrize("text, says", [
    ("path,label\na.png,A|B\nb.png,A;C\n", "labels are joined by '|' (line 2) and by ';' (line 3)"),
    ("path,label\na.png,A||B\nb.png,C\n", "line 2 has label 'A||B', an empty name between or beside '|'"),
    ("path,label\na.png,A;\nb.png,C\n", "line 2 has label 'A;', an empty name"),
    ("path,label\na.png,A|B|A\nb.png,C\n", "line 2 has label 'A|B|A', which names 'A' twice"),
    ("path,A,B\na.png,1,0\nb.png,0,2\n", "line 3, column 'B' holds '2'; a header of path without a label column"),
    # CheXpert's uncertain -1 and its blank (not mentioned) named as such, with what to do
    ("path,A,B\na.png,1,0\nb.png,-1,\n", "line 3, column 'A' holds -1, an uncertain label (CheXpert's convention); "
                                          "each label column holds 0 or 1 per image: map uncertain cells to 0 or 1"),
    ("path,A,B\na.png,1,0\nb.png,0,\n", "line 3, column 'B' holds '' (a blank cell, CheXpert's finding not "
                                         "mentioned, needs 0 or 1 too)"),
    ("path,age,A\na.png,63,1\n", "line 2, column 'age' holds '63'"),
    ("path,A|B,C\na.png,1,0\n", "header column 2 is named 'A|B'; a header of path without label names one 0/1 column per label, named without | or ;"),
    ("path,lable,split\na.png,A,train\n", "header must name the columns path,label.*did you mean label for lable"),
    ("path,Edema,edema\na.png,1,0\n", "labels 'Edema' (1 column) and 'edema' (1 column) differ only in case"),
    ("path,label\na.png,p0|A\nb.png,A\n", "labels include the class 'p0', named like"),
    ("path,A,B,A\na.png,1,0,1\n", "header names the column 'A' twice"),
])
def test_what_a_multilabel_csv_cannot_mean_is_one_line_naming_the_file(tmp_path, text, says):
    (tmp_path / "l.csv").write_text(text)
    with pytest.raises(MedtrainError) as e:
        read_label_csv(tmp_path / "l.csv")
    msg = str(e.value)
    assert msg.startswith(str(tmp_path / "l.csv") + ": ") and "\n" not in msg
    assert re.search(says if ".*" in says else re.escape(says), msg), msg


def test_a_multilabel_csv_of_volume_entries_is_refused_in_one_line(tmp_path):
    """Their loader reads one class per row: each combination had trained as a class of its own."""
    (tmp_path / "v.csv").write_text("path,label\na.nii.gz,A|B\nb.nii.gz,B\nc.nii.gz,A\n")
    with pytest.raises(MedtrainError) as e:
        load_splits(Config(data=str(tmp_path / "v.csv")))
    assert "multi-label rows" in str(e.value) and "DICOM/NIfTI" in str(e.value) and "\n" not in str(e.value)


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
    assert "l.csv: label 'Nodule' has 2 positive images (none in " in msg and "\n" not in msg


def test_a_label_matrix_in_memory_is_split_by_the_splitter(tmp_path):
    y = _matrix(100, seed=5)
    x = np.random.default_rng(0).integers(0, 255, (100, 16, 16), dtype=np.uint8)
    with np.load(arrays_npz((x, y), 0.1, 0.2, 0, tmp_path)) as z:
        drawn = stratified_split(y, 0.1, 0.2, 0, each_part=True)
        for code, s in enumerate(("train", "val", "test")):
            assert np.array_equal(z[f"{s}_labels"], y[drawn == code]) and np.array_equal(z[f"{s}_images"],
                                                                                          x[drawn == code])
            assert (z[f"{s}_labels"].sum(0) > 0).all(), s


def test_a_one_epoch_cli_run_names_the_labels_in_predict_and_eval_reproduces_it(images, tmp_path, capsys):
    root, y = images
    data, run = _write(root, y, "|", "cli.csv"), tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code, out, err = run_cli(capsys, "train", "--data", data, "--model", "resnet10_28_half", "--epochs", 1,
                                 "--out", run, "--flip", "true", "--precision", "32-true", "--accelerator", "cpu",
                                 "--bootstrap", 0, "--no-progress")
    assert code == 0, err
    assert "multi-label" in out and "4 labels" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["task"] == MULTILABEL and list(metrics["test"]["per_class"]) == NAMES
    with open(run / "predictions_test.csv", newline="") as f:
        assert set(NAMES) <= set(next(csv.reader(f)))
    code, out, err = run_cli(capsys, "predict", run, root / "img" / "0.png", "--out", tmp_path / "p.csv")
    assert code == 0, err
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["input", "prediction", *NAMES] and len(rows) == 2
    assert all(0 <= float(v) <= 1 for v in rows[1][2:])
    code, out, err = run_cli(capsys, "eval", run)
    assert code == 0, err
    again = json.loads((run / "eval_test.json").read_text())
    assert again["auc"] == pytest.approx(metrics["test"]["auc"], abs=1e-9)
    assert again["acc"] == pytest.approx(metrics["test"]["acc"], abs=1e-9)
