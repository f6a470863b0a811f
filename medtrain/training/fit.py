"""Fit a model to a dataset with the Lightning Trainer: checkpoint selection, early stopping, resume."""
from __future__ import annotations

import signal
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar

from medtrain.augment import build_batch_augment, fuse
from medtrain.config import Config
from medtrain.data.base import Splits
from medtrain.tasks import MULTILABEL
from medtrain.models import create_model
from medtrain.training.callbacks import WarmupEarlyStopping
from medtrain.training.loader import TensorBatches
from medtrain.training.module import Classifier

MODES = {"val_auc": "max", "val_acc": "max", "val_loss": "min"}


@dataclass
class FitResult:
    module: Classifier
    history: list
    best_epoch: int
    stop_epoch: int
    stopped_early: bool
    train_images_per_s: float
    interrupted: bool = False


def channel_stats(images: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 images on [0, 1], computed in chunks (bounded memory)."""
    c = images.shape[1]
    s = torch.zeros(c, dtype=torch.float64)
    s2 = torch.zeros(c, dtype=torch.float64)
    n = 0
    for i in range(0, len(images), chunk):
        x = images[i:i + chunk].double().div_(255).transpose(0, 1).reshape(c, -1)
        s += x.sum(1)
        s2 += (x * x).sum(1)
        n += x.shape[1]
    mean = s / n
    std = (s2 / n - mean * mean).clamp_min(1e-12).sqrt()
    return mean.float(), std.float().clamp_min(1e-3)


def class_weights(splits: Splits) -> torch.Tensor:
    """Weights of a class-balanced loss.

    Single-label tasks: inverse class frequency N / (K n_c), so a balanced dataset gets weight 1 for every
    class. Multi-label tasks: each label's positive weight (negatives / positives), the ``pos_weight`` of
    ``BCEWithLogitsLoss``, which balances positives against negatives label by label.
    """
    y = splits.train.labels
    k = splits.num_classes
    if splits.task == MULTILABEL:
        pos = y.sum(0)
        return ((len(y) - pos) / pos.clamp_min(1)).float()
    counts = torch.bincount(y, minlength=k).float()
    return (len(y) / (k * counts.clamp_min(1))).float()


def uses_custom_head(cfg: Config) -> bool:
    """A head from ``medtrain.models.heads`` replaces the model's classifier for anything beyond plain
    dropout, and for MC dropout (which needs a dropout *module* it can switch on at test time)."""
    return cfg.dropout_kind != "dropout" or cfg.head != "linear" or cfg.mc_dropout > 0


def build_model(cfg: Config, splits: Splits, transfer: bool = True) -> torch.nn.Module:
    """The run's model: ``cfg.model`` with its head, inflated to 3D (I3D) when the data are volumes.

    A 2D architecture on volumes becomes its 3D twin, every k x k convolution a k x k x k one, which is
    how the MedMNIST v2 paper builds its "ResNet-18+3D" baseline.
    """
    custom = uses_custom_head(cfg)
    # input_size lets zoo families adapt their stem to small images (see medtrain.models.zoo)
    model = create_model(cfg.model, in_chans=splits.in_chans, num_classes=splits.num_classes,
                         dropout=0.0 if custom else cfg.dropout, drop_path=cfg.drop_path, batch_norm=cfg.batch_norm,
                         input_size=int(splits.spatial_shape[-1]))
    if custom:
        from medtrain.models.heads import build_head, feature_width, replace_head

        maxout_k = int(cfg.head.split(":")[1]) if cfg.head.startswith("maxout:") else 2
        head = build_head(feature_width(model), splits.num_classes, dropout_kind=cfg.dropout_kind, p=cfg.dropout,
                          head="maxout" if cfg.head.startswith("maxout") else "linear", maxout_k=maxout_k,
                          anneal_epochs=cfg.anneal_epochs or cfg.epochs)
        model = replace_head(model, head)
    if len(splits.spatial_shape) == 3 and not any(isinstance(m, torch.nn.Conv3d) for m in model.modules()):
        from medtrain.models.inflate import inflate_model

        model = inflate_model(model)
    if transfer and (cfg.transfer != "scratch" or cfg.pretrained):
        # Transfer learning (medtrain.transfer): copy/freeze/re-draw from the source model A; the plan
        # goes into metrics.json and the optimiser reads the model's per-parameter lr multipliers.
        from medtrain.transfer import apply_transfer

        model.transfer_plan = apply_transfer(model, cfg)
        print(f"medtrain: {model.transfer_plan.summary()}", flush=True)
    return model


def normalisation(cfg: Config, splits: Splits):
    """Per-channel mean/std of the training images in the input space, and the colour-space module."""
    if cfg.color_space.lower() == "rgb":
        mean, std = channel_stats(splits.train.images)
        return mean, std, None
    from medtrain.color import ColorSpace, fit_channel_stats
    from medtrain.errors import MedtrainError

    if splits.in_chans != 3 or len(splits.spatial_shape) != 2:
        raise MedtrainError(f"color_space {cfg.color_space} needs RGB images; {splits.name} has "
                            f"{splits.in_chans} channel(s)")
    stats = fit_channel_stats(splits.train.images, cfg.color_space)
    return torch.tensor(stats.mean), torch.tensor(stats.safe_std), ColorSpace(cfg.color_space)


def augment_params(cfg: Config, splits: Splits) -> dict:
    """Settings the augmentation ops read: the config, its ``augment_params``, dataset statistics."""
    params = {**cfg.to_dict(), **cfg.augment_params}
    if "pca" in cfg.augment:
        from medtrain.augment.intensity import fit_pca_lighting

        params["pca_eig"] = fit_pca_lighting(splits.train.images)
    return params


class DropoutSchedule(pl.Callback):
    """Sets the epoch of annealed-dropout layers and records their rate in the history."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        from medtrain.models.layers import set_dropout_epoch

        rates = set_dropout_epoch(pl_module.model, trainer.current_epoch)
        if rates:
            pl_module.extra_epoch_log = {"dropout_rate": rates[0]}


def fit(cfg: Config, splits: Splits, run_dir: Path, resume: bool = False, callbacks: list | None = None) -> FitResult:
    """Train ``cfg.model`` on ``splits`` and restore the weights of the best validation epoch.

    ``callbacks`` are extra Lightning callbacks (after medtrain's checkpointing and early stopping).
    """
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    model = build_model(cfg, splits)
    if splits.train.images.ndim == 4:
        model = model.to(memory_format=torch.channels_last)
    mean, std, input_transform = normalisation(cfg, splits)
    bs = min(cfg.batch_size, len(splits.train))
    train_loader = TensorBatches(splits.train.images, splits.train.labels, bs, shuffle=True, seed=cfg.seed,
                                 drop_last=len(splits.train) > bs)
    val_loader = TensorBatches(splits.val.images, splits.val.labels, max(bs, 256), shuffle=False)
    hp = cfg.to_dict()
    augment = build_batch_augment(cfg.augment, augment_params(cfg, splits))
    if augment is not None:  # one fused pass where the op list allows it (float32 batches here)
        augment = fuse(augment)
    module = Classifier(model, splits.task, splits.num_classes, mean, std, hp, augment=augment,
                        class_weights=class_weights(splits) if cfg.class_weights else None,
                        steps_per_epoch=len(train_loader), input_transform=input_transform)
    module.train_loader = train_loader

    ckpt_dir = run_dir / "checkpoints"
    mode = MODES[cfg.monitor]
    ckpt = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=cfg.monitor, mode=mode, save_top_k=1,
                           save_last=True, enable_version_counter=False)
    extra = list(callbacks or [])
    if cfg.dropout_kind == "annealed":
        extra.insert(0, DropoutSchedule())
    from medtrain.transfer import transfer_callbacks  # gradual unfreezing (finetune-top:K --unfreeze-every N)

    extra[:0] = transfer_callbacks(model)
    callbacks = [ckpt]
    stopper = None
    if cfg.early_stop:
        stopper = WarmupEarlyStopping(monitor=cfg.early_stop, mode=MODES[cfg.early_stop], patience=cfg.patience,
                                      min_delta=cfg.min_delta, warmup=cfg.early_stop_warmup)
        callbacks.append(stopper)
    if cfg.progress:
        callbacks.append(TQDMProgressBar(refresh_rate=10))
    callbacks += extra
    trainer = pl.Trainer(
        max_epochs=cfg.epochs, accelerator=cfg.accelerator, devices=cfg.devices, num_nodes=cfg.num_nodes,
        precision=cfg.precision, logger=False, callbacks=callbacks, enable_progress_bar=cfg.progress,
        enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=str(run_dir),
        log_every_n_steps=10,
    )
    last = ckpt_dir / "last.ckpt"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*Your `IterableDataset` has `__len__` defined.*")
        warnings.filterwarnings("ignore", ".*is an invalid type.*")
        sigint = signal.getsignal(signal.SIGINT)
        try:
            trainer.fit(module, train_loader, val_loader, ckpt_path=str(last) if resume and last.exists() else None)
        except SystemExit:  # Lightning turns Ctrl-C into a graceful shutdown and exit(1)
            interrupted = True
        else:
            interrupted = trainer.interrupted
        finally:
            signal.signal(signal.SIGINT, sigint)  # Lightning leaves Ctrl-C ignored after an interrupt
    history = module.history
    if interrupted:
        return FitResult(module, history, -1, history[-1]["epoch"] if history else -1, False, 0.0, interrupted=True)
    best_path = ckpt.best_model_path
    best = torch.load(best_path, map_location="cpu", weights_only=True)
    module.load_state_dict(best["state_dict"])
    best_epoch = int(best["epoch"])
    stop_epoch = history[-1]["epoch"] if history else best_epoch
    ips = module._train_images / module._train_time if module._train_time else 0.0
    return FitResult(module, history, best_epoch, stop_epoch, bool(stopper and stopper.stopped_epoch > 0), ips)
