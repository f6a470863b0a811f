"""``--budget`` is a deadline for the whole search: no trial starts that the longest trial so far says would end
after it (the first always starts), and a trial still training at the deadline stops at that epoch's end and is
recorded pruned, ``pruned: budget``. Optuna's ``timeout`` had only stopped starting trials: a 45 s budget ran
2m09 (a whole trial started at 44 s, then the final evaluation)."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import torch

import medtrain.api
import medtrain.tune.pruning
from medtrain import config as config_mod
from medtrain.policy_search import autoaugment_search
from medtrain.tune import tune
from medtrain.tune.study import default_storage, run_study

SPACE = {"lr": {"low": 1e-3, "high": 3e-2, "log": True}}


def fast(data, **over) -> dict:
    return {"data": str(data), "model": "resnet10_28_half", "epochs": 3, "flip": "false", "tta": "none",
            "accelerator": "cpu", "logger": "none", **over}


@pytest.fixture
def clock(monkeypatch):
    """The budget's clock (medtrain.tune.pruning's ``time.monotonic``) with ``skip(seconds)`` moving it on: an
    epoch of a faked training that "takes" minutes, without waiting for them."""
    shift = [0.0]
    real = time.monotonic
    monkeypatch.setattr(medtrain.tune.pruning, "time", SimpleNamespace(monotonic=lambda: real() + shift[0]),
                        raising=False)
    return SimpleNamespace(skip=lambda s: shift.__setitem__(0, shift[0] + s))


def epoch_train(values, slow: dict, clock):
    """Stands in for medtrain.api.train: call i trains its epochs as Lightning would, reporting ``values[i]``
    after each to the trial's pruning callback, and stops where the callback set ``trainer.should_stop``;
    ``slow``: {call: epoch} whose epoch "takes" an hour (the budget's clock moves on an hour during it)."""
    calls = []

    def train(cfg, resume=None, verbose=True, callbacks=None, evaluate_test=True, idle_settings=False):
        i = len(calls)
        trainer = SimpleNamespace(sanity_checking=False, callback_metrics={cfg.monitor: torch.tensor(values[i])},
                                  max_epochs=cfg.epochs, should_stop=False)
        calls.append({"cfg": cfg, "epochs": 0})
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        for epoch in range(cfg.epochs):
            if slow.get(i) == epoch:
                clock.skip(3600)
            calls[-1]["epochs"] += 1
            for cb in callbacks or []:
                cb.on_validation_end(trainer, SimpleNamespace(current_epoch=epoch))
            if trainer.should_stop:
                break
        return {"best_epoch": calls[-1]["epochs"] - 1, "history": [], "val": {"auc": values[i] + 0.01}, "test": {}}

    return train, calls


def rows(out) -> list[dict]:
    with open(Path(out) / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_a_trial_training_at_the_deadline_stops_at_that_epochs_end_pruned_by_the_budget(
        tiny_npz, tmp_path, monkeypatch, clock):
    # trial #0 completes its 3 epochs; #1 starts (its expected length, #0's, fits) and its epoch 2 runs past the
    # deadline: it stops after epoch 2, not 3, pruned with why "budget", its better value not the best
    train, calls = epoch_train([0.6, 0.9], {1: 1}, clock)
    monkeypatch.setattr(medtrain.api, "train", train)
    lines = []
    out = tmp_path / "tune"
    best = tune(fast(tiny_npz), SPACE, out, budget_minutes=30, log=lines.append)
    assert [c["epochs"] for c in calls] == [3, 2]  # no third trial: the deadline passed
    study = optuna.load_study(study_name="tune", storage=default_storage(out))
    cut = study.trials[1]
    assert cut.state == optuna.trial.TrialState.PRUNED and cut.user_attrs["pruned"] == "budget"
    assert cut.value == pytest.approx(0.9) and sorted(cut.intermediate_values) == [0, 1]  # last reported, kept
    assert cut.user_attrs["score"] == pytest.approx(0.91)  # its run's score, which it is ranked and reported by
    assert Path(calls[1]["cfg"].out).is_dir()  # its run (finished with 2 epochs) is kept
    assert best["trial"] == 0 and "cut_by_budget" not in best
    table = rows(out)
    assert [(r["state"], r["why"]) for r in table] == [("complete", ""), ("pruned", "budget")]
    assert float(table[1]["value"]) == pytest.approx(0.91)
    assert any(line.startswith("trial 2/? #1: val_auc 0.9100 (pruned by the budget after epoch 2)") for line in lines)
    said = next(line for line in lines if line.startswith("budget: "))
    assert "trial #1 cut by it" in said and "no time left for another trial" in said
    assert "trial #1 cut by it" in (out / "report.html").read_text(encoding="utf-8")


def test_a_trial_cut_by_the_budget_is_the_best_only_where_none_completed_and_says_so(
        tiny_npz, tmp_path, monkeypatch, clock):
    train, calls = epoch_train([0.7], {0: 0}, clock)
    monkeypatch.setattr(medtrain.api, "train", train)
    lines = []
    out = tmp_path / "tune"
    best = tune(fast(tiny_npz), SPACE, out, budget_minutes=30, log=lines.append)
    assert [c["epochs"] for c in calls] == [1]
    # ranked and reported by its run's score (0.71: after TTA and the class-weight rule, at the kept checkpoint),
    # not the pruner's last epoch value (0.7)
    assert best["trial"] == 0 and best["cut_by_budget"] is True and best["val"]["val_auc"] == pytest.approx(0.71)
    assert "val_auc 0.7100 on validation" in (out / "best_config.yaml").read_text()
    assert json.loads((out / "best.json").read_text())["cut_by_budget"] is True
    assert any("Trial #0 was cut by the budget after epoch 1 (no trial completed within it)" in line
               for line in lines)
    assert "Trial #0 was cut by the budget" in (out / "best_config.yaml").read_text()
    assert "**0**" in (out / "trials.md").read_text()  # marked best in the table


def test_a_budget_that_fits_one_trial_starts_no_second_that_would_overrun():
    # each trial takes 1.0 s; a 1.8 s budget fits one: Optuna's timeout had started a second at ~1.0 s
    study = optuna.create_study(direction="maximize")
    lines = []

    def objective(trial):
        time.sleep(1.0)
        return trial.suggest_float("x", 0, 1)

    t0 = time.monotonic()
    spent = run_study(study, objective, trials=None, budget_minutes=1.8 / 60, log=lines.append)
    assert len(study.trials) == 1 and time.monotonic() - t0 < 1.8
    assert spent["cut"] == [] and spent["stopped"].startswith("no trial started after trial #0:")
    assert "the longest trial of this run took 0m01s" in next(x for x in lines if x.startswith("budget: "))


def test_the_budget_counts_from_the_callers_start_and_the_first_trial_always_starts():
    # flip pilots (or anything the caller ran) spent the whole budget before the first trial: it still runs, alone
    study = optuna.create_study(direction="maximize")
    spent = run_study(study, lambda t: t.suggest_float("x", 0, 1), trials=None, budget_minutes=0.5,
                      log=lambda line: None, started=time.monotonic() - 31)
    assert len(study.trials) == 1 and spent["used_s"] >= 31 and spent["stopped"] == "no time left for another trial"


def test_trials_alone_run_as_before():
    study = optuna.create_study(direction="maximize")
    lines = []
    assert not run_study(study, lambda t: t.suggest_float("x", 0, 1), trials=3, budget_minutes=None,
                         log=lines.append)
    assert len(study.trials) == 3 and not any(line.startswith("budget") for line in lines)


def test_the_policy_search_keeps_the_same_deadline(tiny_npz, tmp_path, monkeypatch, clock):
    # augment search --method autoaugment runs the same run_study: its first trial (the policy that applies
    # nothing) cut by the deadline is its answer, said in the policy file
    train, calls = epoch_train([0.7], {0: 0}, clock)
    monkeypatch.setattr(medtrain.api, "train", train)
    cfg = config_mod.resolve({"data": str(tiny_npz), "model": "resnet10_28_half", "flip": "false", "tta": "none",
                              "accelerator": "cpu", "logger": "none"})
    out = tmp_path / "aa.yaml"
    policy = autoaugment_search(cfg, tmp_path / "work", out, base_augment=[], budget_epochs=3, budget_minutes=30,
                                log=lambda line: None)
    assert [c["epochs"] for c in calls] == [1]
    assert policy.metadata["search"]["best_cut_by_budget"] is True
    assert policy.metadata["search"]["best_value"] == pytest.approx(0.71)  # its run's score, not the epoch's 0.7
    assert policy.metadata["search"]["results"][0]["value"] == pytest.approx(0.71)
    assert "cut by the budget after epoch 1: no trial completed within it" in out.read_text()


def test_a_search_that_reaches_its_trials_within_the_budget_is_not_said_to_be_stopped_by_it():
    # trials of 1 s with 2.6 s left: the second starts (1.6 s left) and ends with 0.6 s left, less than a trial,
    # but --trials 2 is what ends the search
    study = optuna.create_study(direction="maximize")

    def objective(trial):
        time.sleep(1.0)
        return trial.suggest_float("x", 0, 1)

    spent = run_study(study, objective, trials=2, budget_minutes=0.5, log=lambda line: None,
                      started=time.monotonic() - 27.4)
    assert len(study.trials) == 2 and spent["stopped"] is None and spent["cut"] == []


def test_trials_cut_by_the_budget_are_ranked_by_their_runs_scores():
    # where no trial completed, the best cut trial is the one whose run scores best on validation, not the one the
    # pruner last saw highest (#0's epoch said 0.8, its kept checkpoint after TTA scores 0.62; #1's 0.7 and 0.75)
    from medtrain.tune.pruning import best_trial

    study = optuna.create_study(direction="maximize")
    for epoch_value, score in ((0.8, 0.62), (0.7, 0.75)):
        study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, value=epoch_value,
                                                  intermediate_values={0: epoch_value},
                                                  user_attrs={"pruned": "budget", "score": score}))
    best, cut = best_trial(study)
    assert cut and best.number == 1


