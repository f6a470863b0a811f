"""`medtrain tune`: trials scored on validation only, a resumable study, the best trial tested once."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna
import pytest
import yaml

import medtrain.api
import medtrain.evaluation
import medtrain.runscores
import medtrain.rundir
from conftest import make_npz
from medtrain import config as config_mod
from medtrain.cli import main
from medtrain.errors import MedtrainError, TrainingDiverged, TrainingInterrupted
from medtrain.tune import tune
from medtrain.tune.study import default_storage, train_trial

SPACE = {"lr": {"low": 1e-3, "high": 3e-2, "log": True}}


def fast(data, **over) -> dict:
    """Quick settings; ``flip: false``: no flip pilots (two real 1-epoch fits a new study makes with ``flip: auto``,
    though ``train`` is faked; the study's flip decision is tests/tune/test_study_flips.py's)."""
    return {"data": str(data), "model": "resnet10_28_half", "epochs": 1, "batch_size": 32, "schedule": "none",
            "accelerator": "cpu", "bootstrap": 20, "tta": "none", "logger": "none", "flip": "false", **over}


def fake_train(calls, fail_at=None, interrupt=KeyboardInterrupt):
    """Stands in for medtrain.api.train: a score that grows with lr, no files; records how it was called.
    Call number ``fail_at`` raises ``interrupt``, as Ctrl-C inside a trial does (KeyboardInterrupt outside
    the Lightning loop, TrainingInterrupted when Lightning caught it)."""

    def train(cfg, resume=None, verbose=True, callbacks=None, evaluate_test=True, idle_settings=False):
        calls.append({"cfg": cfg, "callbacks": callbacks, "evaluate_test": evaluate_test})
        if len(calls) == fail_at:  # the interrupted run's folder, as train leaves it for --resume
            Path(cfg.out).mkdir(parents=True, exist_ok=True)
            (Path(cfg.out) / "config.yaml").write_text("seed: 0\n")
            raise interrupt("interrupted")
        lr = cfg.lr if cfg.lr is not None else 1e-3  # lr: auto when the space does not set it
        scores = {"val_auc": lr, "val_acc": lr, "val_loss": -lr}
        return {"best_epoch": 0, "history": [{"epoch": 0, **scores}], "val": {"auc": lr}, "test": {}}

    return train


def finished(out) -> list:
    study = optuna.load_study(study_name="tune", storage=default_storage(out))
    return [t for t in study.trials if t.state.is_finished() and t.state.name != "FAIL"]


def test_each_trial_trains_without_test_and_reports_its_monitor_for_pruning(tiny_npz, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    trial = optuna.create_study(direction="maximize").ask()
    cfg = config_mod.resolve(fast(tiny_npz, monitor="val_acc"), {"out": str(tmp_path / "t0")})
    train_trial(trial, cfg)
    (call,) = calls
    assert call["evaluate_test"] is False
    (cb,) = call["callbacks"]
    assert type(cb).__name__ == "PyTorchLightningPruningCallback" and cb.monitor == "val_acc"


def test_a_trial_whose_run_holds_test_numbers_is_refused(tiny_npz, tmp_path, monkeypatch):
    monkeypatch.setattr(medtrain.api, "train", lambda cfg, **k: {"val": {"auc": 0.9}, "test": {"auc": 0.8}})
    cfg = config_mod.resolve(fast(tiny_npz), {"out": str(tmp_path / "t0")})
    with pytest.raises(MedtrainError, match="holds test results"):
        train_trial(optuna.create_study().ask(), cfg)


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, TrainingInterrupted])
def test_ctrl_c_inside_a_trial_keeps_the_finished_trials_and_a_rerun_continues(tiny_npz, tmp_path, monkeypatch,
                                                                               interrupt):
    out = tmp_path / "tune"
    calls = []
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls, fail_at=3, interrupt=interrupt))
    with pytest.raises(TrainingInterrupted) as e:
        tune(fast(tiny_npz), SPACE, out, trials=4, log=lambda line: None)
    # what was kept and the way on, in the one line the command line prints
    assert str(e.value).startswith("tune interrupted; 2 finished trials are kept in sqlite:///")
    assert len(finished(out)) == 2 and (out / "trials.md").is_file()
    assert not Path(calls[-1]["cfg"].out).exists()  # the lost trial's folder is not left behind
    calls.clear()
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    tune(fast(tiny_npz), SPACE, out, trials=4, log=lambda line: None)
    assert len(calls) == 2 and len(finished(out)) == 4  # two more trials, none redone
    study = optuna.load_study(study_name="tune", storage=default_storage(out))
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]


def test_a_trial_that_diverges_fails_alone_and_the_search_goes_on(tiny_npz, tmp_path, monkeypatch):
    out, calls, lines = tmp_path / "tune", [], []
    monkeypatch.setattr(medtrain.api, "train",
                        fake_train(calls, fail_at=2, interrupt=lambda _: TrainingDiverged("training diverged in epoch 1")))
    tune(fast(tiny_npz), SPACE, out, trials=3, log=lines.append)
    study = optuna.load_study(study_name="tune", storage=default_storage(out))
    # --trials 3: three finished trials, the failed one replaced (it stopped at three attempts)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert any("#1: failed (training diverged in epoch 1)" in line for line in lines)
    assert study.best_trial.number in (0, 2, 3) and (out / "best_config.yaml").is_file()


def test_a_rerun_with_more_trials_continues_the_study(tiny_npz, tmp_path, monkeypatch):
    out, calls = tmp_path / "tune", []
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    tune(fast(tiny_npz), SPACE, out, trials=2, log=lambda line: None)
    tune(fast(tiny_npz), SPACE, out, trials=3, log=lambda line: None)
    assert len(calls) == 3 and len(finished(out)) == 3
    assert [c["cfg"].out for c in calls] == [str(out / "trials" / f"{n:03d}") for n in range(3)]
    lines = []
    tune(fast(tiny_npz), SPACE, out, trials=3, log=lines.append)  # already there: nothing is trained
    assert len(calls) == 3 and any("nothing to run" in line for line in lines)


def test_a_rerun_with_another_space_is_refused_not_mixed_in(tiny_npz, tmp_path, monkeypatch):
    monkeypatch.setattr(medtrain.api, "train", fake_train([]))
    tune(fast(tiny_npz), SPACE, tmp_path / "tune", trials=1, log=lambda line: None)
    with pytest.raises(MedtrainError, match="started with other settings"):
        tune(fast(tiny_npz), {"dropout": [0.0, 0.5]}, tmp_path / "tune", trials=2, log=lambda line: None)
    with pytest.raises(MedtrainError, match=r"other settings \(base epochs: 1, now 2\)"):  # named, not 'base'
        tune(fast(tiny_npz, epochs=2), SPACE, tmp_path / "tune", trials=2, log=lambda line: None)


def test_a_searched_epochs_has_its_own_column_beside_the_epochs_each_trial_ran(tiny_npz, tmp_path, monkeypatch):
    """trials.csv had two 'epochs' columns when the space searched epochs (the README's own example)."""
    monkeypatch.setattr(medtrain.api, "train", fake_train([]))
    out = tmp_path / "tune"
    tune(fast(tiny_npz), {"epochs": [1, 2], "lr": {"low": 1e-3, "high": 1e-2}}, out, trials=2, log=lambda line: None)
    header = (out / "trials.csv").read_text().splitlines()[0].split(",")
    assert len(header) == len(set(header)) and {"epochs_run", "epochs", "lr"} <= set(header)


def test_a_study_continues_after_an_update_added_a_setting_at_its_default(tiny_npz, tmp_path, monkeypatch):
    """A study saved before a setting existed (here: positive_class) continues with it at its default; the
    update had stopped every study with 'base differ' (a user walkthrough)."""
    monkeypatch.setattr(medtrain.api, "train", fake_train([]))
    out = tmp_path / "tune"
    tune(fast(tiny_npz), SPACE, out, trials=1, log=lambda line: None)
    study = optuna.load_study(study_name="tune", storage=default_storage(out))
    saved = study.user_attrs["medtrain"]
    del saved["base"]["positive_class"]
    study.set_user_attr("medtrain", saved)
    tune(fast(tiny_npz), SPACE, out, trials=2, log=lambda line: None)
    assert len(finished(out)) == 2
    with pytest.raises(MedtrainError, match="base positive_class: None, now '0'"):  # not at its default: refused
        tune(fast(tiny_npz, positive_class="0"), SPACE, out, trials=3, log=lambda line: None)


def test_a_trial_drawing_finished_parameters_again_takes_their_score_without_training(tiny_npz, tmp_path,
                                                                                      monkeypatch):
    """A space of few choices drew the same configuration again and retrained it (3 of 7 trials, a user
    walkthrough): the repeat takes the first trial's score and run."""
    calls = []
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    out = tmp_path / "tune"
    tune(fast(tiny_npz), {"dropout": [0.0]}, out, trials=3, log=lambda line: None)
    trials = finished(out)
    assert len(calls) == 1 and len(trials) == 3
    assert [t.user_attrs.get("repeat_of") for t in trials] == [None, 0, 0]
    assert {t.value for t in trials} == {trials[0].value}
    # the table says so: it had read as three configurations tried (a walk comparing networks)
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert [r["why"] for r in rows] == ["", *["the parameters of #0 drawn again: its score, not trained again"] * 2]
    assert "the parameters of #0 drawn again" in (out / "trials.md").read_text()


@pytest.mark.parametrize("extra, message", [
    (["--data", "nope.npz"], "--data nope.npz: no such file or folder"),
    (["--folds", "2"], "folds 2 needs the fold"),
    (["--pretrained", "no/such/run"], "neither a run directory"),  # refused by the first trial's training
])
def test_data_or_settings_train_refuses_leave_no_study_behind(tiny_npz, tmp_path, capsys, extra, message):
    """A leftover study.db made the corrected command fail with 'started with other settings'."""
    out = tmp_path / "tune"
    data = [] if "--data" in extra else ["--data", str(tiny_npz)]
    argv = ["tune", *data, "--model", "resnet10_28_half", "--epochs", "1", "--no-progress", *extra, "--trials", "1",
            "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.strip().splitlines()[-1].startswith("medtrain: error")
    assert not out.exists()


@pytest.mark.slow
def test_tune_end_to_end_scores_on_validation_and_tests_the_best_trial_once(tmp_path, monkeypatch, capsys):
    # val and test of different sizes, so every evaluation can be told apart by its split's size.
    data = make_npz(tmp_path / "grey.npz", sizes=(48, 16, 24))
    evaluated = []

    def recording(evaluate_split):
        def wrapped(module, split, *a, **k):
            evaluated.append(len(split))
            return evaluate_split(module, split, *a, **k)
        return wrapped

    for mod in (medtrain.runscores, medtrain.evaluation):
        monkeypatch.setattr(mod, "evaluate_split", recording(mod.evaluate_split))
    out = tmp_path / "tune"
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"lr": {"low": 1e-3, "high": 3e-2, "log": True}, "dropout": [0.0, 0.3]}))
    args = ["tune", "--space", str(space), "--out", str(out)]
    for k, v in fast(data, flip="auto").items():  # the real search, flip pilots included
        args += [f"--{k.replace('_', '-')}", str(v)]
    assert main(args + ["--trials", "2"]) == 0, capsys.readouterr().err
    assert evaluated.count(24) == 1 and evaluated[-1] == 24  # the test split: once, after every trial
    assert len(finished(out)) == 2 and sorted(p.name for p in (out / "trials").iterdir()) == ["000", "001"]
    for run in (out / "trials").iterdir():
        assert json.loads((run / "metrics.json").read_text())["test"] == {}  # no trial ever saw the test split
    best = json.loads((out / "best.json").read_text())
    study = optuna.load_study(study_name="tune", storage=default_storage(out))
    assert best["trial"] == study.best_trial.number and best["val"]["val_auc"] == study.best_value
    assert best["test"] == {k: v for k, v in json.loads(
        (out / "trials" / f"{best['trial']:03d}" / "eval_test.json").read_text()).items() if k in best["test"]}
    cfg = config_mod.resolve(config_mod.load_yaml(out / "best_config.yaml"))  # trainable as it is
    assert cfg.lr == pytest.approx(study.best_params["lr"]) and cfg.dropout == study.best_params["dropout"]
    assert cfg.data == str(data) and cfg.epochs == 1
    assert (out / "trials.csv").read_text().count("\n") == 3 and (out / "history.png").stat().st_size > 0
    assert (out / "importance.png").stat().st_size > 0
    # run again: nothing to train, and the test split is not evaluated again (its file stays as it was)
    stamp = (out / "trials" / f"{best['trial']:03d}" / "eval_test.json").stat().st_mtime_ns
    n_evaluated = len(evaluated)
    assert main(args + ["--trials", "2"]) == 0
    assert len(evaluated) == n_evaluated and json.loads((out / "best.json").read_text())["test"] == best["test"]
    assert (out / "trials" / f"{best['trial']:03d}" / "eval_test.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("extra, message", [
    (["--budget", "0"], "--budget must be a number of minutes > 0"),
    (["--trials", "0"], "--trials must be an integer >= 1"),
    ([], "give --trials N and/or --budget MINUTES"),
    (["--trials", "2", "--storage", "sqlite:////nonexistent-dir/sub/study.db"], "cannot open the study database"),
    (["--trials", "2", "--storage", "nosuchdialect://host/db"], "cannot open the study database"),
    (["--trials", "2", "--devices", "2"], "medtrain tune trains its runs in one process"),
])
def test_bad_limits_and_unreachable_storage_are_one_line_exit_2_and_write_nothing(tiny_npz, tmp_path, capsys,
                                                                                  extra, message):
    out = tmp_path / "tune"
    assert main(["tune", "--data", str(tiny_npz), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_a_missing_space_file_is_named_as_the_search_space(tiny_npz, tmp_path, capsys):
    out = tmp_path / "tune"
    assert main(["tune", "--data", str(tiny_npz), "--space", str(tmp_path / "nope.yaml"), "--trials", "1",
                 "--out", str(out)]) == 2
    assert "search space file not found" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("space, message", [
    ({"learning_rate": {"low": 0.001, "high": 0.1}}, "unknown search space: setting 'learning_rate'"),
    ({"lr": {"low": 0.1, "high": 0.001}}, "lr: empty range"),
])
def test_a_bad_search_space_is_one_line_exit_2_and_writes_nothing(tiny_npz, tmp_path, capsys, space, message):
    out, path = tmp_path / "tune", tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(space))
    assert main(["tune", "--data", str(tiny_npz), "--space", str(path), "--trials", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_multi_device_trials_are_refused_before_any_training(tiny_npz, tmp_path, monkeypatch):
    monkeypatch.setattr(medtrain.api, "train", lambda *a, **k: pytest.fail("trained"))
    cfg = config_mod.resolve(fast(tiny_npz, devices=2), {"out": str(tmp_path / "t0")})
    with pytest.raises(MedtrainError, match="in one process"):
        train_trial(optuna.create_study().ask(), cfg)


def test_a_study_on_a_folder_that_changed_is_not_continued(tmp_path):
    # trials are ranked on one validation split: new images would re-split the data under the later trials
    from PIL import Image

    from conftest import make_images

    images, labels = make_images(70)
    for i, (img, y) in enumerate(zip(images, labels.ravel())):
        (tmp_path / "data" / str(y)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(tmp_path / "data" / str(y) / f"{i}.png")
    out = tmp_path / "tune"
    tune(fast(tmp_path / "data", flip="true", precision="32-true"), SPACE, out, trials=1, log=lambda line: None)
    Image.fromarray(images[0]).save(tmp_path / "data" / str(labels[0, 0]) / "new.png")
    with pytest.raises(MedtrainError, match=r"trials/000 .* changed since it was trained: 1 input\(s\) added"):
        tune(fast(tmp_path / "data", flip="true", precision="32-true"), SPACE, out, trials=2, log=lambda line: None)
    assert len(finished(out)) == 1 and not (out / "trials" / "001").exists()
