"""Callbacks on top of Lightning's: checkpoints whose restored state follows a moved run folder, early stopping
with a warm-up period, the skip of an optimiser step whose gradients are not finite, the stop of a diverged run, an
exponential moving average of the weights, the annealed-dropout schedule, the experiment log of each epoch, one plain
line per epoch where no bar can be drawn, the per-process share of the batches and their seeded order. (The projected
time of a long run: :mod:`medtrain.training.estimate`; the Lightning logger a run asks for:
:mod:`medtrain.training.loggers`.)"""
from __future__ import annotations

import os
import sys
import time
import warnings

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, WeightAveraging
from torch.optim.swa_utils import get_ema_avg_fn

from medtrain.errors import MedtrainError
from medtrain.models.layers import AnnealedDropout, set_dropout_epoch


class RunCheckpoint(ModelCheckpoint):
    """Lightning's ``ModelCheckpoint`` whose state restored by ``--resume`` follows the run folder when it was moved
    or copied (``cp -a run moved``, ``mv``, another mount of the disk).

    Lightning stores the absolute ``dirpath`` and absolute file paths in ``last.ckpt``; where the stored ``dirpath``
    differs from the current one it drops the best score and the top-k files (warning "The dirpath has changed")
    but keeps ``best_model_path`` pointing into the OLD folder. A moved ``--checkpoint best`` run then took the
    first epoch after the resume as its best whatever its score, read its kept weights from the other folder if
    that still existed, and died with FileNotFoundError if it did not (found in a user walkthrough). Here each
    stored path of a file this callback writes (``<filename>.ckpt``, the only name medtrain gives it; the version
    counter is off) in the stored folder is mapped to the same name in the current folder, and the stored
    ``dirpath`` to the current one, so Lightning restores the whole state. Lightning offers no hook for this
    (its ``load_state_dict`` compares the strings), hence the override.
    """

    @property
    def state_key(self) -> str:
        # Lightning's own class name in the key, so that a last.ckpt written by ModelCheckpoint (an older medtrain)
        # still restores into this one, and one written here into a plain ModelCheckpoint
        own = super().state_key
        return ModelCheckpoint.__qualname__ + own[len(type(self).__qualname__):]

    def load_state_dict(self, state_dict: dict) -> None:
        saved = state_dict.get("dirpath")
        if saved is not None and self.dirpath is not None and saved != self.dirpath:
            names = {f"{self.filename}{self.FILE_EXTENSION}", f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"}

            def here(path):
                if isinstance(path, str) and os.path.dirname(path) == saved and os.path.basename(path) in names:
                    return os.path.join(self.dirpath, os.path.basename(path))
                return path

            state_dict = {**state_dict, "dirpath": self.dirpath,
                          **{k: here(state_dict[k]) for k in ("best_model_path", "kth_best_model_path",
                                                              "last_model_path") if k in state_dict},
                          "best_k_models": {here(k): v for k, v in (state_dict.get("best_k_models") or {}).items()}}
        super().load_state_dict(state_dict)


class WarmupEarlyStopping(EarlyStopping):
    """Lightning's ``EarlyStopping`` that neither counts nor stops during the first ``warmup`` epochs.

    Early in training the validation metric is noisy and a short patience would stop a run before it
    has started to learn; the warm-up keeps patience meaningful.

    It decides at validation's end (``check_on_train_epoch_end=False``; Lightning's default, with validation every
    epoch, decides at the training epoch's end, after it: same metric, same epochs), so the callbacks after it there
    (``fit`` adds the caller's after it) see ``trainer.should_stop`` on the epoch training stops: a tuning trial's
    pruning callback (:func:`medtrain.tune.pruning.last_epoch`) had pruned or budget-cut a trial early stopping ended.
    """

    def __init__(self, *args, warmup: int = 0, **kwargs):
        kwargs.setdefault("check_on_train_epoch_end", False)
        super().__init__(*args, **kwargs)
        self.warmup = warmup

    def _run_early_stopping_check(self, trainer) -> None:
        if trainer.current_epoch < self.warmup:
            return
        super()._run_early_stopping_check(trainer)

    def on_train_start(self, trainer, pl_module) -> None:
        """A resumed run whose stopping had already fired trains no further epoch. Lightning restores this
        callback's state (``stopped_epoch``) from ``last.ckpt`` but not ``trainer.should_stop``, so a run interrupted
        after it stopped early (while writing its outputs) had trained on when resumed: "epoch 4" after an
        uninterrupted run stopped at 3, with another history and, under ``--checkpoint last``, other weights. This
        hook runs after the restore and before the first epoch, which the fit loop then skips."""
        if self.stopped_epoch > 0:
            trainer.should_stop = True


class SkipNonFiniteSteps(pl.Callback):
    """Skip every optimiser step whose gradients hold a NaN or an inf, as PyTorch's ``GradScaler`` does for
    float16 (Lightning gives bfloat16 no scaler, so nothing else does it).

    One such gradient turns every weight it reaches NaN for good (AdamW: a NaN moment never leaves), and the
    run is lost from there (:class:`StopOnDivergence`). Measured on the 2-core CPU: bf16 3D training turned
    weights NaN three times in about a hundred runs, once in a ``layer4`` convolution after two steps, and 30
    reruns of the same steps did not reproduce it; with this callback the six default volume runs of commit
    9aac1f0 skipped 1-5 steps each (14 of ~1,700) and trained on (``docs/results/default_recipe.md``).
    ``at`` lists the skipped steps of this process's training (since its start or resume). Under DDP every
    process holds the same all-reduced gradients and so skips the same steps. The check is one norm over all
    gradients per step (``torch.nn.utils.get_total_norm``): it is also inf where finite gradients are so large
    (|g| ~ 1e19) that their squares overflow float32, the steps AdamW cannot take either (its second moment
    would become inf and freeze those weights for good). A fresh 3D network on 16^3 volumes under bf16 gave
    such gradients on every step of some runs; :func:`medtrain.training.fit.fit` refuses a run none of whose
    steps was taken.
    """

    def __init__(self):
        self.at: list[int] = []  #: the optimiser steps skipped (the Trainer's global step count before each)

    @property
    def skipped(self) -> int:
        return len(self.at)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if not grads or torch.isfinite(torch.nn.utils.get_total_norm(grads)):
            return
        self.at.append(int(trainer.global_step) if trainer is not None else -1)
        for group in optimizer.param_groups:  # a parameter without a gradient is left alone by the step
            for p in group["params"]:
                p.grad = None


class StopOnDivergence(pl.Callback):
    """Stop training in the first epoch that leaves a weight or a buffer (batch-norm statistics) not finite
    (NaN or inf), before its validation, or whose validation loss or scores are not finite.

    A diverged step (measured: AdamW one-cycle at its peak rate under bf16 autocast, AdrenalMNIST3D at 45
    epochs, epoch 17) writes NaN into every weight it touches, so no later epoch can beat the best one before
    it: the run stops and keeps that one; ``epoch`` says where it diverged, ``cause`` how. The weights, not the
    training loss, are checked: a mixed-precision loss scaler, and :class:`SkipNonFiniteSteps`, skip the inf steps
    it causes, and training goes on. One look per epoch at the parameters costs one device sync.

    Weights can also stay finite but grow so large that the forward pass overflows (``--lr 1e8`` in float32: the
    largest weight 2.4e28, every validation logit NaN): the module then logs NaN validation figures and the epoch
    is a divergence too, found after its validation (``on_validation_end``, the figures logged). Its checkpoint
    scores -inf (NaN, to Lightning's ``ModelCheckpoint``), so an earlier finite epoch stays the best one; with none,
    :func:`medtrain.training.fit.fit` refuses the run (:meth:`refusal`) as for NaN weights. Such a run had been
    written with NaN predictions and died in scikit-learn's ``ValueError: Input contains NaN.``, a half-written
    folder left (a user walkthrough). This callback rather than Lightning's ``EarlyStopping(check_finite=True)``:
    that one watches a single monitored metric, exists only with ``--early-stop``, and only stops, where a
    diverged run must record its epoch, keep the best epoch before it, or be refused in one line.
    """

    #: the validation figures :class:`medtrain.training.module.Classifier` logs each epoch (NaN when its outputs are not)
    FIGURES = ("val_loss", "val_auc", "val_acc")

    def __init__(self):
        self.epoch: int | None = None  #: the epoch first found diverged
        self.cause: str | None = None  #: what was not finite in it, as :meth:`refusal` says

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or self.epoch is not None:
            return
        # the buffers too: a huge step can leave every weight finite and batch norm's running variance inf,
        # which makes every later prediction NaN (found with --lr 1e9: 4 steps skipped, then NaN scores)
        tensors = [*pl_module.parameters(), *(b for b in pl_module.buffers() if b.is_floating_point())]
        finite = [torch.isfinite(t).all() for t in tensors]
        bad = bool(finite) and not bool(torch.stack(finite).all())  # one device sync, not one per tensor
        if trainer.world_size > 1:  # every process stops, or none
            bad = trainer.strategy.reduce_boolean_decision(bad, all=False)
        if bad:
            self._stop(trainer, "weights not finite")

    def on_validation_end(self, trainer, pl_module) -> None:
        # the figures of the whole split, gathered (the same on every process): every process decides alike
        if trainer.sanity_checking or self.epoch is not None:
            return
        logged = trainer.callback_metrics
        if any(not torch.isfinite(torch.as_tensor(logged[k])).all() for k in self.FIGURES if k in logged):
            self._stop(trainer, "weights finite, but the network's outputs overflowed to NaN")

    def _stop(self, trainer, cause: str) -> None:
        self.epoch, self.cause = int(trainer.current_epoch), cause
        trainer.should_stop = True

    def refusal(self, float32: bool) -> str:
        """The one line of a run that diverged before any epoch it could keep; ``float32``: it trained in float32,
        where the advice to train in float32 is none (nor where the outputs overflowed: bf16 has float32's range)."""
        advice = "lower --lr"
        if not float32 and self.cause == "weights not finite":
            advice += ", or train in float32 (--precision 32-true)"
        return f"training diverged in epoch {self.epoch + 1} ({self.cause}) before any epoch was validated: {advice}"


class EMA(WeightAveraging):
    """An exponential moving average of the weights (and batch-norm statistics), updated after every
    optimizer step, with Lightning's ``WeightAveraging``: validation, checkpoint selection, the best
    checkpoint and so the saved model all use the averaged weights; ``last.ckpt`` keeps both for ``--resume``.

    ``half_life`` is in epochs, so the average spans the same share of training on a set of 500 images as on
    one of 5,000: the per-step decay is ``0.5 ** (1 / (half_life * steps_per_epoch))``, set once the Trainer
    knows the steps per epoch (per process, after :class:`ShardBatches`). Polyak & Juditsky (1992); the
    form used by e.g. timm's ``ModelEmaV3``.
    """

    def __init__(self, half_life: float, train_batches):
        super().__init__(avg_fn=self._average)  # the decay is known only in setup, so a bound method
        self.half_life, self.train_batches = half_life, train_batches
        self._epochs = None  #: (averaged, current) epoch buffers of the annealed-dropout layers

    @staticmethod
    def per_step_decay(half_life: float, steps_per_epoch: int) -> float:
        """The decay d with d ** (half_life * steps_per_epoch) = 1/2."""
        return 0.5 ** (1.0 / (half_life * max(1, steps_per_epoch)))

    def setup(self, trainer, pl_module, stage: str) -> None:
        self.decay = self.per_step_decay(self.half_life, len(self.train_batches))
        self._ema = get_ema_avg_fn(self.decay)
        super().setup(trainer, pl_module, stage)

    def _average(self, averaged, current, num_averaged):
        return self._ema(averaged, current, num_averaged)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        self._keep_current_epoch(pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        self._keep_current_epoch(pl_module)

    def _keep_current_epoch(self, pl_module) -> None:
        """An annealed-dropout layer's epoch is a count, not a weight: the average holds the current epoch, so the
        saved model samples MC dropout at the rate the run used. (``WeightAveraging`` averages every buffer: the
        saved epoch had lagged the kept one by about the half-life, and ``eval`` sampled at another rate.)"""
        if self._average_model is None:
            return
        if self._epochs is None:  # found once: this runs after every optimizer step
            pairs = zip(self._average_model.module.modules(), pl_module.modules())
            self._epochs = [(a.epoch, c.epoch) for a, c in pairs if isinstance(c, AnnealedDropout)]
        for averaged, current in self._epochs:
            averaged.copy_(current)


class ShardBatches(pl.Callback):
    """Gives each process its share of the training and validation batches once the Trainer knows the
    ranks (``setup`` runs on every process before the optimiser and its schedule are built, so the number
    of steps per epoch the schedule reads is already the per-process one), and tells the training batches
    each epoch (their seeded order: a resumed run draws what an uninterrupted one would)."""

    def __init__(self, train, *loaders):
        self.train, self.loaders = train, (train, *loaders)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.train.set_epoch(trainer.current_epoch)

    def setup(self, trainer, pl_module, stage: str) -> None:
        for loader in self.loaders:
            loader.shard(trainer.global_rank, trainer.world_size)
            if len(loader) == 0:
                raise MedtrainError(f"a split of {len(loader.images)} images cannot be shared by "
                                    f"{trainer.world_size} processes; use fewer devices")


class ResumedElsewhereWarning(UserWarning):
    """A run resumed with another torch thread count than it started with: its later epochs sum in another order."""


class WallTime(pl.Callback):
    """The wall time a run spent before its last ``--resume``, carried in ``last.ckpt``: each checkpoint holds
    the time from the run's first start (``started``, a ``time.perf_counter()`` of this process) to that save,
    plus what an earlier interrupted call had spent, so ``metrics.json``'s ``wall_s`` is the whole run's time
    (the work after the last checkpoint of an interrupted call, lost, is not counted). The first call's command
    line and torch thread count travel with it (``first``): a resumed run's provenance had described only the
    call that finished it. The thread count is the one the training processes train with, read in ``setup``: a
    multi-process run's launcher sets each process's count (Lightning: cores / processes) as ``fit`` starts, after
    this callback is built; read here, a 2-process CPU run had recorded 2 where it trained with 1, and its resume
    had warned of a difference there was not, once per process."""

    def __init__(self, started: float):
        self.started, self.before = started, 0.0
        self.first = {"argv": list(sys.argv), "torch_threads": torch.get_num_threads()}
        self.resumed = False

    def setup(self, trainer, pl_module, stage: str) -> None:
        # before a resume's checkpoint is restored (load_state_dict), which replaces it with the first call's
        if not self.resumed and self.first is not None:
            self.first["torch_threads"] = torch.get_num_threads()

    def state_dict(self) -> dict:
        return {"wall_s": self.before + time.perf_counter() - self.started, "first": self.first}

    def load_state_dict(self, state_dict: dict) -> None:
        self.before = float(state_dict.get("wall_s", 0.0))
        # a checkpoint of an older medtrain carries no first call: unknown (None), not this call's command
        self.first, self.resumed = state_dict.get("first"), True

    def on_train_start(self, trainer, pl_module) -> None:
        threads = (self.first or {}).get("torch_threads")
        if self.resumed and trainer.is_global_zero and threads is not None and threads != torch.get_num_threads():
            warnings.warn(ResumedElsewhereWarning(
                f"resumed with {torch.get_num_threads()} torch thread(s); the run started with {threads}, so its "
                f"remaining epochs sum in another order than an uninterrupted run's (recorded in provenance)"))


class DropoutSchedule(pl.Callback):
    """Sets the epoch of annealed-dropout layers and records their rate in the history."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        rates = set_dropout_epoch(pl_module.model, trainer.current_epoch)
        if rates:
            pl_module.note_epoch(dropout_rate=rates[0])


class HistoryLogger(pl.Callback):
    """Sends each finished epoch's history entry (the numbers ``metrics.json`` keeps: train/val loss, val
    AUC/ACC, lr, epoch time, ...) to the Trainer's loggers, after validation has filled it.

    On ``--resume``, Lightning's CSV logger starts its file afresh: the epochs restored from the checkpoint
    are written to it again first, so the file holds every epoch once. That happens when training starts or,
    for a run resumed with no epoch left to train (stopped while writing its outputs), when fitting ends:
    Lightning then starts no training, and the log had been left empty.
    """

    def __init__(self):
        self.replayed = False

    def on_train_start(self, trainer, pl_module) -> None:
        self._replay(trainer, pl_module)

    def on_fit_end(self, trainer, pl_module) -> None:
        if not self.replayed:
            self._replay(trainer, pl_module)

    def _replay(self, trainer, pl_module) -> None:
        from lightning.pytorch.loggers import CSVLogger

        self.replayed = True
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


class EpochLines(pl.Callback):
    """One plain line per finished epoch on standard error, in place of Lightning's epoch bar where standard error
    is no terminal (``medtrain train ... > log 2>&1``, a batch job): the bar had written ~3 KB of carriage returns
    and cursor moves per epoch into the log, and a log reader saw no progress. ``started`` is the run's
    ``time.perf_counter()`` at its start in this process, from which the elapsed time counts."""

    def __init__(self, started: float):
        self.started = started

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        entry = pl_module.history[-1] if pl_module.history else None
        if entry is None or entry["epoch"] != trainer.current_epoch or not trainer.is_global_zero:
            return
        print(f"epoch {entry['epoch'] + 1}/{trainer.max_epochs}: train loss {entry['train_loss']:.4f}, val loss "
              f"{entry['val_loss']:.4f}, val AUC {entry['val_auc']:.4f}, {time.perf_counter() - self.started:.0f} s "
              f"elapsed", file=sys.stderr, flush=True)


def _numbers(entry: dict) -> dict:
    """The entry's numbers as logged metrics; its ``step`` is the log's own step column, not a metric."""
    return {k: float(v) for k, v in entry.items() if isinstance(v, (int, float)) and k != "step"}

