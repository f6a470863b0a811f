"""Studies sharing an output folder, trial run folders found from any working directory, and how many trials a
search runs: findings of a user walkthrough of `medtrain tune`."""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest

import medtrain.api
import medtrain.tune  # noqa: F401  (the module, for monkeypatching what it imported)
from medtrain import rundir
from medtrain._io import write_json
from medtrain.cli.augment import _config, register
from medtrain.errors import MedtrainError, TrainingDiverged
from medtrain.tune import locate_run, tune
from medtrain.tune import study as study_mod
from medtrain.tune.study import FINISHED, run_study

SPACE = {"lr": {"low": 1e-3, "high": 3e-2, "log": True}}
TUNE = sys.modules["medtrain.tune"]  # the package, not its function of the same name


def quiet(line: str) -> None:
    pass


def fast(data, **over) -> dict:
    """Quick settings; ``flip: false``: no flip pilots (two real 1-epoch fits a new study makes with ``flip: auto``,
    though ``train`` is faked; the study's flip decision is tests/tune/test_study_flips.py's)."""
    return {"data": str(data), "model": "resnet10_28_half", "epochs": 1, "batch_size": 32, "schedule": "none",
            "accelerator": "cpu", "bootstrap": 20, "tta": "none", "logger": "none", "flip": "false", **over}


def finished_run_train(calls, diverge=lambda n: False):
    """Stands in for medtrain.api.train and leaves a finished run directory (config.yaml, metrics.json), so
    medtrain.api.train_or_reuse would reuse it; call ``n`` diverges when ``diverge(n)``."""

    def train(cfg, resume=None, verbose=True, callbacks=None, evaluate_test=True, idle_settings=False):
        calls.append(cfg)
        if diverge(len(calls)):
            raise TrainingDiverged("training diverged in epoch 1")
        lr = cfg.lr if cfg.lr is not None else 1e-3
        result = {"best_epoch": 0, "history": [{"epoch": 0, "val_auc": lr}], "val": {"auc": lr}, "test": {}}
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        rundir.write_config(Path(cfg.out), cfg)
        write_json(Path(cfg.out) / "metrics.json", result)
        return result

    return train


@pytest.fixture
def fake_runs(monkeypatch):
    """Trains finished fake runs (the list of their configs) and evaluates the best one on test, as numbers."""
    calls = []
    monkeypatch.setattr(medtrain.api, "train", finished_run_train(calls))
    monkeypatch.setattr(TUNE, "evaluate", lambda run, split, verbose=True: {"auc": 0.7, "acc": 0.6})
    return calls


@pytest.mark.parametrize("space", [SPACE, {**SPACE, "dropout": [0.0, 0.5]}])
def test_two_studies_in_one_output_folder_train_their_own_trials(tiny_npz, tmp_path, fake_runs, space):
    """A second --study-name in the same --out reused the first study's trials/000 (same draw) or failed
    mid-search with 'was run with other settings' (another space)."""
    out = tmp_path / "tune"
    tune(fast(tiny_npz), SPACE, out, trials=1, log=quiet)
    tune(fast(tiny_npz), space, out, trials=1, study_name="wider", log=quiet)
    assert [c.out for c in fake_runs] == [str(out / "trials" / "000"), str(out / "trials-wider" / "000")]
    # and their reports: the second study's best.json and best_config.yaml had overwritten the first's
    first, second = (json.loads((d / "best.json").read_text()) for d in (out, out / "trials-wider"))
    assert Path(first["run_dir"]).parent.name == "trials" and Path(second["run_dir"]).parent.name == "trials-wider"
    assert (out / "best_config.yaml").is_file() and (out / "trials-wider" / "best_config.yaml").is_file()


def test_a_study_name_that_cannot_name_a_folder_is_refused_before_anything_is_written(tiny_npz, tmp_path,
                                                                                      fake_runs):
    with pytest.raises(MedtrainError, match="--study-name must be letters"):
        tune(fast(tiny_npz), SPACE, tmp_path / "tune", trials=1, study_name="../x", log=quiet)
    assert not (tmp_path / "tune").exists() and not fake_runs


