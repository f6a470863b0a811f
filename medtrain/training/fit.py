"""Fit a model to a dataset with the Lightning Trainer: checkpoint selection, early stopping, resume."""
from __future__ import annotations

import dataclasses
import functools
import re
import signal
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import TQDMProgressBar

from medtrain.augment import build_batch_augment, fuse, twin_hint
from medtrain.config import Config
from medtrain.config.settings import AUGMENT_SETTINGS
from medtrain.data import Splits, at_their_size
from medtrain.data.medmnist import SIZES, SIZES_3D
from medtrain.errors import MedtrainError, TrainingDiverged
from medtrain.metrics import auc, scores_from_logits
from medtrain.models.ensemble import Ensemble
from medtrain.rundir import CHECKPOINT_DIR, LAST_CHECKPOINT
from medtrain.training.build import augment_params, build_model, class_weights, normalisation, trainer_precision
from medtrain.training.callbacks import (EMA, DropoutSchedule, EpochLines, HistoryLogger, RunCheckpoint,
                                         ShardBatches, SkipNonFiniteSteps, StopOnDivergence, WallTime,
                                         WarmupEarlyStopping)
from medtrain.training.loggers import build_logger, lightning_messages
from medtrain._progress import on_terminal
from medtrain.training.checkpoint_io import AtomicCheckpointIO
from medtrain.training.distributed import launch_rank
from medtrain.evaluation.batches import eval_batch, eval_batches
from medtrain.training.loader import TensorBatches
from medtrain.training.module import Classifier, soft_targets
from medtrain.training.process_memory import ProcessPeaks
from medtrain.training.precision import (FLOAT32, Bf16Unstable, PrecisionFallback, PrecisionWatch, fallback_line,
                                         float32_config, recorded_fallback, warn_skipped)
from medtrain.training.transfer import TransferPlan
from medtrain.training.transfer_callbacks import transfer_callbacks

MODES = {"val_auc": "max", "val_acc": "max", "val_loss": "min"}


@dataclass
class FitResult:
    """What a training procedure (the Lightning loop, or the linear probe) hands to the run writer.

    ``module`` holds the selected weights; ``weights_meta`` is added to the weights file's metadata,
    ``metrics`` to ``metrics.json`` (e.g. the probe's C grid), ``summary`` is printed before the test line.
    """

    module: Classifier
    history: list
    best_epoch: int
    stop_epoch: int
    stopped_early: bool
    train_images_per_s: float
    interrupted: bool = False
    global_zero: bool = True  #: False in the other processes of a multi-process run: they write nothing
    transfer: TransferPlan | None = None
    checkpoint: str = "best"  #: the rule that chose ``best_epoch``: best, or last (``cfg.checkpoint``, unless diverged)
    weights_meta: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    summary: str = ""
    cfg: Config | None = None  #: the settings trained with, where :func:`fit` changed them (a precision fallback)


def members_val_auc(module: Classifier, splits: Splits) -> dict:
    """The validation AUC of the ensemble and of each member on its own (no TTA, no decision shift):
    ``{"ensemble": a, "members": [a1, a2, ...]}``, what the ensemble is measured against."""
    module.eval()
    with torch.no_grad():
        parts = [module.model.member_logits(module.inputs(x)[0]) for x in eval_batches(splits.val.images)]
    logits = [torch.cat(z).float() for z in zip(*parts)]
    y = splits.val.labels.numpy()
    y = y if y.ndim > 1 and y.shape[1] > 1 else y.reshape(-1)

    def val_auc(z: torch.Tensor) -> float:
        return round(float(auc(y, scores_from_logits(z, splits.task).numpy(), splits.task)), 6)

    return {"ensemble": val_auc(torch.stack(logits).mean(0)), "members": [val_auc(z) for z in logits]}


def build_augment(cfg: Config, splits: Splits):
    """The run's augmentation (None for none), from ``--augment`` and ``--augment-params`` (whether each setting
    is read was checked before the run wrote anything, :func:`check_augment`)."""
    return build_batch_augment(cfg.augment, augment_params(cfg, splits))