def test_a_trial_is_given_the_deadline_explicitly(tiny_npz, tmp_path, monkeypatch, clock):
    # train_trial takes the deadline as an argument (it had read a context variable run_study set): a trial
    # handed a deadline that passes during its epoch 2 stops there, pruned by the budget, with no run_study around
    from medtrain.tune.study import train_trial

    train, calls = epoch_train([0.7], {0: 1}, clock)
    monkeypatch.setattr(medtrain.api, "train", train)
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    cfg = config_mod.resolve(fast(tiny_npz), {"out": str(tmp_path / "000"), "progress": False})
    with pytest.raises(optuna.TrialPruned):
        train_trial(trial, cfg, deadline=time.monotonic() + 60)
    assert [c["epochs"] for c in calls] == [2] and trial.user_attrs["pruned"] == "budget"


def test_trials_are_timed_on_the_deadlines_clock(tiny_npz, tmp_path, monkeypatch, clock):
    # trial #0 completes its 3 epochs in an hour of the deadline's clock (time.monotonic) and 90 minutes were given:
    # 30 minutes are left, less than that trial took, so no second trial starts. Timed by Optuna's datetimes (a
    # second clock, which saw a fraction of a second), a second trial had started
    train, calls = epoch_train([0.6, 0.9], {0: 1}, clock)
    monkeypatch.setattr(medtrain.api, "train", train)
    lines = []
    tune(fast(tiny_npz), SPACE, tmp_path / "tune", budget_minutes=90, log=lines.append)
    assert [c["epochs"] for c in calls] == [3]
    said = next(line for line in lines if line.startswith("budget: "))
    assert "no trial started after trial #0" in said and "the longest trial of this run took 1h00m" in said


