"""The search's budget stops a training by one rule, owned by tune/pruning.py (DeadlineStop): a trial's first seed
(the pruning callback, after the pruner) and its later seeds (``augment search --seeds K``, trained without the
pruner) stop at the end of the epoch during which the deadline passed, never at their last epoch. trial_runs had a
copy of the pruning callback's deadline branch, two rules to keep alike."""
from __future__ import annotations

from types import SimpleNamespace

import optuna
import pytest
import torch

from medtrain.tune import pruning, trial_runs


def first_seed(deadline):
    trial = optuna.create_study(direction="maximize").ask()
    return pruning.PyTorchLightningPruningCallback(trial, "val_auc", deadline=deadline)


CALLBACKS = {"first seed": first_seed, "later seed": lambda deadline: trial_runs.DeadlineStop(deadline)}


def epoch_end(callback, epoch: int, epochs: int = 3):
    trainer = SimpleNamespace(sanity_checking=False, callback_metrics={"val_auc": torch.tensor(0.7)},
                              max_epochs=epochs, should_stop=False)
    callback.on_validation_end(trainer, SimpleNamespace(current_epoch=epoch))
    return trainer.should_stop


@pytest.mark.parametrize("seed", CALLBACKS)
def test_both_seeds_stop_at_the_deadline_but_never_at_their_last_epoch(seed):
    past, ahead = -1e9, float("inf")
    cb = CALLBACKS[seed](past)
    assert epoch_end(cb, 0) and cb.cut_after == 0  # stopped after epoch 1
    cb = CALLBACKS[seed](past)
    assert not epoch_end(cb, 2) and cb.cut_after is None  # its last epoch: it finishes as it would
    for deadline in (ahead, None):
        cb = CALLBACKS[seed](deadline)
        assert not epoch_end(cb, 0) and cb.cut_after is None


def test_the_rule_has_one_owner(monkeypatch):
    assert trial_runs.DeadlineStop is pruning.DeadlineStop
    seen = []
    monkeypatch.setattr(pruning.DeadlineStop, "on_validation_end", lambda self, trainer, module: seen.append(self))
    cb = first_seed(-1e9)
    epoch_end(cb, 0)
    assert len(seen) == 1 and seen[0].deadline == -1e9  # the pruning callback stops by that rule, not a copy
