"""Callbacks on top of Lightning's: early stopping with a warm-up period, the annealed-dropout schedule, the
experiment log of each epoch, the per-process share of the batches; and the Lightning logger a run asks for."""
from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping

from medtrain.errors import MedtrainError
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


class ShardBatches(pl.Callback):
    """Gives each process its share of the training and validation batches once the Trainer knows the
    ranks (``setup`` runs on every process before the optimiser and its schedule are built, so the number
    of steps per epoch the schedule reads is already the per-process one)."""

    def __init__(self, *loaders):
        self.loaders = loaders

    def setup(self, trainer, pl_module, stage: str) -> None:
        for loader in self.loaders:
            loader.shard(trainer.global_rank, trainer.world_size)
            if len(loader) == 0:
                raise MedtrainError(f"a split of {len(loader.images)} images cannot be shared by "
                                    f"{trainer.world_size} processes; use fewer devices")


class DropoutSchedule(pl.Callback):
    """Sets the epoch of annealed-dropout layers and records their rate in the history."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        rates = set_dropout_epoch(pl_module.model, trainer.current_epoch)
        if rates:
            pl_module.extra_epoch_log = {**pl_module.extra_epoch_log, "dropout_rate": rates[0]}


class HistoryLogger(pl.Callback):
    """Sends each finished epoch's history entry (the numbers ``metrics.json`` keeps: train/val loss, val
    AUC/ACC, lr, epoch time, ...) to the Trainer's loggers, after validation has filled it.

    On ``--resume``, Lightning's CSV logger starts its file afresh: the epochs restored from the checkpoint
    are written to it again first, so the file holds every epoch once.
    """

    def on_train_start(self, trainer, pl_module) -> None:
        from lightning.pytorch.loggers import CSVLogger

        for logger in trainer.loggers:
            if isinstance(logger, CSVLogger):
                for entry in pl_module.history:
                    if entry["epoch"] < trainer.current_epoch:
                        logger.log_metrics(_numbers(entry), step=int(entry.get("step", 0)))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        entry = pl_module.history[-1] if pl_module.history else None
        if entry is None or entry["epoch"] != trainer.current_epoch:
            return
        for logger in trainer.loggers:
            logger.log_metrics(_numbers(entry), step=trainer.global_step)


def _numbers(entry: dict) -> dict:
    return {k: float(v) for k, v in entry.items() if isinstance(v, (int, float))}


def build_logger(kind: str, run_dir: Path, hparams: dict):
    """Lightning's logger for ``--logger`` (``csv``, ``tensorboard``, ``mlflow``; ``none`` gives False), writing
    under ``run_dir/logs``, with the run's settings recorded as hyperparameters."""
    from lightning.pytorch import loggers

    save_dir = Path(run_dir) / "logs"
    if kind == "none":
        return False
    if kind == "csv":
        logger = loggers.CSVLogger(save_dir=str(run_dir), name="logs", version="csv")
    elif kind == "tensorboard":
        logger = loggers.TensorBoardLogger(save_dir=str(run_dir), name="logs", version="tensorboard",
                                           default_hp_metric=False)
    else:
        logger = loggers.MLFlowLogger(experiment_name="medtrain", run_name=Path(run_dir).name,
                                      tracking_uri=(save_dir / "mlruns").resolve().as_uri())
    logger.log_hyperparams(hparams)
    return logger
