"""Callbacks on top of Lightning's: early stopping with a warm-up period, the annealed-dropout schedule."""
from __future__ import annotations

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping

from medtrain.models.layers import set_dropout_epoch


class WarmupEarlyStopping(EarlyStopping):
    """Lightning's ``EarlyStopping`` that neither counts nor stops during the first ``warmup`` epochs.

    Early in training the validation metric is noisy and a short patience would stop a run before it
    has started to learn; the warm-up keeps patience meaningful.
    """

    def __init__(self, *args, warmup: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.warmup = warmup

    def _run_early_stopping_check(self, trainer) -> None:
        if trainer.current_epoch < self.warmup:
            return
        super()._run_early_stopping_check(trainer)


class DropoutSchedule(pl.Callback):
    """Sets the epoch of annealed-dropout layers and records their rate in the history."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        rates = set_dropout_epoch(pl_module.model, trainer.current_epoch)
        if rates:
            pl_module.extra_epoch_log = {**pl_module.extra_epoch_log, "dropout_rate": rates[0]}
