"""Run configuration: one flat set of keys shared by the CLI, YAML files and Python.

Keys are flat (``dropout``, ``weight_decay``...) so that ``medtrain compare --vary KEY=...`` can vary any
of them, and a YAML file holds the same keys (``--config cfg.yaml``; flags given on the command line
override it). :func:`resolve` validates every value and raises :class:`MedtrainError` naming the key.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

import numpy as np
import yaml

from medtrain.errors import MedtrainError, suggest
from medtrain._io import read_yaml, read_yaml_file


@dataclass
class Config:
    """Every setting of a run. Defaults are the default recipe (see README, "Default recipe")."""

    # --- data
    dataset: Optional[str] = "pneumoniamnist"  #: a MedMNIST name, or None when ``data`` is given
    data: Optional[str] = None  #: a local .npz, an image folder or a CSV of path,label[,split]
    size: int = 28  #: MedMNIST image size (28, 64, 128, 224)
    data_dir: Optional[str] = None  #: download cache; default $MEDTRAIN_DATA or ~/.cache/medtrain
    val_fraction: float = 0.1  #: folder/CSV without a split column: stratified validation share
    test_fraction: float = 0.2  #: folder/CSV without a split column: stratified test share
    image_size: Optional[int] = None  #: folder/CSV: resize every image to this square size
    volume_size: int = 64  #: DICOM/NIfTI volumes: resized to this many voxels per side
    spacing: Optional[str] = None  #: DICOM/NIfTI: target voxel spacing in mm ("1.5" or "2,1,1")
    window: Optional[str] = None  #: CT window: a preset (lung, mediastinum, bone, brain, abdomen) or "level,width"
    skip_bad: bool = False  #: skip unreadable or missing image/volume files (listed in skipped.json) instead of stopping
    store: str = "auto"  #: .npz, image folder or CSV: memory, mmap (a store in the cache) or auto (mmap when too big for RAM)
    group_column: Optional[str] = None  #: CSV: the column naming each row's patient (default: patient, patient_id or subject if present)
    folds: int = 0  #: K-fold cross-validation: K runs, each holding out another fold (0 = one fixed split)
    fold: Optional[int] = None  #: with folds: the fold this run holds out, 0..K-1 (train --folds K runs them all)

    # --- model
    model: str = "auto"  #: an architecture name; auto = resnet18_28_half for images, med3d_resnet10 for volumes
    pretrained: Optional[str] = None  #: model A: a run dir, a weights file, timm:NAME, torchvision:NAME, medicalnet:DEPTH
    dropout: float = 0.0  #: probability of dropping a unit before the classifier
    batch_norm: bool = True  #: False builds the same architecture without batch normalisation
    drop_path: float = 0.0  #: stochastic depth inside residual networks
    dropout_kind: str = "dropout"  #: dropout, dropconnect, annealed or standout (the head's dropout)
    head: str = "linear"  #: linear or maxout:K
    anneal_epochs: Optional[int] = None  #: annealed dropout: epochs from p to 0 (default: epochs - 1)
    mc_dropout: int = 0  #: T stochastic passes at test time (Monte-Carlo dropout); 0 = off

    # --- transfer learning (medtrain.transfer; needs ``pretrained``: a run dir, a weights file or timm:NAME)
    transfer: str = "scratch"  #: scratch, linear-probe, finetune, finetune-top:K, partial:K or scale (with --pretrained alone: finetune)
    probe_layer: Optional[str] = None  #: linear-probe: stage whose pooled output is the feature (default: last)
    probe_classifier: str = "logreg"  #: linear-probe: logreg (LogisticRegression) or svm (LinearSVC)
    backbone_lr_mult: float = 1.0  #: finetune: backbone lr = lr * this (the new head gets lr)
    layer_decay: Optional[float] = None  #: finetune: stage s of S gets lr * layer_decay^(S+1-s)
    unfreeze_every: int = 0  #: finetune-top:K: unfreeze one more stage every N epochs (0 = never)

    # --- optimisation
    optimizer: str = "adamw"
    lr: Optional[float] = None  #: learning rate; None = auto (training.build.default_lr: 1e-2 for the default 2D network from scratch, else 1e-3)
    momentum: float = 0.9
    weight_decay: float = 0.025  #: lambda in J(theta) + lambda * sum(theta^2); see training/optim.py
    decay_norm_and_bias: bool = False
    schedule: str = "onecycle"
    milestones: tuple = (0.5, 0.75)  #: multistep: fractions of ``epochs`` where lr is divided by 10
    epochs: int = 30
    batch_size: Optional[int] = None  #: None = auto (training.build.default_batch_size: 64 for the default 2D network from scratch, else 128)
    class_weights: str = "auto"  #: class-balanced loss: auto (balanced, prior-corrected if validation says so), true, false
    label_smoothing: float = 0.0
    ema: float = 0.0  #: exponential moving average of the weights, half-life in epochs (0 = off); validation and the saved model use it
    members: Optional[int] = None  #: networks trained side by side, their logits averaged (a deep ensemble); None = auto (training.build.default_members: 2 for the default 3D recipe in bf16, else 1)

    # --- early stopping and checkpoint selection
    monitor: str = "val_auc"  #: validation metric that selects the checkpoint (val_auc, val_acc, val_loss)
    checkpoint: str = "auto"  #: the weights a run keeps: best (the epoch of best monitor), last (the final epoch), auto (training.build.default_checkpoint: last for the default 2D recipe run to the end of its annealed schedule, else best)
    early_stop: Optional[str] = None  #: metric to early-stop on; None trains all epochs
    patience: int = 10
    min_delta: float = 0.0
    early_stop_warmup: int = 0  #: epochs before early stopping may trigger

    # --- augmentation
    augment: tuple = ("flip", "shift")
    augment_params: dict = field(default_factory=dict)  #: any op parameter, e.g. {erasing_scale: [0.02, 0.2]}
    cutmix_alpha: float = 1.0
    mixup_alpha: float = 0.2
    erasing_p: float = 0.5
    aa_policy: str = "imagenet"  #: autoaugment: imagenet, cifar10 or svhn
    ra_n: int = 2  #: randaugment: ops per image
    ra_m: int = 9  #: randaugment: magnitude 0..10
    color_space: str = "rgb"  #: input colour space (RGB images): rgb, hsv, yuv, lab, yiq, xyz, ypbpr, ycbcr, hed, lch
    tta: str = "auto"  #: test-time augmentation: auto (chosen on validation), none, hflip, flip (identity, h, v, hv), shift (3x3 grid of 2-px shifts), hflip-shift, flip-shift
    flip: str = "auto"  #: flips in training and TTA: auto (off for left/right labels, else pilots on validation), true, false

    # --- execution
    seed: int = 0
    accelerator: str = "auto"  #: cpu, gpu, mps or auto
    devices: Any = 1  #: per node: a number (on CPU: of processes), auto, -1 (all) or device indices 0,1
    num_nodes: int = 1
    strategy: str = "auto"  #: auto or ddp (one process per device, Lightning's DistributedDataParallel)
    precision: str = "auto"  #: auto: bf16-mixed where bfloat16 is native (CPU avx512_bf16/amx, CUDA), else 32-true
    progress: bool = True
    logger: str = "csv"  #: experiment log of every epoch and the settings: csv, tensorboard, mlflow or none
    bootstrap: int = 1000  #: resamples for the test confidence intervals
    operating_point: Optional[str] = None  #: binary tasks: youden, sensitivity=P or specificity=P, chosen on validation
    positive_class: Optional[str] = None  #: the operating point's positive class, a name or index (default: the last class)
    out: Optional[str] = None  #: run directory; default runs/<dataset>-<model>-s<seed>

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d


KEYS = {f.name: f for f in fields(Config)}

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "multistep", "cosine", "onecycle")
MONITORS = ("val_auc", "val_acc", "val_loss")
#: Which epoch's weights a run keeps (``auto`` is resolved by medtrain.training.build.default_checkpoint).
CHECKPOINTS = ("auto", "best", "last")
DROPOUT_KINDS = ("dropout", "dropconnect", "annealed", "standout")
TTA_MODES = ("auto", "none", "hflip", "flip", "shift", "hflip-shift", "flip-shift")
#: Settings decided on the validation split when "auto" (medtrain.training.choices); true/false pin them.
CHOICES = ("auto", "true", "false")
#: Numbers whose ``auto`` (stored as None) the run resolves to the value validated for its recipe
#: (medtrain.training.build.default_lr / default_batch_size) and records.
AUTO_NUMBERS = ("lr", "batch_size", "members")
PRECISIONS = ("auto", "32-true", "32", "16-mixed", "bf16-mixed", "bf16-true", "64-true")
#: Lightning loggers and the package each needs (an optional extra of medtrain); csv needs nothing more.
LOGGERS = {"csv": None, "tensorboard": "tensorboard", "mlflow": "mlflow", "none": None}
#: Lightning strategies a run may ask for: ``auto`` (one device: one process; several: Lightning picks DDP)
#: and ``ddp`` (one process per device and node, gradients averaged; see medtrain.training.distributed).
PARALLEL_STRATEGIES = ("auto", "ddp")
# Transfer strategies (applied by medtrain.training.transfer); K is a number of stages.
STRATEGIES = ("scratch", "linear-probe", "finetune", "finetune-top:K", "partial:K", "scale")
PROBE_CLASSIFIERS = ("logreg", "svm")


def _kind(f) -> tuple[str, bool]:
    """The value type a field takes (``"str"``, ``"int"``, ``"float"``, ``"bool"``, ``"tuple"``, ``"dict"``,
    ``"any"``) and whether it may be None, read from its annotation (a string under postponed evaluation)."""
    t = str(f.type)
    optional = t.startswith("Optional[")
    t = t.removeprefix("Optional[").removesuffix("]") if optional else t
    return {"str": "str", "int": "int", "float": "float", "bool": "bool", "tuple": "tuple", "dict": "dict"}.get(
        t, "any"), optional


def _coerce_bool(value: Any) -> bool:
    if isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(value)
    if not isinstance(value, (bool, int)):
        raise ValueError(value)
    return bool(value)


def _not_finite(value: Any) -> bool:
    """nan, inf, or a string that reads as one ("nan" from ``k=[nan,0.3]`` on the command line)."""
    try:
        return not isinstance(value, bool) and not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _coerce(name: str, value: Any) -> Any:
    """Convert a YAML/CLI value to the type of field ``name``; a value it cannot be is a MedtrainError."""
    f = KEYS[name]
    kind, optional = _kind(f)
    if isinstance(value, np.generic):  # np.int64(3), np.float32(0.3): what a sweep over np.arange/linspace gives
        value = float(str(value)) if isinstance(value, np.floating) else value.item()  # float32 0.3 stays 0.3
    if name in AUTO_NUMBERS and isinstance(value, str) and value.lower() == "auto":  # auto is stored as None
        return None
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null") and optional):
        if optional or kind == "any":
            return None
        raise MedtrainError(f"{name} needs a value, got none")
    try:
        if name == "tta" and isinstance(value, bool):
            return "hflip" if value else "none"
        if name in ("class_weights", "flip"):  # auto, or a boolean spelled any way a bool key accepts
            if isinstance(value, str) and value.lower() == "auto":
                return "auto"
            try:
                return "true" if _coerce_bool(value) else "false"
            except ValueError:
                raise MedtrainError(f"{name} must be auto, true or false, got {value!r}") from None
        if kind == "bool":
            return _coerce_bool(value)
        if kind == "int":
            if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            if not isinstance(value, (int, float, str)):
                raise ValueError(value)
            if isinstance(value, str) and not value.strip().lstrip("+-").isdigit():
                number = float(value)  # "1e3", "2.0"; "1.5" is not an integer and is refused, not truncated
                if not number.is_integer():
                    raise ValueError(value)
                return int(number)
            return int(value)
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError(value)
            if not math.isfinite(float(value)):  # nan passes every range check; inf is no setting
                raise MedtrainError(f"{name} must be a finite number, got {value!r}")
            return float(value)
        if kind == "str":
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ValueError(value)
            return str(value)
        if kind == "dict":  # a mapping or "k=v,k=v"
            if isinstance(value, str):  # "a=1,b=[0.1,0.2]" read as the YAML mapping {a: 1, b: [0.1, 0.2]}
                try:
                    value = read_yaml("{" + value.replace("=", ": ") + "}")
                except yaml.YAMLError:
                    raise ValueError(value) from None
            if not isinstance(value, dict):
                raise ValueError(value)
            for key, v in value.items():
                if any(map(_not_finite, v if isinstance(v, (list, tuple)) else [v])):
                    raise MedtrainError(f"{name} {key}: {v!r} holds a number that is not finite")
            return dict(value)
        if kind == "tuple":
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, (list, tuple)):
                raise ValueError(value)
            if name == "milestones":
                return tuple(float(v) for v in value)
            if not all(isinstance(v, str) and v for v in value):
                raise ValueError(value)
            return tuple(value)
    except (TypeError, ValueError, OverflowError):
        raise MedtrainError(f"{name}: cannot read {value!r} as {kind}") from None
    return value


def parse_transfer(spec: str) -> tuple[str, int | None]:
    """``"finetune-top:2"`` -> ``("finetune-top", 2)``; ``"finetune"`` -> ``("finetune", None)``."""
    m = re.fullmatch(r"(finetune-top|partial):(\d+)", str(spec))
    if m:
        return m.group(1), int(m.group(2))
    if spec in ("scratch", "linear-probe", "finetune", "scale"):
        return spec, None
    if spec in ("finetune-top", "partial"):
        raise MedtrainError(f"transfer {spec} needs a number of stages: {spec}:K")
    raise suggest(str(spec), STRATEGIES, "transfer strategy")


def validate_transfer(c: Config) -> None:
    """Checks of the transfer keys (part of :func:`resolve`)."""
    kind, _ = parse_transfer(c.transfer)
    if kind != "scratch" and not c.pretrained:
        raise MedtrainError(f"transfer {c.transfer} needs --pretrained (a run directory, a weights file or timm:NAME)")
    if c.probe_classifier not in PROBE_CLASSIFIERS:
        raise suggest(c.probe_classifier, PROBE_CLASSIFIERS, "probe classifier")
    if c.probe_layer is not None and kind != "linear-probe":
        raise MedtrainError("probe_layer applies to --transfer linear-probe only")
    if not c.backbone_lr_mult > 0:
        raise MedtrainError(f"backbone_lr_mult must be > 0, got {c.backbone_lr_mult}")
    if c.layer_decay is not None and not 0 < c.layer_decay <= 1:
        raise MedtrainError(f"layer_decay must be in (0, 1], got {c.layer_decay}")
    if (c.backbone_lr_mult != 1.0 or c.layer_decay is not None) and kind not in ("finetune", "finetune-top", "partial"):
        raise MedtrainError(f"backbone_lr_mult/layer_decay apply to fine-tuning, not to transfer {c.transfer}")
    if c.unfreeze_every < 0:
        raise MedtrainError(f"unfreeze_every must be >= 0, got {c.unfreeze_every}")
    if c.unfreeze_every and kind != "finetune-top":
        raise MedtrainError("unfreeze_every applies to --transfer finetune-top:K only")


def _validate(c: Config) -> None:
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise MedtrainError(msg)

    need(c.dataset is not None or c.data is not None, "give --dataset NAME or --data PATH")
    need(0.0 <= c.dropout < 1.0, f"dropout must be in [0, 1), got {c.dropout}")
    need(0.0 <= c.drop_path < 1.0, f"drop_path must be in [0, 1), got {c.drop_path}")
    need(c.weight_decay >= 0.0, f"weight_decay must be >= 0, got {c.weight_decay}")
    need(c.lr is None or c.lr > 0.0, f"lr must be > 0, got {c.lr}")
    need(c.ema >= 0.0, f"ema (a half-life in epochs) must be >= 0, got {c.ema}")
    need(c.members is None or c.members >= 1, f"members must be >= 1, got {c.members}")
    need((c.members or 1) == 1 or (c.transfer == "scratch" and not c.pretrained),
         f"members {c.members}: an ensemble is trained from scratch (transfer {c.transfer} takes one network)")
    need(0.0 <= c.momentum < 1.0, f"momentum must be in [0, 1), got {c.momentum}")
    need(0 <= c.seed < 2 ** 32, f"seed must be an integer from 0 to 2**32 - 1 (NumPy's seeds), got {c.seed}")
    need(c.epochs >= 1, f"epochs must be >= 1, got {c.epochs}")
    need(c.batch_size is None or c.batch_size >= 1, f"batch_size must be >= 1, got {c.batch_size}")
    need(c.patience >= 0, f"patience must be >= 0, got {c.patience}")
    need(c.min_delta >= 0.0, f"min_delta must be >= 0, got {c.min_delta}")
    need(c.early_stop_warmup >= 0, f"early_stop_warmup must be >= 0, got {c.early_stop_warmup}")
    need(0.0 <= c.label_smoothing < 1.0, f"label_smoothing must be in [0, 1), got {c.label_smoothing}")
    need(0.0 < c.val_fraction < 1.0, f"val_fraction must be in (0, 1), got {c.val_fraction}")
    need(0.0 <= c.test_fraction < 1.0, f"test_fraction must be in [0, 1), got {c.test_fraction}")
    need(c.val_fraction + c.test_fraction < 1.0, "val_fraction + test_fraction must be < 1")
    need(c.bootstrap >= 0, f"bootstrap must be >= 0, got {c.bootstrap}")
    need(c.size in (28, 64, 128, 224), f"size must be one of 28, 64, 128, 224, got {c.size}")
    need(all(0.0 < m < 1.0 for m in c.milestones), "milestones are fractions of epochs in (0, 1)")
    if c.optimizer not in OPTIMIZERS:
        raise suggest(c.optimizer, OPTIMIZERS, "optimizer")
    if c.schedule not in SCHEDULES:
        raise suggest(c.schedule, SCHEDULES, "schedule")
    if c.monitor not in MONITORS:
        raise suggest(c.monitor, MONITORS, "monitor metric")
    if c.checkpoint not in CHECKPOINTS:
        raise suggest(c.checkpoint, CHECKPOINTS, "checkpoint rule")
    if c.early_stop is not None and c.early_stop not in MONITORS:
        raise suggest(c.early_stop, MONITORS, "early-stopping metric")
    need(c.mc_dropout >= 0, f"mc_dropout must be >= 0, got {c.mc_dropout}")
    need(c.mc_dropout == 0 or c.dropout > 0,
         f"mc_dropout {c.mc_dropout} needs dropout to sample: give --dropout P > 0 (e.g. 0.5)")
    need(c.mc_dropout == 0 or c.dropout_kind != "annealed" or (c.anneal_epochs or 0) >= c.epochs,
         f"mc_dropout with annealed dropout samples nothing once its rate reaches 0 (by epoch epochs - 1 unless "
         f"--anneal-epochs is at least --epochs {c.epochs})")
    need(c.mc_dropout == 0 or c.transfer != "linear-probe", "mc_dropout does not apply to a linear probe")
    need(c.cutmix_alpha > 0 and c.mixup_alpha > 0, "cutmix_alpha and mixup_alpha must be > 0")
    need(0.0 <= c.erasing_p <= 1.0, f"erasing_p must be in [0, 1], got {c.erasing_p}")
    need(c.volume_size >= 4, f"volume_size must be >= 4, got {c.volume_size}")
    need(c.image_size is None or c.image_size >= 4, f"image_size must be >= 4, got {c.image_size}")
    need(c.folds == 0 or c.folds >= 2, f"folds must be 0 (one fixed split) or >= 2, got {c.folds}")
    need(c.fold is None or (c.folds >= 2 and 0 <= c.fold < c.folds),
         f"fold must be one of 0..folds-1 with folds >= 2, got fold {c.fold} with folds {c.folds}")
    if c.dropout_kind not in DROPOUT_KINDS:
        raise suggest(c.dropout_kind, DROPOUT_KINDS, "dropout kind")
    if c.tta not in TTA_MODES:
        raise suggest(c.tta, TTA_MODES, "test-time augmentation")
    for key in ("class_weights", "flip"):
        if getattr(c, key) not in CHOICES:
            raise suggest(getattr(c, key), CHOICES, key)
    if c.head != "linear" and not (c.head.startswith("maxout:") and c.head[7:].isdigit() and int(c.head[7:]) >= 2):
        raise MedtrainError(f"head must be linear or maxout:K with K >= 2, got {c.head}")
    from medtrain.color import SPACES
    from medtrain.data.store import STORES

    if c.store not in STORES:
        raise suggest(c.store, STORES, "store")

    if c.color_space.lower() not in SPACES:
        raise suggest(c.color_space, SPACES, "colour space")
    if c.logger not in LOGGERS:
        raise suggest(c.logger, LOGGERS, "logger")
    if LOGGERS[c.logger] and importlib.util.find_spec(LOGGERS[c.logger]) is None:
        raise MedtrainError(f"--logger {c.logger} needs the {LOGGERS[c.logger]} package: "
                            f"pip install 'medtrain[{c.logger}]'")
    if c.strategy not in PARALLEL_STRATEGIES:
        raise suggest(c.strategy, PARALLEL_STRATEGIES, "strategy")
    need(c.num_nodes >= 1, f"num_nodes must be >= 1, got {c.num_nodes}")
    need(_devices_ok(c.devices), f"devices must be a number >= 1, auto, -1 or device indices like 0,1; "
                                 f"got {c.devices!r}")
    if c.precision not in PRECISIONS:
        raise suggest(c.precision, PRECISIONS, "precision")
    if c.operating_point is not None:
        from medtrain.metrics import parse_operating_point

        parse_operating_point(c.operating_point)
    validate_transfer(c)


def _devices_ok(d) -> bool:
    """What Lightning's ``devices`` takes: a count >= 1, ``auto``, ``-1`` (all) or a list of indices."""
    if isinstance(d, bool):
        return False
    if isinstance(d, int):
        return d >= 1 or d == -1
    if isinstance(d, str):
        d = d.strip()
        return d in ("auto", "-1") or bool(re.fullmatch(r"\d+|\d+(\s*,\s*\d+)+,?", d)) and d not in ("0",)
    if isinstance(d, (list, tuple)):
        return bool(d) and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in d)
    return False


