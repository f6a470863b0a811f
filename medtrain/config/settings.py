"""Every setting of a run, as one dataclass of flat keys, and the names each key may take.

Keys are flat (``dropout``, ``weight_decay``...) so that ``medtrain compare --vary KEY=...`` can vary any of them
and a YAML file holds the same keys. Values are read by :mod:`medtrain.config.values` and checked by
:mod:`medtrain.config.checks`; :func:`medtrain.config.resolve` does both.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Optional

from medtrain.config.descriptions import settings_section
from medtrain.errors import MedtrainError, suggest


#: The dataset of a run that names no source (the README's main command).
DEFAULT_DATASET = "pneumoniamnist"


@dataclass
class Config:
    """Every setting of a run. Defaults are the default recipe (see README, "Default recipe"); ``lr``,
    ``batch_size`` and ``members`` hold None for auto. Each setting is the flag ``--name-with-dashes`` of
    ``medtrain train`` and a key of a ``--config`` YAML file. (The "Settings" section below is written at import
    from :data:`medtrain.config.descriptions.DESCRIPTIONS`, the text ``--help`` shows.)"""

    # --- data
    dataset: Optional[str] = DEFAULT_DATASET
    data: Optional[str] = None
    size: int = 28
    data_dir: Optional[str] = None
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    image_size: Optional[int] = None
    volume_size: int = 64
    spacing: Optional[str] = None
    window: Optional[str] = None
    skip_bad: bool = False
    store: str = "auto"
    group_column: Optional[str] = None
    folds: int = 0
    fold: Optional[int] = None

    # --- model
    model: str = "auto"
    pretrained: Optional[str] = None
    dropout: float = 0.0
    batch_norm: bool = True
    drop_path: float = 0.0
    drop_block: float = 0.0
    dropout_kind: str = "dropout"
    head: str = "linear"
    anneal_epochs: Optional[int] = None
    mc_dropout: int = 0

    # --- transfer learning (medtrain.transfer; needs ``pretrained``: a run dir, a weights file or timm:NAME)
    transfer: str = "scratch"
    probe_layer: Optional[str] = None
    probe_classifier: str = "logreg"
    backbone_lr_mult: float = 1.0
    layer_decay: Optional[float] = None
    unfreeze_every: int = 0

    # --- optimisation
    optimizer: str = "adamw"
    lr: Optional[float] = None
    momentum: float = 0.9
    weight_decay: float = 0.025
    decay_norm_and_bias: bool = False
    schedule: str = "onecycle"
    milestones: tuple = (0.5, 0.75)
    epochs: int = 30
    batch_size: Optional[int] = None
    class_weights: str = "auto"
    label_smoothing: float = 0.0
    ema: float = 0.0
    members: Optional[int] = None

    # --- early stopping and checkpoint selection
    monitor: str = "val_auc"
    checkpoint: str = "auto"
    early_stop: Optional[str] = None
    patience: int = 10
    min_delta: float = 0.0
    early_stop_warmup: int = 0

    # --- augmentation
    augment: tuple = ("flip", "shift")
    augment_params: dict = field(default_factory=dict)
    cutmix_alpha: float = 1.0
    mixup_alpha: float = 0.2
    erasing_p: float = 0.5
    aa_policy: str = "imagenet"
    ra_n: int = 2
    ra_m: int = 9
    color_space: str = "rgb"
    tta: str = "auto"
    flip: str = "auto"

    # --- execution
    seed: int = 0
    accelerator: str = "auto"
    devices: Any = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "auto"
    progress: bool = True
    logger: str = "csv"
    bootstrap: int = 1000
    operating_point: Optional[str] = None
    positive_class: Optional[str] = None
    out: Optional[str] = None

    def __post_init__(self):
        # Two sources cannot both be meant, and a dataclass cannot tell ``dataset`` left at its default from one typed:
        # where ``data`` is given, the default dataset is none (``Config(data="mine.npz")`` had printed and held
        # ``dataset='pneumoniamnist'`` though its run reads mine.npz and records ``dataset: null``).
        if self.data is not None and self.dataset == DEFAULT_DATASET:
            self.dataset = None
        if isinstance(self.color_space, str):  # one spelling, as the settings read it (config.values.coerce)
            self.color_space = self.color_space.lower()

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d


KEYS = {f.name: f for f in fields(Config)}

#: Other tools' names of medtrain's settings (PyTorch's, Keras', timm's), offered for them wherever a setting is
#: named (a config file, a dict or Config in Python, ``compare --vary``, a ``tune`` search space), as ``suggest``'s
#: ``aliases``: difflib had offered "erasing_p, operating_point" for ``learning_rate``. Read in lower case. Settings'
#: names only: an unknown model, augmentation... is not offered them (``arch`` is no model's name).
ALIASES = {"learning_rate": "lr", "learningrate": "lr", "base_lr": "lr", "wd": "weight_decay", "l2": "weight_decay",
           "num_epochs": "epochs", "n_epochs": "epochs", "max_epochs": "epochs", "bs": "batch_size",
           "batchsize": "batch_size", "drop_rate": "dropout", "dropout_rate": "dropout", "p_dropout": "dropout",
           "drop_path_rate": "drop_path", "drop_block_rate": "drop_block", "dropblock": "drop_block",
           "optim": "optimizer", "scheduler": "schedule", "lr_scheduler": "schedule",
           "lr_schedule": "schedule", "arch": "model", "architecture": "model", "smoothing": "label_smoothing",
           "augmentation": "augment", "augmentations": "augment"}


def unknown_setting(name: str, choices=KEYS, what: str = "setting") -> MedtrainError:
    """The one 'unknown setting' error wherever a setting is named (a config file, a dict, ``Config(...)``, a
    recipe, ``compare --vary``, a search space): :func:`medtrain.errors.suggest` with the settings' :data:`ALIASES`
    (a recipe naming ``learning_rate`` had been offered erasing_p, operating_point: its caller forgot them)."""
    return suggest(name, choices, what, aliases=ALIASES)


class UnknownSettingError(MedtrainError, TypeError):
    """``Config(name=...)`` with a name that is no setting: medtrain's one line (offering the setting), and a
    TypeError as Python's own for an unknown keyword was, so a caller's ``except TypeError`` still catches it."""


def _settings_named(init):
    """Config's ``__init__``, refusing a name that is no setting as a config file or a dict is refused (one line
    offering the setting: ``Config(learning_rate=...)``, did you mean lr), not with the dataclass's TypeError."""
    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        for name in kwargs:
            if name not in KEYS:
                raise UnknownSettingError(str(unknown_setting(name)))
        init(self, *args, **kwargs)
    return __init__


