"""The pruning callback of every medtrain trial: Optuna's Lightning callback (the trial's monitored validation
value reported after each epoch, the trial stopped when the study's pruner says so), except at the trial's last
epoch, which is reported but never pruned.

Pruning saves the epochs a poor trial would still train; at the last one nothing is left to save. Optuna's
callback prunes there all the same: a ``MedianPruner(n_warmup_steps=1)`` study of ``--epochs 2`` paid every
trial's full training, pruned the weak ones "after epoch 2", deleted their finished run folders and recorded the
pruner's per-epoch value for them instead of their run's validation score. A trial that reaches its last epoch
(or an epoch after which training stops anyway, e.g. by early stopping) completes and is ranked by its run's
``metrics.json`` score like every other (:func:`medtrain.tune.study.score_of`)."""
from __future__ import annotations

from optuna_integration import PyTorchLightningPruningCallback as _OptunaCallback


class PyTorchLightningPruningCallback(_OptunaCallback):
    """Optuna's ``PyTorchLightningPruningCallback`` (the name kept: it is that callback, one rule added): the
    trial's last epoch reports its value and is not pruned. medtrain's trials train in one process
    (:func:`medtrain.training.distributed.single_process_only`), whose branch of Optuna's callback this is."""

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking and not self.is_ddp_backend and last_epoch(trainer, pl_module):
            value = trainer.callback_metrics.get(self.monitor)
            if value is not None:  # (a missing value: Optuna's callback warns, as on any other epoch)
                self._trial.report(value.item(), step=pl_module.current_epoch)
                return
        super().on_validation_end(trainer, pl_module)


def last_epoch(trainer, pl_module) -> bool:
    """Whether the epoch just validated is the last this training runs: its ``max_epochs``-th, or one after
    which it stops anyway (``trainer.should_stop``: early stopping decided before this callback)."""
    final = trainer.max_epochs is not None and trainer.max_epochs >= 0 \
        and pl_module.current_epoch >= trainer.max_epochs - 1
    return bool(final or trainer.should_stop)
