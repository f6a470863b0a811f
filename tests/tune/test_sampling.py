"""How a study's trials are drawn: several workers sharing one study (``--storage``) draw different parameters,
and one worker with one seed draws the same ones each time (a user walkthrough: workers opening a study at the
same moment drew identical parameters, so N workers explored one worker's settings and trained each twice)."""
from __future__ import annotations

import warnings

import optuna

import medtrain.api
from medtrain import config as config_mod
from medtrain.policy_search import autoaugment_search
from medtrain.tune.space import parse_space
from medtrain.tune.study import connect, default_storage, open_study, repeat_of

from test_studies import finished_run_train  # a finished run left without training

PARAMS = parse_space(None, {})  # the built-in space of `medtrain tune`
SETTINGS = {"command": "tune", "monitor": "val_auc", "space": {p.key: p.to_dict() for p in PARAMS}, "base": {}}
ROUNDS = 6  # 12 trials: past TPE's 10 random start-up trials, into its modelled draws


def score(values: dict) -> float:
    """A cheap stand-in for training: higher for a lower lr and dropout."""
    return -values["lr"] - values["dropout"]


def draw(study):
    """Ask ``study`` for a trial and draw the space's parameters in it, as tune's objective does."""
    with warnings.catch_warnings():  # Optuna warns that a heartbeat storage is meant for Study.optimize
        warnings.simplefilter("ignore", UserWarning)
        trial = study.ask()
    return trial, {p.key: p.suggest(trial) for p in PARAMS}


def test_workers_sharing_a_study_draw_different_parameters(tmp_path):
    """Two workers open one study before either has a trial, then train at the same time (each asks for its
    trial while the other's still runs): no trial repeats another's parameters."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    workers = [open_study(connect(url), "tune", "val_auc", 0, SETTINGS) for _ in range(2)]
    for _ in range(ROUNDS):
        running = [(study, *draw(study)) for study in workers]  # both trials run at once
        for study, trial, values in running:
            assert repeat_of(study, trial) is None
            study.tell(trial, score(values))
    trials = workers[0].get_trials()
    assert len(trials) == 2 * ROUNDS
    drawn = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(drawn)) == len(drawn)


def run(storage, seed: int) -> list[dict]:
    """One worker's trials in ``storage`` (in memory: a database's commits would make the test slow)."""
    study = open_study(storage, "tune", "val_auc", seed, SETTINGS)
    for _ in range(2 * ROUNDS):
        trial, values = draw(study)
        study.tell(trial, score(values))
    return [t.params for t in study.get_trials()]


def test_one_worker_with_the_same_seed_draws_the_same_trials():
    first = run(optuna.storages.InMemoryStorage(), seed=3)
    assert run(optuna.storages.InMemoryStorage(), seed=3) == first
    assert run(optuna.storages.InMemoryStorage(), seed=4) != first


def test_a_continued_study_does_not_redraw_its_first_trials():
    """A rerun of the same command (same seed) continues the study with new points, not its first ones again."""
    storage = optuna.storages.InMemoryStorage()
    first = run(storage, seed=0)
    both = run(storage, seed=0)
    assert both[:len(first)] == first
    assert not any(p in first for p in both[len(first):])


def test_a_policy_search_trial_drawing_a_finished_policy_again_takes_its_score_without_training(
        tiny_npz, tmp_path, monkeypatch):
    """`augment search --method autoaugment` trained an exact repeat of a finished trial's policy again (its
    objective did not check, as tune's does): the repeat takes that trial's score and run, and writes nothing."""
    calls = []
    monkeypatch.setattr(medtrain.api, "train", finished_run_train(calls))
    cfg = config_mod.resolve({"data": str(tiny_npz), "model": "resnet10_28_half", "batch_size": 32,
                              "accelerator": "cpu", "tta": "none", "logger": "none"})
    work = tmp_path / "work"

    def search(trials: int):
        autoaugment_search(cfg, work, tmp_path / "policy.yaml", base_augment=[], budget_epochs=1, trials=trials,
                           sub_policies=1, log=lambda line: None)

    search(1)
    study = optuna.load_study(study_name="autoaugment", storage=default_storage(work))
    study.enqueue_trial(study.trials[0].params)  # the next trial draws trial 0's policy again
    search(2)
    trials = optuna.load_study(study_name="autoaugment", storage=default_storage(work)).trials
    assert len(calls) == 1 and [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert trials[1].params == trials[0].params and trials[1].value == trials[0].value
    assert trials[1].user_attrs["repeat_of"] == 0
    assert trials[1].user_attrs["run_dir"] == trials[0].user_attrs["run_dir"]
    assert sorted(p.name for p in (work / "trials").iterdir()) == ["000", "000.yaml"]
