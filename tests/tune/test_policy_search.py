"""`medtrain augment search --method autoaugment`: studies sharing a work folder never score a policy with
another policy's run (a user walkthrough)."""
from __future__ import annotations

from pathlib import Path

import pytest

import medtrain.api
from medtrain import config as config_mod
from medtrain.errors import MedtrainError
from medtrain.policy_search import autoaugment_search

from test_studies import finished_run_train  # a finished run left without training


def quiet(line: str) -> None:
    pass


@pytest.fixture
def search(tiny_npz, tmp_path, monkeypatch):
    """``search(sub_policies, **kw)``: a one-trial search in ``tmp_path/work``; returns the trained configs."""
    calls = []
    monkeypatch.setattr(medtrain.api, "train", finished_run_train(calls))
    cfg = config_mod.resolve({"data": str(tiny_npz), "model": "resnet10_28_half", "batch_size": 32,
                              "accelerator": "cpu", "tta": "none", "logger": "none"})

    def run(sub_policies: int, **kw):
        autoaugment_search(cfg, tmp_path / "work", tmp_path / f"policy{len(calls)}.yaml", base_augment=[],
                           budget_epochs=1, trials=1, sub_policies=sub_policies, log=quiet, **kw)
        return calls

    return run


def test_a_second_study_in_the_work_folder_trains_its_own_trials(search, tmp_path):
    """Trial folders were WORK/trials/NNN for every study: a second --study-name overwrote the first's policy
    files and reused its finished runs, scoring a new policy with an old run's score."""
    work = tmp_path / "work"
    search(1)
    first, table = (work / "trials" / "000.yaml").read_text(), (work / "trials.md").read_text()
    calls = search(2, study_name="wider")
    assert (work / "trials.md").read_text() == table  # its trials table too (the second study's had replaced it)
    assert (work / "trials-wider" / "trials.md").is_file()
    assert [c.out for c in calls] == [str(work / "trials" / "000"), str(work / "trials-wider" / "000")]
    assert (work / "trials" / "000.yaml").read_text() == first  # the first study's record, untouched
    assert calls[1].augment == (str(work / "trials-wider" / "000.yaml"),)


def test_a_finished_runs_policy_file_is_never_overwritten_with_another_policy(search, tmp_path):
    """The same study name in another storage drew another policy for trial 0: it was written over the
    finished run's file and that run's score reused."""
    work = tmp_path / "work"
    search(1)
    first = (work / "trials" / "000.yaml").read_text()
    with pytest.raises(MedtrainError, match=r"trials/000 holds a run of another policy"):
        search(2, storage=f"sqlite:///{tmp_path / 'other.db'}")
    assert (work / "trials" / "000.yaml").read_text() == first


def test_a_study_name_that_cannot_name_a_folder_is_refused_before_anything_is_written(search, tmp_path):
    with pytest.raises(MedtrainError, match="--study-name must be letters"):
        search(1, study_name="a/b")
    assert not (tmp_path / "work").exists()


def _one_trial_search(tiny_npz, work, policy):
    """A one-trial AutoAugment search of one sub-policy over ``tiny_npz`` in ``work``, as a function to rerun."""
    cfg = config_mod.resolve({"data": str(tiny_npz), "model": "resnet10_28_half", "batch_size": 32,
                              "accelerator": "cpu", "tta": "none", "logger": "none"})
    return lambda: autoaugment_search(cfg, work, policy, base_augment=[], budget_epochs=1, trials=1, sub_policies=1,
                                      log=quiet)


def test_a_search_whose_first_trial_was_stopped_still_scores_the_policy_that_applies_nothing(
        tiny_npz, tmp_path, monkeypatch):
    """Ctrl-C in trial 0 (the policy that applies nothing) failed it, and the rerun enqueued that policy only
    in an empty study: the search never scored it, so it could no longer answer "no policy"; the stopped
    trial's policy file TRIALS/000.yaml was left behind (a user walkthrough)."""
    import optuna

    from medtrain.tune.study import default_storage

    calls = []
    finish = finished_run_train(calls)

    def train(cfg, **kw):
        if not calls:  # the first trial: stopped by Ctrl-C during its training
            calls.append(cfg)
            raise KeyboardInterrupt
        return finish(cfg, **kw)

    monkeypatch.setattr(medtrain.api, "train", train)
    work = tmp_path / "work"
    search = _one_trial_search(tiny_npz, work, tmp_path / "policy.yaml")

    with pytest.raises(KeyboardInterrupt):
        search()
    assert not (work / "trials" / "000.yaml").exists() and not (work / "trials" / "000").exists()
    search()
    study = optuna.load_study(study_name="autoaugment", storage=default_storage(work))
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE"]
    assert study.trials[1].params["sp0_p0"] == 0.0 and study.trials[1].params["sp0_p1"] == 0.0  # no policy, scored
    assert sorted(p.name for p in (work / "trials").iterdir()) == ["001", "001.yaml"]


def test_a_killed_first_trial_is_failed_cleaned_and_its_no_policy_trial_run_again(tiny_npz, tmp_path, monkeypatch):
    """The process killed (SIGKILL) in trial 0: the rerun fails that trial once its heartbeat stopped, removes
    its run folder and policy file, and scores the policy that applies nothing after all."""
    import time

    import optuna

    from medtrain.tune import study as study_mod
    from medtrain.tune.study import default_storage

    calls = []
    finish = finished_run_train(calls)

    def train(cfg, **kw):
        if not calls:  # the first trial's process dies mid-training: nothing of Python's cleanup runs
            calls.append(cfg)
            Path(cfg.out).mkdir(parents=True)
            raise SystemExit  # not caught by Optuna either: the trial stays RUNNING, its heartbeat stops
        return finish(cfg, **kw)

    monkeypatch.setattr(medtrain.api, "train", train)
    work = tmp_path / "work"
    search = _one_trial_search(tiny_npz, work, tmp_path / "policy.yaml")

    with pytest.raises(SystemExit):
        search()
    assert sorted(p.name for p in (work / "trials").iterdir()) == ["000", "000.yaml"]  # as a killed one leaves
    monkeypatch.setattr(study_mod, "GRACE_S", 1, raising=False)  # instead of waiting study_mod.GRACE_S
    time.sleep(2.1)  # the database's clock counts whole seconds: its last heartbeat is now over 1 s old
    search()
    study = optuna.load_study(study_name="autoaugment", storage=default_storage(work))
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE"]
    assert study.trials[1].params["sp0_p0"] == 0.0 and study.trials[1].params["sp0_p1"] == 0.0
    assert sorted(p.name for p in (work / "trials").iterdir()) == ["001", "001.yaml"]