def test_a_rerun_from_another_directory_finds_the_best_trials_run(tiny_npz, tmp_path, monkeypatch, fake_runs):
    """Run folders were stored relative to the working directory: a rerun from elsewhere said the best trial
    'ran in t1/trials/000, not here' and rewrote best.json without its test block."""
    monkeypatch.chdir(tmp_path)
    tune(fast(tiny_npz), SPACE, "t1", trials=1, log=quiet)
    first = json.loads((tmp_path / "t1" / "best.json").read_text())
    assert Path(first["run_dir"]) == tmp_path / "t1" / "trials" / "000" and first["test"]
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    lines = []
    tune(fast(tiny_npz), SPACE, tmp_path / "t1", trials=1, log=lines.append)
    assert not any("not here" in line for line in lines)
    assert json.loads((tmp_path / "t1" / "best.json").read_text()) == first


def test_a_rerun_where_the_best_run_is_not_keeps_its_recorded_test_evaluation(tiny_npz, tmp_path, fake_runs):
    """best.json was rewritten without its test block when the best trial's run was not found (another
    machine of a shared study, a moved folder): the one test evaluation it recorded was lost."""
    out = tmp_path / "tune"
    first = tune(fast(tiny_npz), SPACE, out, trials=1, log=quiet)
    (out / "trials" / "000").rename(tmp_path / "moved")
    lines = []
    again = tune(fast(tiny_npz), SPACE, out, trials=1, log=lines.append)
    assert any("not here" in line for line in lines) and again["test"] == first["test"]


def test_a_relative_run_folder_of_an_older_study_is_found_in_the_output_folder(tmp_path, monkeypatch):
    (tmp_path / "t1" / "trials" / "003").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert locate_run("t1/trials/003", tmp_path / "t1") == tmp_path / "t1" / "trials" / "003"
    assert locate_run(str(tmp_path / "x"), tmp_path / "t1") == tmp_path / "x"  # absolute: as it is


def test_failed_trials_are_replaced_until_n_finish(tiny_npz, tmp_path, monkeypatch):
    """--trials 3 stopped with 2 finished trials when one diverged (n_trials counted failed ones)."""
    calls = []
    monkeypatch.setattr(medtrain.api, "train", finished_run_train(calls, diverge=lambda n: n in (2, 3)))
    monkeypatch.setattr(TUNE, "evaluate", lambda run, split, verbose=True: {"auc": 0.7, "acc": 0.6})
    record = tune(fast(tiny_npz), SPACE, tmp_path / "tune", trials=3, log=quiet)
    assert len(calls) == 5 and record["finished_trials"] == 3


def test_a_search_whose_every_trial_fails_stops_after_n_failures_in_a_row(tiny_npz, tmp_path, monkeypatch):
    calls, lines = [], []
    monkeypatch.setattr(medtrain.api, "train", finished_run_train(calls, diverge=lambda n: True))
    with pytest.raises(MedtrainError, match="no trial of the study finished"):
        tune(fast(tiny_npz), SPACE, tmp_path / "tune", trials=3, log=lines.append)
    assert len(calls) == 3
    assert any("3 trials in a row failed; stopping the search with 0 finished trials" in line for line in lines)


