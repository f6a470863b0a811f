"""Run configuration: one flat set of keys shared by the CLI, YAML files and Python.

Keys are flat (``dropout``, ``weight_decay``...) so that ``medtrain compare --vary KEY=...`` can vary any
of them, and a YAML file holds the same keys (``--config cfg.yaml``; flags given on the command line
override it). :func:`resolve` validates every value and raises :class:`MedtrainError` naming the key.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

import yaml

from medtrain.errors import MedtrainError, suggest


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

    # --- model
    model: str = "resnet18_28"
    pretrained: Optional[str] = None
    dropout: float = 0.0  #: probability of dropping a unit before the classifier
    batch_norm: bool = True  #: False builds the same architecture without batch normalisation
    drop_path: float = 0.0

    # --- optimisation
    optimizer: str = "adamw"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4  #: lambda in J(theta) + lambda * sum(theta^2); see training/optim.py
    decay_norm_and_bias: bool = False
    schedule: str = "onecycle"
    milestones: tuple = (0.5, 0.75)  #: multistep: fractions of ``epochs`` where lr is divided by 10
    epochs: int = 30
    batch_size: int = 128
    class_weights: bool = False  #: weight the loss by inverse class frequency
    label_smoothing: float = 0.0

    # --- early stopping and checkpoint selection
    monitor: str = "val_auc"  #: validation metric that selects the checkpoint (val_auc, val_acc, val_loss)
    early_stop: Optional[str] = None  #: metric to early-stop on; None trains all epochs
    patience: int = 10
    min_delta: float = 0.0
    early_stop_warmup: int = 0  #: epochs before early stopping may trigger

    # --- augmentation
    augment: tuple = ("flip", "shift")
    tta: bool = False

    # --- execution
    seed: int = 0
    accelerator: str = "auto"  #: cpu, gpu, mps or auto
    devices: Any = 1
    num_nodes: int = 1
    precision: str = "32-true"
    progress: bool = True
    bootstrap: int = 1000  #: resamples for the test confidence intervals
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
PRECISIONS = ("32-true", "32", "16-mixed", "bf16-mixed", "bf16-true", "64-true")


def _coerce(name: str, value: Any) -> Any:
    """Convert a YAML/CLI value to the type of field ``name``."""
    f = KEYS[name]
    default = f.default if f.default is not dataclasses.MISSING else None
    if value is None:
        return None
    if isinstance(value, str) and value.lower() in ("none", "null") and name not in ("schedule",):
        return None
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(default, int) and not isinstance(default, bool) and name != "devices":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            items = tuple(value)
            if name == "milestones":
                items = tuple(float(v) for v in items)
            return items
    except (TypeError, ValueError):
        raise MedtrainError(f"{name}: cannot read {value!r} as {type(default).__name__}") from None
    return value


def _validate(c: Config) -> None:
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise MedtrainError(msg)

    need(c.dataset is not None or c.data is not None, "give --dataset NAME or --data PATH")
    need(0.0 <= c.dropout < 1.0, f"dropout must be in [0, 1), got {c.dropout}")
    need(0.0 <= c.drop_path < 1.0, f"drop_path must be in [0, 1), got {c.drop_path}")
    need(c.weight_decay >= 0.0, f"weight_decay must be >= 0, got {c.weight_decay}")
    need(c.lr > 0.0, f"lr must be > 0, got {c.lr}")
    need(0.0 <= c.momentum < 1.0, f"momentum must be in [0, 1), got {c.momentum}")
    need(c.epochs >= 1, f"epochs must be >= 1, got {c.epochs}")
    need(c.batch_size >= 1, f"batch_size must be >= 1, got {c.batch_size}")
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
    if c.early_stop is not None and c.early_stop not in MONITORS:
        raise suggest(c.early_stop, MONITORS, "early-stopping metric")
    if c.precision not in PRECISIONS:
        raise suggest(c.precision, PRECISIONS, "precision")


def resolve(*layers: dict | None) -> Config:
    """Merge dictionaries of settings (later ones win) over the defaults and validate the result."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for k, v in (layer or {}).items():
            key = k.replace("-", "_")
            if key not in KEYS:
                raise suggest(key, KEYS, "setting")
            merged[key] = _coerce(key, v)
    if merged.get("data") is not None and "dataset" not in merged:
        merged["dataset"] = None
    c = Config(**merged)
    _validate(c)
    return c


def load_yaml(path: str | os.PathLike) -> dict:
    """Read a YAML config file of flat keys."""
    p = Path(path)
    if not p.is_file():
        raise MedtrainError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise MedtrainError(f"config file {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise MedtrainError(f"config file {p} must hold a mapping of settings")
    return data
