"""``tune`` refuses, before any trial trains and with nothing written (no study database, no output folder), what
``train`` refuses typed for a new run (:func:`medtrain.config.checks.check_typed_for_a_new_run`), in the same one
line: ``--store mmap`` on a CSV of DICOM files had trained every trial with a warning and recorded ``store: mmap``.
A value of the search space is refused by name, not the key's other values; a base setting only where no value of
the space makes it right; a study the storage already holds continues, and is read, as before. Training is
replaced by a canned score: what is tested is what is refused before it."""
from __future__ import annotations

import optuna
import pytest

import medtrain.api
import medtrain.tune as tune_mod
from conftest import make_npz
from medtrain.cli import main
from medtrain.errors import MedtrainError
from medtrain.tune import tune
from medtrain.tune.study import default_storage
from test_compare_typed import _dicom_csv, refused_by_train


def _fake_training(monkeypatch) -> list:
    """medtrain.api.train as a trial calls it: a score, no files; the settings of each call are recorded."""
    trained = []

    def train(cfg, resume=None, verbose=True, callbacks=None, evaluate_test=True, idle_settings=False):
        trained.append(cfg)
        return {"best_epoch": 0, "history": [{"epoch": 0, "val_auc": 0.5 + cfg.lr}], "val": {"auc": 0.5 + cfg.lr},
                "test": {}}

    monkeypatch.setattr(medtrain.api, "train", train)
    return trained


def _base(tmp_path, monkeypatch, **over) -> dict:
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    base = {"data": str(make_npz(tmp_path / "tiny.npz")), "model": "resnet10_28_half", "epochs": 1, "batch_size": 32,
            "schedule": "none", "accelerator": "cpu", "bootstrap": 0, "logger": "none", **over}
    return {k: v for k, v in base.items() if v is not None}


LR = {"lr": {"low": 0.01, "high": 0.02}}


def _studies(url: str) -> list[str]:
    return [s.study_name for s in optuna.get_all_study_summaries(url)]


def test_store_mmap_on_a_csv_of_dicom_files_is_refused_in_trains_line_before_any_trial(tmp_path, monkeypatch,
                                                                                       capsys):
    trained = _fake_training(monkeypatch)
    flags, refused = refused_by_train(tmp_path, monkeypatch, capsys)
    assert main(["tune", *flags, "--trials", "1", "--out", str(tmp_path / "tn")]) == 2
    assert capsys.readouterr().err == refused
    db = tmp_path / "elsewhere.db"  # a given --storage is not created either
    assert main(["tune", *flags, "--trials", "1", "--out", str(tmp_path / "tn"), "--storage", f"sqlite:///{db}"]) == 2
    assert capsys.readouterr().err == refused
    assert not trained and not (tmp_path / "tn").exists() and not db.exists() and not (tmp_path / "run").exists()


@pytest.mark.parametrize("over, space, message", [
    ({"image_size": 32}, LR, r"^--image-size 32 applies to image folders and CSVs only"),
    # a value of the space that contradicts a typed setting: named, in the words of the space's other checks
    ({"flip": "false"}, {"tta": ["none", "hflip"]},
     r"^search space tta: value 'hflip' is refused by train \(flip false turns flips off"),
    ({"tta": "hflip"}, {"flip": ["true", "false"]},
     r"^search space flip: value 'false' is refused by train \(flip false turns flips off"),
    ({"mc_dropout": 3, "dropout": 0.5, "dropout_kind": "annealed", "anneal_epochs": 2, "epochs": None},
     {"epochs": {"low": 1, "high": 3}}, r"^search space epochs: value 3 is refused by train \(mc_dropout with annea"),
    # a base setting that no value of the space makes right: train's line
    ({"mc_dropout": 3, "dropout": 0.5, "dropout_kind": "annealed", "anneal_epochs": 2, "epochs": 5}, LR,
     r"^mc_dropout with annealed dropout samples nothing"),
])
def test_a_setting_train_refuses_typed_stops_the_search_before_anything_is_written(tmp_path, monkeypatch, over,
                                                                                   space, message):
    trained = _fake_training(monkeypatch)
    with pytest.raises(MedtrainError, match=message):
        tune(_base(tmp_path, monkeypatch, **over), space, tmp_path / "tn", trials=2, log=lambda line: None)
    assert not trained and not (tmp_path / "tn").exists()