def test_workers_sharing_a_study_past_n_trials_print_no_negative_eta(monkeypatch):
    """A second worker's trials pushed the count past --trials: 'trial 3/2 ... ETA -1m52s'."""
    clock = iter([0.0, 60.0])  # the search starts, then a trial ends a minute later
    monkeypatch.setattr(study_mod, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    study = optuna.create_study(direction="maximize")

    def objective(trial) -> float:
        for value in (0.1, 0.2):  # another worker's trials, finished while this one ran
            study.add_trial(optuna.trial.create_trial(value=value))
        return 0.5

    lines = []
    run_study(study, objective, 2, None, lines.append)
    assert len([t for t in study.trials if t.state in FINISHED]) == 3
    (line,) = lines
    assert line.startswith("trial 3 (2 asked") and "ETA 0m00s" in line and "-" not in line.split("ETA")[1]


def test_a_trial_is_scored_by_the_model_it_hands_over():
    # the history entry of the kept epoch is from before the class-weight rule and TTA chosen on validation (and,
    # in bf16, from rounded logits): a RetinaMNIST trial ranked first at 0.733 whose saved model scores 0.713
    result = {"best_epoch": 1, "history": [{"epoch": 0, "val_auc": 0.70, "val_loss": 0.9},
                                           {"epoch": 1, "val_auc": 0.733, "val_loss": 0.8}],
              "val": {"auc": 0.713, "acc": 0.45}}
    assert study_mod.score_of(result, "val_auc") == 0.713
    assert study_mod.score_of(result, "val_acc") == 0.45
    assert study_mod.score_of(result, "val_loss") == 0.8  # not in the val block: the kept epoch's
    with pytest.raises(MedtrainError, match="no validation val_auc"):
        study_mod.score_of({"best_epoch": 0, "history": [], "val": {}}, "val_auc")


def test_a_copied_or_moved_study_folder_finds_its_own_runs(tiny_npz, tmp_path, fake_runs):
    # absolute run paths pointed a copy's best.json at the original's run, and a moved folder lost its test result
    import shutil

    tune(fast(tiny_npz), SPACE, tmp_path / "t1", trials=1, log=quiet)
    shutil.copytree(tmp_path / "t1", tmp_path / "copy")
    (tmp_path / "copy" / "best.json").unlink()
    record = tune(fast(tiny_npz), SPACE, tmp_path / "copy", trials=1, log=quiet)
    assert Path(record["run_dir"]) == tmp_path / "copy" / "trials" / "000" and record["test"]
    (tmp_path / "t1").rename(tmp_path / "moved")
    (tmp_path / "moved" / "best.json").unlink()
    record = tune(fast(tiny_npz), SPACE, tmp_path / "moved", trials=1, log=quiet)
    assert Path(record["run_dir"]) == tmp_path / "moved" / "trials" / "000" and record["test"]


def a_trial_left_running(out: Path, heartbeat: bool = True):
    """A trial of the study in ``out`` as a process leaves it that was killed (``kill -9``) in its training: RUNNING,
    its half-written run folder ``trials/NNN`` there, its last heartbeat recorded now (none: ``heartbeat=False``)."""
    storage = study_mod.connect(TUNE.default_storage(out))
    study = optuna.load_study(study_name="tune", storage=storage)
    with warnings.catch_warnings():  # Optuna: the heartbeat is for Study.optimize (this is what it leaves)
        warnings.simplefilter("ignore", UserWarning)
        trial = study.ask()
    run_dir = out / "trials" / f"{trial.number:03d}"
    trial.set_user_attr("run_dir", str(run_dir))
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("seed: 0\n")
    if heartbeat:
        storage.record_heartbeat(trial._trial_id)
    return trial.number, run_dir


def states(out: Path) -> list[str]:
    return [t.state.name for t in optuna.load_study(study_name="tune", storage=TUNE.default_storage(out)).trials]


def test_a_trial_whose_process_was_killed_is_failed_by_the_next_run_and_its_folder_removed(tiny_npz, tmp_path,
                                                                                         monkeypatch, fake_runs):
    """A trial killed with SIGKILL stayed RUNNING forever: trials.md listed it as running and its half-written
    trials/NNN was never removed (a user walkthrough). Optuna's heartbeat tells a dead trial from a live one."""
    out = tmp_path / "tune"
    tune(fast(tiny_npz), SPACE, out, trials=1, log=quiet)
    number, run_dir = a_trial_left_running(out)
    monkeypatch.setattr(study_mod, "GRACE_S", 1, raising=False)  # instead of waiting study_mod.GRACE_S
    time.sleep(2.1)  # the database's clock counts whole seconds: its last heartbeat is now over 1 s old
    tune(fast(tiny_npz), SPACE, out, trials=2, log=quiet)
    assert states(out) == ["COMPLETE", "FAIL", "COMPLETE"] and number == 1
    assert not run_dir.exists() and len(fake_runs) == 2
    assert "| 1 | fail |" in (out / "trials.md").read_text()


def test_a_trial_alive_elsewhere_is_neither_failed_nor_cleaned_by_another_run(tiny_npz, tmp_path, fake_runs):
    """Machines sharing a study through --storage: a trial another machine is training (its heartbeat fresh) is
    left running, and its folder alone, by a run here; so is a trial of an earlier version without heartbeats."""
    out = tmp_path / "tune"
    tune(fast(tiny_npz), SPACE, out, trials=1, log=quiet)
    _, alive = a_trial_left_running(out)
    _, old = a_trial_left_running(out, heartbeat=False)
    lines = []
    tune(fast(tiny_npz), SPACE, out, trials=2, log=lines.append)
    assert states(out) == ["COMPLETE", "RUNNING", "RUNNING", "COMPLETE"]
    assert alive.is_dir() and old.is_dir()
    assert any("2 trial(s) running (#1, #2): elsewhere, or killed" in line for line in lines)  # said, not hidden


def test_the_heartbeat_is_optunas_on_every_study_a_search_opens(tmp_path):
    storage = study_mod.connect(TUNE.default_storage(tmp_path))
    assert storage.get_heartbeat_interval() == study_mod.HEARTBEAT_S < study_mod.GRACE_S == storage.grace_period


def test_whether_a_study_exists_is_read_without_writing_and_an_unreadable_database_is_one_line(tmp_path):
    """tune asks whether its storage holds the study before anything is written (a study that does is continued,
    not checked as a new run's settings): a missing SQLite file or a database without Optuna's tables holds none and
    is left as it was; one that cannot be read had been taken for one without the study (any error read as no)."""
    import sqlite3

    def url(name):
        return f"sqlite:///{tmp_path / name}"

    assert not study_mod.study_exists(url("missing.db"), "tune") and not (tmp_path / "missing.db").exists()
    with sqlite3.connect(tmp_path / "other.db") as db:  # another program's database: no table is added to it
        db.execute("CREATE TABLE notes (x)")
    assert not study_mod.study_exists(url("other.db"), "tune")
    with sqlite3.connect(tmp_path / "other.db") as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]
    optuna.create_study(storage=url("study.db"), study_name="tune")
    assert study_mod.study_exists(url("study.db"), "tune") and not study_mod.study_exists(url("study.db"), "wider")
    (tmp_path / "notes.db").write_text("notes, not a database\n" * 100)
    with pytest.raises(MedtrainError, match=r"^--storage sqlite:///\S+notes.db: cannot read the study database "
                                            r"\(file is not a database\)$"):
        study_mod.study_exists(url("notes.db"), "tune")
    with pytest.raises(MedtrainError, match=r"^--storage nosuchdb://host/db: cannot read the study database \(.*"
                                            r"nosuchdb"):  # a driver that is not installed
        study_mod.study_exists("nosuchdb://host/db", "tune")