@pytest.mark.parametrize("command", ["tune", "augment search"])
def test_the_trials_and_the_studys_stop_see_one_deadline(command, tiny_npz, tmp_path, monkeypatch, clock):
    # the deadline each trial is handed (where its training stops) and the one the study's budget stops starting
    # trials at are one value, from the command's start: each command had derived the trials' own from the same
    # start and minutes as run_study's Budget, two values that had to agree. Trial #1 is cut by it and the study stops
    import medtrain.tune
    import medtrain.tune.study
    from medtrain.tune.pruning import Budget

    handed, stopped_at = [], []
    real_train_trial, real_call = medtrain.tune.study.train_trial, Budget.__call__

    def train_trial(trial, cfg, deadline=None):
        handed.append(deadline)
        return real_train_trial(trial, cfg, deadline=deadline)

    def call(self, study, trial):
        stopped_at.append(self.deadline)
        return real_call(self, study, trial)

    monkeypatch.setattr(medtrain.tune, "train_trial", train_trial)  # tune's objective
    monkeypatch.setattr(medtrain.tune.study, "train_trial", train_trial)  # the policy search's
    monkeypatch.setattr(Budget, "__call__", call)
    train, calls = epoch_train([0.6, 0.9], {1: 1}, clock)
    monkeypatch.setattr(medtrain.api, "train", train)
    started = time.monotonic() - 5  # the command's start, before this call
    if command == "tune":
        tune(fast(tiny_npz), SPACE, tmp_path / "tune", budget_minutes=30, log=lambda line: None, started=started)
    else:
        cfg = config_mod.resolve({k: v for k, v in fast(tiny_npz).items() if k != "epochs"})
        autoaugment_search(cfg, tmp_path / "work", tmp_path / "aa.yaml", base_augment=[], budget_epochs=3,
                           budget_minutes=30, log=lambda line: None, started=started)
    assert [c["epochs"] for c in calls] == [3, 2]  # trial #1 cut at the deadline, then no third trial
    assert len(handed) == 2 and len(stopped_at) == 2
    assert set(handed) == set(stopped_at) == {started + 30 * 60}
