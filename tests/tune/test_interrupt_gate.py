"""Ctrl-C while Optuna books a trial (created, not yet running its objective) fails that trial as interrupted; it
had stayed RUNNING without a heartbeat, listed as "running" by every later run and never failed (a walk, 3 of 3
tries); and a run that finds such a trial from an older medtrain fails it."""
import os
import signal

import optuna
import pytest
from optuna.trial import TrialState

from medtrain.tune import study as study_mod
from medtrain.tune.study import fail_stale_trials, run_study


class InterruptedWhileBooking(optuna.samplers.RandomSampler):
    """Sends Ctrl-C from inside ``study.ask`` (after the trial is stored, before its objective) of trial ``at``."""

    def __init__(self, at: int):
        super().__init__(seed=0)
        self.at = at

    def before_trial(self, study, trial):
        super().before_trial(study, trial)
        if trial.number == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_while_a_trial_is_created_fails_that_trial_as_interrupted_and_keeps_the_finished(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", direction="maximize",
                                sampler=InterruptedWhileBooking(at=1))
    ran = []

    def objective(trial):
        ran.append(trial.number)
        return trial.suggest_float("x", 0, 1)

    with pytest.raises(KeyboardInterrupt):
        run_study(study, objective, 3, log=lambda line: None)
    states = {t.number: (t.state, t.user_attrs.get("failed")) for t in study.get_trials()}
    assert states == {0: (TrialState.COMPLETE, None), 1: (TrialState.FAIL, "interrupted")} and ran == [0]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler given back


def test_a_trial_left_running_before_it_drew_a_value_is_failed_by_the_next_run(tmp_path, monkeypatch):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", direction="maximize")
    dead = study.ask()  # created, never run: no value drawn, no heartbeat
    alive = study.ask()
    alive.suggest_float("x", 0, 1)  # running elsewhere: its values drawn
    fail_stale_trials(study)  # younger than the grace period: left alone
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING] * 2
    monkeypatch.setattr(study_mod, "GRACE_S", 0)
    fail_stale_trials(study)
    trials = study.get_trials()
    assert trials[dead.number].state == TrialState.FAIL and trials[alive.number].state == TrialState.RUNNING
    assert study_mod.failed_why(trials[dead.number], study) == "interrupted before it began"
    other = study.ask()  # failed some other way before drawing a value: not said to have been interrupted
    study.tell(other.number, state=TrialState.FAIL)
    assert study_mod.failed_why(study.get_trials()[other.number], study) is None
    # the trials table says it (through Optuna's public API: the storage's private setter had written the reason)
    from medtrain.tune.report import trial_rows

    header, rows = trial_rows(study)
    assert rows[dead.number][header.index("why")] == "interrupted before it began"


def test_a_second_ctrl_c_while_one_is_held_acts_at_once(tmp_path):
    """A storage that does not answer must not hold Ctrl-C for ever: the second one is raised where it lands."""
    class Held(Exception):
        pass

    class TwiceWhileBooking(InterruptedWhileBooking):
        def before_trial(self, study, trial):
            super().before_trial(study, trial)  # the first Ctrl-C: held
            if trial.number == self.at:
                os.kill(os.getpid(), signal.SIGINT)
                raise Held("the second Ctrl-C was held too")  # not reached: it is raised in os.kill

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", direction="maximize",
                                sampler=TwiceWhileBooking(at=1))
    with pytest.raises(KeyboardInterrupt):
        run_study(study, lambda trial: trial.suggest_float("x", 0, 1), 3, log=lambda line: None)
    assert [t.state for t in study.get_trials()][0] == TrialState.COMPLETE
