"""Callbacks on top of Lightning's: early stopping with a warm-up period."""
from __future__ import annotations

from lightning.pytorch.callbacks import EarlyStopping


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