def resolve(*layers: dict | None) -> Config:
    """Merge dictionaries of settings (later ones win) over the defaults and validate the result."""
    merged: dict[str, Any] = {}
    for layer in layers:
        given = {}
        for k, v in (layer or {}).items():
            key = k.replace("-", "_")
            if key not in KEYS:
                raise suggest(key, KEYS, "setting")
            given[key] = _coerce(key, v)
        if given.get("data") is not None and given.get("dataset") is not None:  # one of them was silently ignored
            raise MedtrainError(f"give --dataset NAME or --data PATH, not both (got {given['dataset']} and "
                                f"{given['data']})")
        if given.get("data") is not None:  # a later layer's source replaces an earlier one's
            merged["dataset"] = None
        elif given.get("dataset") is not None:
            merged["data"] = None
        merged.update(given)
    if merged.get("pretrained") and "transfer" not in merged:  # --pretrained alone means: fine-tune from it
        merged["transfer"] = "finetune"
    for key in ("data", "pretrained"):  # a run directory works from any folder: its config names these absolutely
        value = merged.get(key)
        if isinstance(value, str) and value and os.path.exists(os.path.expanduser(value)):
            merged[key] = os.path.abspath(os.path.expanduser(value))
    c = Config(**merged)
    _validate(c)
    return c


def load_yaml(path: str | os.PathLike, what: str = "config file") -> dict:
    """Read a YAML ``what`` (a config file, a search space file) of flat keys."""
    p = Path(path)
    data = read_yaml_file(p, what) or {}
    if not isinstance(data, dict):
        raise MedtrainError(f"{what} {p} must hold a mapping of settings")
    return data
