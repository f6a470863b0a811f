"""``augment search --method autoaugment --folds K`` on a user's own data (a CSV of PNGs with a patient column):
folds are dealt over train + val beside the data's own test split, patients whole; data without a test split of
their own are refused (cross-validation's folds would hold each fold out as test, and the search would train on
every image the chosen policy's run is then tested on); K the patients cannot fill is refused before any pilot or
study exists (a study recording K had blocked the rerun with a K that fits); ``--group-column`` is train's."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import medtrain.api
from medtrain.cli import main

from conftest import make_images, png_csv
from _repeat_search import repeat_train

FLAGS = ["--model", "resnet10_28_half", "--accelerator", "cpu", "--budget-epochs", "1", "--method", "autoaugment",
         "--trials", "1", "--sub-policies", "1"]


def patients_csv(root: Path, split: bool, column: str = "patient", per_class: int = 10) -> Path:
    """2 classes x ``per_class`` patients x 3 images of 16x16; with ``split``, patients 0-5 of each class train,
    6-7 val, 8-9 test."""
    n = 2 * per_class * 3
    images, _ = make_images(n, seed=3)
    labels = np.repeat([0, 1], per_class * 3)
    patient = [f"{'ab'[c]}{(i // 3) % per_class}" for i, c in enumerate(labels)]
    columns = {column: patient}
    if split:
        columns["split"] = ["train" if int(p[1:]) < 6 else "val" if int(p[1:]) < 8 else "test" for p in patient]
    return png_csv(root, images, labels.reshape(-1, 1), classes=["normal", "tumour"], columns=columns)


def search(data: Path, work: Path, *flags) -> int:
    return main(["augment", "search", "--data", str(data), *FLAGS, *flags, "--work-dir", str(work),
                 "--out", str(work.parent / "policy.yaml")])


@pytest.fixture
def trained(monkeypatch):
    calls = []
    monkeypatch.setattr(medtrain.api, "train", repeat_train(calls))
    return calls


def test_data_without_a_test_split_of_their_own_are_refused_before_anything_is_written(tmp_path, trained, capsys):
    data = patients_csv(tmp_path / "d", split=False)
    assert search(data, tmp_path / "work", "--folds", "3") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has none" in err and "--seeds K" in err and "split column" in err
    assert not (tmp_path / "work").exists() and not (tmp_path / "policy.yaml").exists() and trained == []


def test_the_folds_of_a_split_csv_keep_its_test_rows_and_its_patients_whole(tmp_path, trained):
    data = patients_csv(tmp_path / "d", split=True)
    assert search(data, tmp_path / "work", "--folds", "2") == 0
    assert [(c.folds, c.fold) for c in trained] == [(2, 0), (2, 1)]
    from medtrain.data import load_splits

    test_rows = {r["path"] for r in csv.DictReader(open(data)) if r["split"] == "test"}
    for c in trained:
        record = load_splits(c).record  # the fold run's own split, as its training loads it
        by_patient = {}
        for name, part, group in zip(record.inputs, record.assign, record.groups):
            by_patient.setdefault(group, set()).add(int(part))
            assert (int(part) == 2) == (Path(name).name in {Path(p).name for p in test_rows})
        assert all(len(parts) == 1 for parts in by_patient.values())  # a patient in one split of each fold


def test_folds_the_patients_cannot_fill_are_refused_before_the_pilots_or_the_study(tmp_path, trained, capsys):
    data = patients_csv(tmp_path / "d", split=True)  # 8 train + val patients per class
    assert search(data, tmp_path / "work", "--folds", "9") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--folds 9" in err and "patients" in err
    assert not (tmp_path / "work").exists() and trained == []
    assert search(data, tmp_path / "work", "--folds", "2") == 0  # the K that fits, not blocked by a study of 9


def test_group_column_keeps_a_patient_column_of_another_name_whole_and_is_in_the_train_command(
        tmp_path, trained, capsys):
    data = patients_csv(tmp_path / "d", split=False, column="case_id")
    assert search(data, tmp_path / "work", "--group-column", "case_id") == 0
    assert trained[0].group_column == "case_id"
    line = next(x for x in capsys.readouterr().out.splitlines() if "train with: " in x)
    assert "--group-column case_id" in line