Config.__init__ = _settings_named(Config.__init__)


def base_settings(base) -> tuple[dict, dict]:
    """The settings several runs share (a ``compare`` grid's cells, a ``tune`` search's trials) as a layer of
    settings, and those of them typed, for the checks ``train`` makes of typed settings only. A dict is read as
    given, every key typed (None: the defaults, none). A :class:`Config` (as given, not resolved: resolving derives
    settings, e.g. ``transfer: finetune`` from ``pretrained``, that each run derives again) gives its settings other
    than the defaults, none of them typed: a dataclass
    cannot tell a setting typed from one left at its default (so a grid or a space may vary those), and ``train``
    checks a dict's typed settings, not a Config's; where ``data`` is given, ``dataset`` is no second source. Any
    other kind of ``base``: one line naming it."""
    if isinstance(base, Config):
        given, defaults = base.to_dict(), Config().to_dict()
        return {k: v for k, v in given.items() if v != defaults[k]
                and not (k == "dataset" and given["data"] is not None)}, {}
    if base is None or isinstance(base, Mapping):
        return dict(base or {}), dict(base or {})
    raise MedtrainError(f"base must be a dict of settings or a Config; got {type(base).__name__} {base!r:.60}")
# every setting is described once (DESCRIPTIONS), nothing else is: tests/config/test_descriptions.py holds it (an
# import-time assert here had failed every test's import instead, and was stripped under python -O)
Config.__doc__ = f"{inspect.cleandoc(Config.__doc__)}\n\n{settings_section(fields(Config))}"

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "multistep", "cosine", "onecycle")
MONITORS = ("val_auc", "val_acc", "val_loss")
#: Which epoch's weights a run keeps (``auto`` is resolved by medtrain.training.build.default_checkpoint).
CHECKPOINTS = ("auto", "best", "last")
DROPOUT_KINDS = ("dropout", "dropconnect", "annealed", "standout")
TTA_MODES = ("auto", "none", "hflip", "flip", "shift", "hflip-shift", "flip-shift")
#: Settings decided on the validation split when "auto" (medtrain.training.choices); true/false pin them.
CHOICES = ("auto", "true", "false")
#: The decision rules ``class_weights: auto`` can choose besides the balanced one (``true``); each can be pinned by
#: name, so that the recipe a run chose can be trained again as it was (medtrain.training.choices).
CLASS_WEIGHT_RULES = ("prior-adjusted", "val-fitted")
#: The names the run's summary and metrics.json give the two plain rules, accepted as their pins.
CLASS_WEIGHT_NAMES = {"balanced": "true", "plain": "false"}
#: command-line augmentation settings that only some ops read (the others go through ``augment_params``)
AUGMENT_SETTINGS = ("cutmix_alpha", "mixup_alpha", "erasing_p", "aa_policy", "ra_n", "ra_m")
#: Numbers whose ``auto`` (stored as None) the run resolves to the value validated for its recipe
#: (medtrain.training.build.default_lr / default_batch_size) and records.
AUTO_NUMBERS = ("lr", "batch_size", "members")
PRECISIONS = ("auto", "32-true", "32", "16-mixed", "bf16-mixed", "bf16-true", "64-true")
#: Settings whose default changed since medtrain wrote runs of format 0 (``medtrain._io.run_files.RUN_FORMAT``), with
#: the default they had then (before 2026-12-02): such a run recording that value need not have been given it
#: (the rule: ``medtrain.reuse.defaults_then``).
FORMAT_0_DEFAULTS = {"precision": "32-true", "tta": "hflip", "class_weights": "true",
                     "flip": "true"}  # flip: rundir.read_config's for a run from before the flip choice
#: Lightning loggers and the package each needs (an optional extra of medtrain); csv needs nothing more.
LOGGERS = {"csv": None, "tensorboard": "tensorboard", "mlflow": "mlflow", "none": None}
#: Lightning strategies a run may ask for: ``auto`` (one device: one process; several: Lightning picks DDP)
#: and ``ddp`` (one process per device and node, gradients averaged; see medtrain.training.distributed).
PARALLEL_STRATEGIES = ("auto", "ddp")
# Transfer strategies (applied by medtrain.training.transfer); K is a number of stages.
STRATEGIES = ("scratch", "linear-probe", "finetune", "finetune-top:K", "partial:K", "scale")
PROBE_CLASSIFIERS = ("logreg", "svm")