def changed_settings(cfg: Config) -> list[str]:
    """The settings of :data:`AUGMENT_SETTINGS` that ``cfg`` changes from their defaults."""
    defaults = Config()
    return [k for k in AUGMENT_SETTINGS if getattr(cfg, k) != getattr(defaults, k)]


def check_augment(cfg: Config, splits: Splits, new: bool = True) -> None:
    """Build the augmentation and apply it to two training images, so that a setting of the wrong kind
    (``cutout_p=abc``) or an op that does not fit the images (``hed`` on grey images, a 3D op on images) is
    refused before the run writes anything; it had failed in the first epoch with the run folder written.
    A setting of ``augment_params``, or of :data:`AUGMENT_SETTINGS` changed from its default, that no chosen op
    reads is refused too, for a ``new`` run (a resumed one was checked when it started; a grid checks its
    cells together, :func:`medtrain.compare.compare`)."""
    augment = build_batch_augment(cfg.augment, augment_params(cfg, splits), given=cfg.augment_params if new else (),
                                  settings=changed_settings(cfg) if new else ())
    if augment is not None and len(splits.train):
        x, y = splits.train.images[:2], splits.train.labels[:2]
        with torch.random.fork_rng():
            try:
                augment(x.float() / 255.0, soft_targets(y, splits.task, splits.num_classes))
            except MedtrainError as e:  # a 2D op on volumes (or a 3D one on images): its twin named, where it has one
                raise MedtrainError(f"{e}{twin_hint(cfg.augment, x.ndim - 2)}") from None



def check_checkpoint(path: Path) -> None:
    """Refuse a checkpoint ``--resume`` cannot read (a disk that filled up, a copy cut short), in one line:
    Lightning's own error is a traceback from deep inside the loading (found in a user walkthrough)."""
    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001  (zip, pickle and EOF errors alike)
        raise MedtrainError(f"{path} is damaged ({type(e).__name__}); the run cannot resume from it: train it "
                            f"again with another --out (or remove {path.parent.parent})") from None


def saved_epoch(last: Path) -> int:
    """The epoch (0-based) ``last.ckpt`` holds, -1 without one: an interrupt between an epoch's validation and
    its checkpoint had been said as "interrupted after" that epoch, which the resumed run then trained again."""
    try:
        return int(torch.load(last, map_location="cpu", weights_only=True, mmap=True)["epoch"])
    except Exception:  # noqa: BLE001  (none yet, or cut short by the interrupt itself)
        return -1


def device_used(trainer) -> str:
    """What trained, in words, for ``metrics.json`` and the summary (Lightning's own "GPU available: ...,
    used: ..." lines are dropped): ``"cpu"``, or the accelerator's device name and count (``"2 x NVIDIA H100"``)."""
    kind = type(trainer.accelerator).__name__.removesuffix("Accelerator").lower()  # CPU, CUDA, MPS, XLA
    if kind == "cpu":
        return "cpu"
    name = torch.cuda.get_device_name(trainer.strategy.root_device) if kind == "cuda" else kind
    return f"{trainer.num_devices} x {name}" if trainer.num_devices > 1 else name


def cluster_plugins() -> list:
    """The Trainer's cluster environment inside a SLURM job: Lightning's own, with its auto-requeue off.

    Lightning's default ``SLURMEnvironment`` handles SLURM's warning signal (``sbatch --signal``, SIGUSR1) by
    saving a checkpoint of its own mid-epoch (``RUN/hpc_ckpt_1.ckpt``, 34 MB for a ResNet-18, never removed and
    never read by ``--resume``) and calling ``scontrol requeue``; medtrain keeps its own ``last.ckpt`` every
    epoch and continues with ``--resume`` (found in a batch-scheduler walkthrough). Everything else the
    environment reads from SLURM (ranks, world size, the main address) is as Lightning would detect it;
    torchrun inside SLURM keeps Lightning's priority (its own environment)."""
    from lightning.pytorch.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    if TorchElasticEnvironment.detect() or not SLURMEnvironment.detect():
        return []
    return [SLURMEnvironment(auto_requeue=False)]


