"""The search space of `medtrain tune`: train's own keys, every reachable value one train accepts."""
from __future__ import annotations

import optuna
import pytest

from medtrain.errors import MedtrainError
from medtrain.tune.space import BUILTIN, load_space, parse_space

BASE = {"dataset": "breastmnist"}


def test_ranges_and_lists_become_optuna_distributions_of_the_settings_type():
    params = {p.key: p for p in parse_space({"lr": {"low": 1e-4, "high": 1e-2, "log": True},
                                             "epochs": {"low": 2, "high": 8, "step": 2},
                                             "augment": ["none", "flip,shift"]}, BASE)}
    trial = optuna.create_study().ask()
    lr, epochs, augment = (params[k].suggest(trial) for k in ("lr", "epochs", "augment"))
    assert 1e-4 <= lr <= 1e-2 and isinstance(lr, float)
    assert epochs in (2, 4, 6, 8) and isinstance(epochs, int)
    assert augment in ("none", "flip,shift")
    assert trial.distributions["lr"].log and trial.distributions["epochs"].step == 2


def test_the_builtin_space_is_valid_for_the_default_settings():
    assert {p.key for p in parse_space(None, BASE)} == set(BUILTIN)


@pytest.mark.parametrize("space, message", [
    ({"learning_rate": {"low": 0.1, "high": 1}}, r"unknown search space: setting 'learning_rate'"),
    ({"lr": {"low": 0.01, "high": 0.001}}, r"lr: empty range"),
    ({"dropout": {"low": 0.2, "high": 0.2}}, r"dropout: empty range"),
    ({"dropout": []}, r"dropout: the list of values is empty"),
    ({"dropout": {"low": 0.0, "high": 1.0}}, r"dropout: value 1.0 is refused by train"),
    ({"optimizer": ["sgd", "adamm"]}, r"optimizer: value 'adamm' is refused by train"),
    ({"lr": {"low": 0.0, "high": 0.1, "log": True}}, r"lr: a log range needs low > 0"),
    ({"epochs": {"low": 1.5, "high": 4}}, r"epochs: epochs is an integer setting"),
    ({"model": {"low": 1, "high": 2}}, r"model: a range needs a number setting"),
    ({"lr": 0.01}, r"lr: give a range"),
    ({"out": ["a", "b"]}, r"out: out is set by the search itself"),
    # trials scored on other metrics: val_loss was maximised as if it were an AUC (a user walkthrough)
    ({"monitor": ["val_loss"]}, r"monitor: the metric the search ranks trials by is --monitor"),
    # names train refuses only when it builds a trial: a good first draw trained a whole trial first
    ({"model": ["resnet18_28", "nosuchnet"]}, r"model: value 'nosuchnet' is refused by train \(unknown model"),
    ({"augment": ["flip", "flip,bogusaug"]}, r"augment: value 'flip,bogusaug' is refused by train \(unknown augmentation"),
    ({}, r"at least one setting"),
    # trials on other data or another split were ranked across different validation sets (a user walkthrough)
    ({"dataset": ["breastmnist", "pneumoniamnist"]}, r"^search space dataset: not searched: it changes the data"),
    ({"size": [28, 64]}, r"^search space size: not searched: it changes the data"),
    ({"image_size": [28, 64]}, r"^search space image_size: not searched: it changes the data"),  # had been accepted
    ({"val_fraction": {"low": 0.1, "high": 0.3}}, r"^search space val_fraction: not searched: it changes"),
    ({"folds": [0, 5]}, r"^search space folds: not searched: it changes the data"),
    ({"seed": [0, 1]}, r"^search space seed: not searched: it draws the train/val/test split"),
    # accepted, then failed mid-search on a machine without a GPU
    ({"accelerator": ["cpu", "gpu"]}, r"^search space accelerator: not searched: it changes where a trial runs"),
    ({"devices": [1, 2]}, r"^search space devices: not searched"),
])
def test_a_space_train_cannot_run_is_refused_naming_the_key(space, message):
    with pytest.raises(MedtrainError, match=message):
        parse_space(space, BASE)


def test_numbers_written_as_in_papers_are_numbers_in_a_space_file(tmp_path):
    # PyYAML alone (YAML 1.1) reads 1e-4 as the string "1e-4": the space would be refused as "not a number"
    (tmp_path / "space.yaml").write_text("lr: {low: 1e-4, high: 3E-2, log: true}\nweight_decay: [0, 5e-4, 1.e-3]\n")
    params = {p.key: p for p in parse_space(load_space(tmp_path / "space.yaml"), BASE)}
    trial = optuna.create_study().ask()
    lr = params["lr"].suggest(trial)
    assert trial.distributions["lr"].low == 1e-4 and trial.distributions["lr"].high == 0.03
    assert isinstance(lr, float) and 1e-4 <= lr <= 0.03
    assert params["weight_decay"].suggest(trial) in (0, 5e-4, 1e-3)
    assert trial.distributions["weight_decay"].choices == (0, 0.0005, 0.001)