# --no-progress keeps a search's study bar off a terminal too, as it keeps train's and compare's bars: a tune or
# augment search run in a terminal whose output is logged (tmux, `script`) had drawn it anyway.
class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_tune_draws_its_study_bar_on_a_terminal_unless_told_no_progress(tiny_npz, tmp_path, fake_runs, monkeypatch):
    for progress in (True, False):
        screen = Terminal()
        monkeypatch.setattr(sys, "stderr", screen)
        tune(fast(tiny_npz, progress=progress), SPACE, tmp_path / str(progress), trials=1, log=quiet)
        assert ("tune: 100%" in screen.getvalue() and "1/1" in screen.getvalue()) is progress


def test_augment_search_takes_no_progress_into_its_settings(tiny_npz):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    argv = ["augment", "search", "--data", str(tiny_npz), "--budget-epochs", "1", "--out", "p.yaml"]
    assert _config(parser.parse_args(argv + ["--no-progress"]), extra=("progress",)).progress is False
    assert _config(parser.parse_args(argv), extra=("progress",)).progress is True


def test_the_closing_line_names_every_file_the_search_wrote(tiny_npz, tmp_path, fake_runs):
    """trials.csv and the plots, which the search writes, had been left out of its closing line (a claims walk)."""
    lines = []
    tune(fast(tiny_npz), SPACE, tmp_path / "t", trials=2, log=lines.append)
    line = next(line for line in lines if line.startswith("tune: wrote "))
    names, folder = line.removeprefix("tune: wrote ").rsplit(" in ", 1)
    named = names.replace(" and ", ", ").split(", ")
    assert {"best_config.yaml", "trials.md", "trials.csv", "best.json", "report.html"} <= set(named)
    assert all((Path(folder) / n).is_file() for n in named)
    assert sorted(p.name for p in Path(folder).iterdir() if p.is_file() and p.suffix != ".db") == sorted(named)
