"""The LightningModule: loss, augmentation on the device, validation metrics, history.

Images arrive as uint8 batches and are converted, augmented and normalised on the training device, so
the CPU-side loader only indexes tensors. Every random draw of an epoch (shuffle, augmentation,
dropout) comes from generators seeded by (seed, epoch): a run resumed from its last checkpoint continues
exactly as the uninterrupted run would have.
"""
from __future__ import annotations

import time

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medtrain import metrics
from medtrain.augment.mixing import soft_targets
from medtrain.models.ensemble import Ensemble
from medtrain.tasks import MULTILABEL
from medtrain.training.distributed import unshard
from medtrain.training.network import Network
from medtrain.training.optim import build_optimizer, build_scheduler


class Classifier(Network, pl.LightningModule):
    """A :class:`~medtrain.training.network.Network` (any ``nn.Module`` classifier with its input conversion) for the
    Lightning Trainer.

    Args:
        model, task, num_classes, mean, std, hparams, augment, input_transform: the :class:`Network`'s.
        class_weights: per-class loss weights ``(K,)`` or None.
        lr_mult, deferred: a transfer plan's per-parameter lr multipliers and later-unfrozen parameters.

    Under several processes (DDP) validation is sharded: each process scores its share and
    ``on_validation_epoch_end`` gathers the logits of the whole split, in split order, before computing the
    metrics, so every process selects checkpoints and stops on the same figures, those of one process
    scoring the complete split (an AUROC averaged over shards would not be the split's AUROC).
    """

    def __init__(self, model: nn.Module, task: str, num_classes: int, mean: Tensor, std: Tensor, hparams: dict,
                 augment: nn.Module | None = None, class_weights: Tensor | None = None,
                 input_transform: nn.Module | None = None, lr_mult: dict | None = None,
                 deferred: frozenset = frozenset()):
        super().__init__(model, task, num_classes, mean, std, hparams, augment, input_transform)
        self.register_buffer("class_weights", class_weights.float() if class_weights is not None else None,
                             persistent=False)
        self.lr_mult, self.deferred = lr_mult, deferred
        self._epoch_notes: dict = {}  # what callbacks add to the history entries, through note_epoch
        self.history: list[dict] = []
        self._val_logits: list[Tensor] = []
        self._val_labels: list[Tensor] = []
        self._train_loss_sum = 0.0
        self._train_count = 0
        self._step_lr: float | None = None
        self._epoch_start = 0.0
        self._train_images = 0
        self._train_time = 0.0

    # --- loss
    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        # the validation loss is computed on logits gathered on the CPU, while the buffer is on the device
        w = self.class_weights.to(logits.device) if self.class_weights is not None else None
        ls = float(self.cfg.get("label_smoothing", 0.0))
        if self.task == MULTILABEL:  # class weights are per-label positive weights here
            # each label is its own two-class problem, smoothed towards 1/2 (it had been ignored silently)
            return F.binary_cross_entropy_with_logits(logits, target * (1 - ls) + ls / 2, pos_weight=w)
        if ls:
            target = target * (1 - ls) + ls / self.num_classes
        logp = F.log_softmax(logits, dim=-1)
        per_sample = -(target * logp)
        if w is not None:
            per_sample = per_sample * w
            # normalised like F.cross_entropy(weight=...): by the total weight of the targets
            return per_sample.sum() / (target * w).sum().clamp_min(1e-12)
        return per_sample.sum(-1).mean()

    # --- what callbacks add to the epoch's history entry, and the training throughput
    def note_epoch(self, **values) -> None:
        """Adds ``values`` to the history entry of this and later epochs (a later note of a name replaces it).

        The channel for callbacks that set something per epoch (training.callbacks.DropoutSchedule: the
        ``dropout_rate``; training.transfer_callbacks.GradualUnfreezing: the ``trainable_stages``), called from their
        ``on_train_epoch_start``.
        """
        self._epoch_notes.update(values)

    @property
    def train_images_per_s(self) -> float:
        """Training images per second of training-loop time over the run's epochs (those before a resume
        too, kept in the checkpoints), validation excluded; 0.0 before any epoch."""
        return self._train_images / self._train_time if self._train_time else 0.0

    # --- training
    def on_train_epoch_start(self) -> None:
        epoch = self.current_epoch
        # augmentation and dropout draws: seeded by (seed, epoch), and by rank so processes draw differently
        torch.manual_seed(int(self.cfg.get("seed", 0)) * 1_000_003 + epoch + 1_000_000_007 * self.global_rank)
        self._train_loss_sum, self._train_count = 0.0, 0
        self._epoch_start = time.perf_counter()

    def training_step(self, batch, batch_idx):
        x, y = batch
        x, target = self.inputs(x, soft_targets(y, self.task, self.num_classes))
        if isinstance(self.model, Ensemble):  # each member on its own loss: its gradients as if trained alone
            losses = [self.loss(z, target) for z in self.model.member_logits(x)]
            loss = sum(losses)
            shown = loss.detach() / len(losses)  # the logged loss: the members' mean
        else:
            loss = shown = self.loss(self.model(x), target)
        self._train_loss_sum = self._train_loss_sum + shown.detach() * len(x)  # no per-step device sync
        self._step_lr = self.trainer.optimizers[0].param_groups[0]["lr"]  # the rate this step uses
        self._train_count += len(x)
        self.log("train_loss_step", shown, on_step=True, on_epoch=False, prog_bar=True, batch_size=len(x))
        return loss

    # --- validation
    def on_validation_epoch_start(self) -> None:
        self._val_logits, self._val_labels = [], []
        if self._train_count:
            self._train_time += time.perf_counter() - self._epoch_start

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self._val_logits.append(logits.detach().float().cpu())
        self._val_labels.append(y.cpu())

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking or (not self._val_logits and self.trainer.world_size == 1):
            return
        logits, labels = self._gather(torch.cat(self._val_logits), torch.cat(self._val_labels))
        if not len(logits):
            return
        if not torch.isfinite(logits).all():  # a diverged network (training.callbacks.StopOnDivergence stops it):
            nan = float("nan")  # nothing to score, no checkpoint, no history entry
            self.log_dict({"val_loss": nan, "val_auc": nan, "val_acc": nan}, prog_bar=True, logger=False)
            self._train_count = 0
            return
        val_loss = float(self.loss(logits, soft_targets(labels, self.task, self.num_classes)))
        scores = metrics.scores_from_logits(logits, self.task).numpy()
        y = labels.numpy()
        val_auc, val_acc = metrics.auc(y, scores, self.task), metrics.acc(y, scores, self.task)
        if np.isnan(val_auc):
            val_auc = 0.0
        # for checkpointing, early stopping and the progress bar; the experiment log gets the epoch's
        # history entry instead (training.callbacks.HistoryLogger), the same numbers as metrics.json
        self.log_dict({"val_loss": val_loss, "val_auc": val_auc, "val_acc": val_acc}, prog_bar=True, logger=False)
        if self._train_count:  # a real training epoch (not a stand-alone validate call)
            loss_sum, count = self._train_totals()
            self._train_images += count
            entry = {"epoch": int(self.current_epoch), "train_loss": loss_sum / count,
                     "val_loss": val_loss, "val_auc": float(val_auc), "val_acc": float(val_acc),
                     # the rate of the epoch's last step (a step-wise schedule has moved on once more since)
                     "lr": float(self._step_lr if self._step_lr is not None
                                 else self.trainer.optimizers[0].param_groups[0]["lr"]),
                     "epoch_s": time.perf_counter() - self._epoch_start,
                     # the optimiser steps so far: the experiment log's step when a resumed run logs it again
                     "step": int(self.trainer.global_step)}
            entry.update(self._epoch_notes)
            self.history = [h for h in self.history if h["epoch"] < entry["epoch"]] + [entry]
            self._train_count = 0

    def _gather(self, logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """The whole split's logits and labels from every process's share (unchanged for one process)."""
        world = self.trainer.world_size
        if world == 1:
            return logits, labels
        counts = [int(c) for c in self.all_gather(torch.tensor([len(logits)], device=self.device)).flatten()]
        m = max(counts)

        def padded(t: Tensor) -> Tensor:  # all_gather needs equal shapes; the padding is dropped again
            return torch.cat([t, t.new_zeros((m - len(t), *t.shape[1:]))]).to(self.device)

        return (unshard(self.all_gather(padded(logits)).cpu(), counts),
                unshard(self.all_gather(padded(labels)).cpu(), counts))

    def _train_totals(self) -> tuple[float, int]:
        """The epoch's summed training loss and image count over every process."""
        totals = torch.stack([torch.as_tensor(self._train_loss_sum, dtype=torch.float64).cpu(),
                              torch.tensor(float(self._train_count), dtype=torch.float64)])
        if self.trainer.world_size > 1:
            totals = self.trainer.strategy.reduce(totals.to(self.device), reduce_op="sum").cpu()
        return float(totals[0]), int(totals[1])

    # --- optimisation
    def configure_optimizers(self):
        c = self.cfg
        opt = build_optimizer(self.model, c["optimizer"], c["lr"], c["weight_decay"], c["momentum"],
                              c["decay_norm_and_bias"], self.lr_mult, self.deferred)
        # optimizer steps of the whole run as the Trainer counts them: per process, so with W processes
        # sharing each epoch the step-wise schedules still complete their cycle
        steps_per_epoch = max(1, self.trainer.estimated_stepping_batches // max(1, self.trainer.max_epochs))
        sched = build_scheduler(opt, c["schedule"], c["epochs"], steps_per_epoch, c["lr"], tuple(c["milestones"]))
        return opt if sched is None else {"optimizer": opt, "lr_scheduler": sched}

    # --- checkpoint state beyond weights: the history and throughput counters
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["medtrain_history"] = self.history
        checkpoint["medtrain_throughput"] = [self._train_images, self._train_time]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.history = list(checkpoint.get("medtrain_history", []))
        self._train_images, self._train_time = checkpoint.get("medtrain_throughput", [0, 0.0])