def out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` is an allocation that failed: torch's on a GPU (``torch.OutOfMemoryError``), the CPU
    allocator's RuntimeError ("DefaultCPUAllocator: can't allocate memory: you tried to allocate N bytes"), or
    Python's MemoryError."""
    text = str(e).lower()
    return isinstance(e, (torch.OutOfMemoryError, MemoryError)) or (
        isinstance(e, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text))


def smaller_images(cfg: Config, shape: tuple, target: int | None = None) -> tuple[str, int] | None:
    """How this run's images (or volumes) of ``shape`` could be smaller, as the data's kind allows, and the side it
    gives: ``('smaller images (--image-size 48)', 48)`` for a folder or CSV, MedMNIST's next ``--size`` below, a
    .npz's (or arrays') resized before saving, ``--volume-size`` for DICOM/NIfTI volumes. ``target`` (default: half
    the side, at least 28, the networks' own size) is the side aimed at; None where no size below the current side
    is one (16-px images). The one source of the size advice of the cost note, the out-of-memory error and the run's
    projected time (--image-size had been offered for a .npz and MedMNIST, where train refuses it, and 28 for
    16-px images)."""
    side, volume = max(shape), len(shape) == 3
    n = max(28, side // 2) if target is None else target
    what, kind = at_their_size(cfg), "volumes" if volume else "images"
    if what is not None and not cfg.data:  # MedMNIST: its other sizes
        below = [s for s in (SIZES_3D if volume else SIZES) if s < side]
        n = max([s for s in below if s <= n], default=min(below, default=side))
        how = f"--size {n}"
    elif what is not None:
        how = f"the arrays resized to {n} {'voxels a side' if volume else 'px'} before saving"
    else:
        how = f"--{'volume' if volume else 'image'}-size {n}"
    return (f"smaller {kind} ({how})", n) if n < side else None


def memory_error(e: BaseException, cfg: Config, splits: Splits, batch: int) -> MedtrainError:
    """The one line of an allocation that failed in training (a 173-line traceback had ended a 512-px run at its
    first batch): the image size, the batch size and the ways on."""
    shape = tuple(splits.spatial_shape)
    size = f"{splits.in_chans}x{'x'.join(map(str, shape))} {'volumes' if len(shape) == 3 else 'images'}"
    asked = re.search(r"allocate (\d+) bytes|allocate ([\d.]+ [KMGT]i?B)", str(e))
    asked = f" (it asked for {int(asked[1]) / 2 ** 30:.2f} GiB more)" if asked and asked[1] else \
        f" (it asked for {asked[2]} more)" if asked else ""
    where = "GPU memory" if isinstance(e, torch.OutOfMemoryError) or "cuda" in str(e).lower() else "memory"
    smaller = smaller_images(cfg, shape)
    ways = [f"a smaller --batch-size (e.g. {max(1, batch // 4)})", *([smaller[0]] if smaller else [])]
    return MedtrainError(f"out of {where} training {size} in batches of {batch}{asked}: train with "
                         f"{', '.join(ways)} or a smaller --model")


#: the temporary names :func:`medtrain._io.atomic_path` writes a checkpoint under (``.best.ckpt.<random>.tmp``)
PARTIAL_CHECKPOINTS = ".*.ckpt.*.tmp"


def remove_partial_checkpoints(ckpt_dir: Path) -> None:
    """Remove the temporary files of checkpoint saves that never finished: a process killed while saving
    (SIGKILL, the out-of-memory killer, a power cut) cannot remove its own, and each (one checkpoint's size,
    34 MB for a ResNet-18) had stayed in ``checkpoints/`` for good, through any later ``--resume``. Called with
    the run's lock held (:func:`medtrain.rundir.training_lock`, taken by :func:`medtrain.api.train` around
    :func:`fit`), so no other process is saving into the folder; only the writing process calls it."""
    if launch_rank() != 0 or not ckpt_dir.is_dir():
        return
    for leftover in ckpt_dir.glob(PARTIAL_CHECKPOINTS):
        if leftover.is_file() and not leftover.is_symlink():
            leftover.unlink(missing_ok=True)


def fit(cfg: Config, splits: Splits, run_dir: Path, resume: bool = False, callbacks: list | None = None,
        started: float | None = None, verbose: bool = True, fallen: dict | None = None, members_auto: bool = False,
        pilot: bool = False) -> FitResult:
    """Train ``cfg.model`` on ``splits`` and restore the weights of the best validation epoch.

    ``callbacks`` are extra Lightning callbacks (after medtrain's checkpointing and early stopping); ``started``
    is the run's ``time.perf_counter()`` at its start (default: now), from which its checkpoints count its wall time.
    ``verbose`` False: none of Lightning's messages below WARNING (:func:`~medtrain.training.loggers.lightning_messages`); the progress follows
    ``cfg.progress``.

    ``precision: auto``'s fallback (:mod:`medtrain.training.precision`): a first epoch whose bf16 steps were mostly
    skipped trains again from scratch in float32 (``result.cfg``: the settings then trained, ``members_auto``
    following the float32 rule); ``fallen`` a fallback already made (by a flip pilot), ``pilot`` a flip pilot's
    training (its skipped steps not warned of). A resumed run keeps the precision its checkpoint records.
    """
    last = run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT
    record = fallen or (recorded_fallback(last) if resume and last.exists() else None)
    precision = FLOAT32 if record else trainer_precision(cfg)
    run = functools.partial(_fit_at, splits=splits, run_dir=run_dir, callbacks=callbacks, started=started,
                            verbose=verbose, pilot=pilot)
    cfg = float32_config(cfg, len(splits.spatial_shape), members_auto and not resume, run_dir) if record else cfg
    try:
        return dataclasses.replace(run(cfg, resume=resume, precision=precision, record=record,
                                       watch=cfg.precision == "auto" and precision == "bf16-mixed"), cfg=cfg)
    except Bf16Unstable as e:
        record = e.record
    warnings.warn(PrecisionFallback(fallback_line(record)), stacklevel=2)
    cfg = float32_config(cfg, len(splits.spatial_shape), members_auto, run_dir)
    return dataclasses.replace(run(cfg, resume=False, precision=FLOAT32, record=record, watch=False), cfg=cfg)


def _fit_at(cfg: Config, splits: Splits, run_dir: Path, resume: bool, callbacks: list | None, started: float | None,
            verbose: bool, precision: str, record: dict | None, watch: bool, pilot: bool) -> FitResult:
    """:func:`fit` in ``precision``; ``watch``, ``record``: :class:`PrecisionWatch`'s."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    # a resumed run takes every weight from its checkpoint: its source is read only where it still is (None),
    # else the checkpoint's record of the transfer stands in; a fresh run needs its source at once (False)
    resuming = bool(resume) and (run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT).exists()
    model, plan = build_model(cfg, splits, resume=None if resuming else False)
    last = {4: torch.channels_last, 5: torch.channels_last_3d}.get(splits.train.images.ndim)
    if last is not None:  # 2D 1.25x, 3D 1.18x the step rate in float32 (bench/precision.py)
        model = model.to(memory_format=last)
    mean, std, input_transform = normalisation(cfg, splits)
    bs = min(cfg.batch_size, len(splits.train))
    train_loader = TensorBatches(splits.train.images, splits.train.labels, bs, shuffle=True, seed=cfg.seed,
                                 drop_last=len(splits.train) > bs)
    val_loader = TensorBatches(splits.val.images, splits.val.labels, eval_batch(bs, splits.val.images), shuffle=False)
    hp = cfg.to_dict()
    augment = build_augment(cfg, splits)
    if augment is not None:  # one fused pass where the op list allows it (float32 batches here)
        augment = fuse(augment)
    module = Classifier(model, splits.task, splits.num_classes, mean, std, hp, augment=augment,
                        class_weights=class_weights(splits) if cfg.class_weights != "false" else None,
                        input_transform=input_transform,
                        lr_mult=plan.param_lr_mult if plan else None,
                        deferred=plan.deferred if plan else frozenset())

    ckpt_dir = run_dir / CHECKPOINT_DIR
    remove_partial_checkpoints(ckpt_dir)
    # RunCheckpoint: Lightning's ModelCheckpoint whose restored state follows a moved or copied run folder
    ckpt = RunCheckpoint(dirpath=ckpt_dir, filename="best", monitor=cfg.monitor, mode=MODES[cfg.monitor], save_top_k=1,
                         enable_version_counter=False)
    # last.ckpt after every epoch, for --resume: a checkpoint of its own, because save_last=True on the
    # monitored one writes it only in the epochs that improve the monitor (Lightning >= 2.6)
    last_ckpt = RunCheckpoint(dirpath=ckpt_dir, filename=Path(LAST_CHECKPOINT).stem, monitor=None, save_top_k=1,
                              enable_version_counter=False)
    extra = list(callbacks or [])
    if cfg.dropout_kind == "annealed":
        extra.insert(0, DropoutSchedule())
    extra[:0] = transfer_callbacks(plan)  # gradual unfreezing (finetune-top:K --unfreeze-every N)
    divergence, skip, peaks = StopOnDivergence(), SkipNonFiniteSteps(), ProcessPeaks()  # peaks: every process's
    wall = WallTime(time.perf_counter() if started is None else started)
    callbacks = [ckpt, last_ckpt, ShardBatches(train_loader, val_loader), skip,
                 PrecisionWatch(skip, precision, watch, record, pilot), divergence, wall, peaks]
    if cfg.ema:  # after ShardBatches: its decay reads the per-process steps per epoch
        callbacks.append(EMA(cfg.ema, train_loader))
    stopper = None
    if cfg.early_stop:
        stopper = WarmupEarlyStopping(monitor=cfg.early_stop, mode=MODES[cfg.early_stop], patience=cfg.patience,
                                      min_delta=cfg.min_delta, warmup=cfg.early_stop_warmup)
        callbacks.append(stopper)
    # the epoch bar on a terminal only; elsewhere (a log file, a batch job) one plain line per epoch
    bar = cfg.progress and on_terminal()
    if bar:
        callbacks.append(TQDMProgressBar(refresh_rate=10))
    elif cfg.progress:
        callbacks.append(EpochLines(wall.started))
    callbacks += extra
    logger = build_logger(cfg.logger, run_dir, hp, resume=resuming)
    if logger:
        callbacks.append(HistoryLogger())
    with lightning_messages(quiet=not verbose):  # the Trainer logs its litlogger tip as it is built
        trainer = pl.Trainer(
            max_epochs=cfg.epochs, accelerator=cfg.accelerator, devices=cfg.devices, num_nodes=cfg.num_nodes,
            strategy=cfg.strategy, precision=precision, logger=logger, callbacks=callbacks,
            enable_progress_bar=bar, enable_model_summary=False, num_sanity_val_steps=0,
            default_root_dir=str(run_dir), log_every_n_steps=10,
            use_distributed_sampler=False,  # the loaders shard themselves (ShardBatches; Lightning rewraps DataLoaders)
            # checkpoints written beside their name and renamed (not via $TMPDIR, truncating the old one first)
            plugins=[AtomicCheckpointIO(), *cluster_plugins()],
        )
    last = ckpt_dir / LAST_CHECKPOINT
    if resume and last.exists():
        check_checkpoint(last)
    with lightning_messages(quiet=not verbose), warnings.catch_warnings():  # (and the litmodels tip, if fit logs it)
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*Your `IterableDataset` has `__len__` defined.*")
        warnings.filterwarnings("ignore", ".*is an invalid type.*")
        # on --resume, of the folder holding last.ckpt: only the two checkpoint files medtrain names are written there
        warnings.filterwarnings("ignore", "Checkpoint directory .* exists and is not empty")
        # a frozen stage's batch norm is in eval mode on purpose (models/stages.py set_frozen)
        warnings.filterwarnings("ignore", r".*module\(s\) in eval mode at the start of training.*")
        warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")
        # the validation figures are computed on the gathered split, the same on every process
        warnings.filterwarnings("ignore", ".*when logging on epoch level in distributed setting.*")
        warnings.filterwarnings("ignore", ".*torch.distributed.nn.functional.all_gather is deprecated.*")  # Lightning's
        # Lightning's pytree helper builds torch's deprecated LeafSpec once per fit: nothing a user can change
        warnings.filterwarnings("ignore", r".*isinstance\(treespec, LeafSpec\)` is deprecated.*", FutureWarning)
        sigint = signal.getsignal(signal.SIGINT)
        try:
            trainer.fit(module, train_loader, val_loader, ckpt_path=str(last) if resume and last.exists() else None)
        except SystemExit:  # Lightning turns Ctrl-C into a graceful shutdown and exit(1)
            interrupted = True
        except (RuntimeError, MemoryError) as e:
            if not out_of_memory(e):
                raise
            raise memory_error(e, cfg, splits, bs) from None
        else:
            interrupted = trainer.interrupted
        finally:
            signal.signal(signal.SIGINT, sigint)  # Lightning leaves Ctrl-C ignored after an interrupt
    history = module.history
    if not trainer.is_global_zero:  # the run directory and the final evaluation are the first process's
        return FitResult(module, history, -1, -1, False, 0.0, interrupted=interrupted, transfer=plan,
                         global_zero=False)
    if interrupted:  # "after epoch N": the last epoch --resume continues from, not the last one validated
        return FitResult(module, history, -1, saved_epoch(last), False, 0.0, interrupted=True, transfer=plan)
    # the weights the run keeps: the final epoch's (checkpoint: last) unless training diverged, where the
    # last weights are not finite and the best epoch before the divergence is kept
    rule = "last" if cfg.checkpoint == "last" and divergence.epoch is None else "best"
    # the best file of THIS folder, by name: a path restored from last.ckpt can name the folder the run was
    # moved or copied from, whose weights are not this run's (RunCheckpoint maps it too)
    kept = last if rule == "last" else ckpt_dir / Path(ckpt.best_model_path).name
    state = torch.load(kept, map_location="cpu", weights_only=True)
    best_epoch = int(state["epoch"])
    if divergence.epoch is not None and best_epoch >= divergence.epoch:
        raise TrainingDiverged(divergence.refusal(float32=precision == FLOAT32))
    module.load_state_dict(state["state_dict"])
    stop_epoch = history[-1]["epoch"] if history else best_epoch
    ips = module.train_images_per_s
    extra = {"precision": precision, "device": device_used(trainer), **peaks.metrics()}  # (processes: several)
    if wall.before:  # a resumed run: metrics.json's wall_s adds the time of the calls before
        extra["wall_s_before_resume"] = wall.before
    if wall.resumed:  # provenance records the call that started the run beside the one that finished it
        extra["first_call"] = wall.first
    elif resume and last.exists():  # resumed from a checkpoint of an older medtrain that recorded neither
        extra["wall_s_before_resume"], extra["first_call"] = None, None  # unknown, said as such
    if divergence.epoch is not None:  # stopped there; the best epoch before it is the run's model
        extra["diverged_epoch"], extra["diverged_cause"] = divergence.epoch, divergence.cause
    if skip.skipped and skip.skipped >= trainer.global_step:  # nothing was trained: its test numbers mean nothing
        raise TrainingDiverged(f"none of the {trainer.global_step} optimiser steps could be taken: the gradients "
                               f"were not finite or beyond float32's range ({precision}); train in float32 with "
                               f"--precision 32-true")
    if skip.skipped:
        extra["skipped_steps"], extra["skipped_at_steps"] = skip.skipped, skip.at
        extra["optimizer_steps"] = int(trainer.global_step)  # taken and skipped (a skipped step still counts)
        if not pilot:
            warn_skipped(skip.skipped, int(trainer.global_step), precision)
    if record:  # the precision used (above) and why: auto's bf16 skipped most steps of a first epoch
        extra["precision_fallback"] = record
    if isinstance(module.model, Ensemble):
        extra["members_val_auc"] = members_val_auc(module, splits)
    return FitResult(module, history, best_epoch, stop_epoch, bool(stopper and stopper.stopped_epoch > 0), ips,
                     transfer=plan, checkpoint=rule,
                     weights_meta={"dropout": cfg.dropout, "batch_norm": cfg.batch_norm, "best_epoch": best_epoch},
                     metrics=extra)