@pytest.mark.parametrize("over, space", [
    ({"flip": "false"}, {"tta": ["none", "shift"], **LR}),  # the key's values that do not contradict it
    # every trial anneals over its whole run: the default 30 epochs of the base alone are no trial's
    ({"mc_dropout": 3, "dropout": 0.5, "dropout_kind": "annealed", "anneal_epochs": 2, "epochs": None},
     {"epochs": [1, 2], **LR}),
    # a step range's highest value is the one it reaches (1, 3), not high (4)
    ({"mc_dropout": 3, "dropout": 0.5, "dropout_kind": "annealed", "anneal_epochs": 3, "epochs": None},
     {"epochs": {"low": 1, "high": 4, "step": 2}, **LR}),
    # two searched values that conflict only with each other: neither is refused, the search scores the pair
    ({}, {"flip": ["true", "false"], "tta": ["none", "hflip"], **LR}),
])
def test_what_the_space_makes_right_or_only_some_draws_contradict_is_searched(tmp_path, monkeypatch, over, space):
    trained = _fake_training(monkeypatch)
    best = tune(_base(tmp_path, monkeypatch, **over), space, tmp_path / "tn", trials=2, log=lambda line: None)
    assert len(trained) == 2 and best["finished_trials"] == 2


def test_a_study_the_storage_holds_continues_and_is_read_and_a_new_one_beside_it_is_refused(tmp_path, monkeypatch):
    # a study an older medtrain ran with --image-size on a .npz (its trials record image_size 16)
    base, out = _base(tmp_path, monkeypatch, image_size=16), tmp_path / "tn"
    trained = _fake_training(monkeypatch)
    with monkeypatch.context() as older:
        older.setattr(tune_mod, "check_typed", lambda *a: None)
        first = tune(base, LR, out, trials=1, log=lambda line: None)
    assert len(trained) == 1 and trained[0].image_size == 16
    assert tune(base, LR, out, trials=1, log=lambda line: None) == first  # read: nothing trains
    assert len(trained) == 1
    assert tune(base, LR, out, trials=2, log=lambda line: None)["finished_trials"] == 2  # continued
    assert len(trained) == 2
    with pytest.raises(MedtrainError, match=r"^--image-size 16 applies to image folders and CSVs only"):
        tune(base, LR, out, trials=1, study_name="other", log=lambda line: None)
    assert len(trained) == 2 and not (out / "trials-other").exists()
    assert _studies(default_storage(out)) == ["tune"]


def test_the_check_of_a_typed_store_reads_the_data_once_not_once_per_value_of_the_space(tmp_path, monkeypatch):
    # 6 values of 3 settings checked: the CSV (and each of its DICOM files) had been read for each before the refusal
    from test_compare_typed import count_label_csv_reads

    trained = _fake_training(monkeypatch)
    csv = _dicom_csv(tmp_path / "xr")
    reads = count_label_csv_reads(monkeypatch)
    space = {**LR, "dropout": [0.0, 0.5], "weight_decay": [0.0, 0.01]}
    with pytest.raises(MedtrainError, match=r"^--store mmap: .*a CSV of DICOM/NIfTI entries"):
        tune(_base(tmp_path, monkeypatch, data=str(csv), store="mmap"), space, tmp_path / "tn", trials=1,
             log=lambda line: None)
    assert reads == {str(csv): 1}
    assert not trained and not (tmp_path / "tn").exists()


def test_a_study_database_that_cannot_be_read_is_one_line_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    # whether it holds the study decides whether the typed settings are checked: it had been read as "no study"
    trained = _fake_training(monkeypatch)
    data = _base(tmp_path, monkeypatch)["data"]
    db = tmp_path / "notes.db"
    db.write_text("notes, not a database\n")
    assert main(["tune", "--data", data, "--image-size", "32", "--trials", "1", "--out", str(tmp_path / "tn"),
                 "--storage", f"sqlite:///{db}"]) == 2
    err = capsys.readouterr().err
    assert err == f"medtrain: error: --storage sqlite:///{db}: cannot read the study database (file is not a database)\n"
    assert not trained and not (tmp_path / "tn").exists() and db.read_text() == "notes, not a database\n"
