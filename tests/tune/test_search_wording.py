"""What a search says, in words a user reads right: ``learning_rate`` in a space is offered ``lr`` (difflib had
offered "erasing_p, operating_point"), counts of one are singular ("1 finished trials are kept", "1 epochs per
trial"), and a worker of a shared study that sees more finished trials than --trials does not print "trial 5/4"."""
from __future__ import annotations

import optuna
import pytest

import medtrain.api
from medtrain.augment.policies import load_policy
from medtrain.cli import main
from medtrain.errors import MedtrainError, TrainingInterrupted
from medtrain.tune import tune
from medtrain.tune.space import parse_space
from medtrain.tune.study import run_study

SPACE = {"lr": {"low": 1e-3, "high": 3e-2, "log": True}}


def test_learning_rate_is_offered_lr():
    with pytest.raises(MedtrainError, match=r"setting 'learning_rate'; did you mean lr\?"):
        parse_space({"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}}, {})
    with pytest.raises(MedtrainError, match=r"did you mean weight_decay\?"):
        parse_space({"wd": [0.0, 1e-4]}, {})


def fake_train(fail_at=None, error=KeyboardInterrupt):
    """``medtrain.api.train`` without training: each call scores 0.5 + calls / 100; call ``fail_at`` raises
    ``error`` (Ctrl-C by default). tests/tune/test_interrupted_trial_said.py uses it too."""
    calls = []

    def train(cfg, resume=None, verbose=True, callbacks=None, evaluate_test=True, idle_settings=False):
        calls.append(cfg)
        if len(calls) == fail_at:
            raise error
        return {"best_epoch": 0, "history": [], "val": {"auc": 0.5 + len(calls) / 100}, "test": {}}

    return train


def fast(data) -> dict:
    return {"data": str(data), "model": "resnet10_28_half", "epochs": 1, "flip": "false", "tta": "none",
            "accelerator": "cpu", "logger": "none"}


def test_one_finished_trial_is_kept_in_the_singular(tiny_npz, tmp_path, monkeypatch):
    monkeypatch.setattr(medtrain.api, "train", fake_train(fail_at=2))
    lines = []
    with pytest.raises(TrainingInterrupted, match=r"^tune interrupted; 1 finished trial is kept in "):
        tune(fast(tiny_npz), SPACE, tmp_path / "t", trials=3, log=lines.append)
    assert "(0 finished trials so far)" in lines[0]


def test_a_policy_of_one_sub_policy_and_one_epoch_says_so(tiny_npz, tmp_path, monkeypatch):
    monkeypatch.setattr(medtrain.api, "train", fake_train())
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {tiny_npz}\nmodel: resnet10_28_half\nflip: false\n")
    out = tmp_path / "aa.yaml"
    assert main(["augment", "search", "--config", str(cfg), "--method", "autoaugment", "--budget-epochs", "1",
                 "--trials", "1", "--sub-policies", "1", "--out", str(out)]) == 0
    assert "1 trial (TPE), 1 sub-policy of 2 ops, 1 epoch per trial" in out.read_text()
    assert load_policy(out).metadata["search"]["finished_trials"] == 1


def test_a_worker_that_sees_more_finished_trials_than_asked_says_so():
    study = optuna.create_study(direction="maximize")
    lines = []

    def objective(trial):  # another worker of the shared study finishes a trial meanwhile
        x = trial.suggest_float("x", 0, 1)
        study.add_trial(optuna.trial.create_trial(params={"x": 0.5}, value=0.5,
                                                  distributions={"x": optuna.distributions.FloatDistribution(0, 1)}))
        return x

    run_study(study, objective, trials=1, budget_minutes=None, log=lines.append)
    line = next(x for x in lines if x.startswith("trial "))
    assert line.startswith("trial 2 (1 asked; workers sharing the study finish a few more) #0:")
