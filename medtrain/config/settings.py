"""Every setting of a run, as one dataclass of flat keys, and the names each key may take.

Keys are flat (``dropout``, ``weight_decay``...) so that ``medtrain compare --vary KEY=...`` can vary any of them
and a YAML file holds the same keys. Values are read by :mod:`medtrain.config.values` and checked by
:mod:`medtrain.config.checks`; :func:`medtrain.config.resolve` does both.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, Optional


@dataclass
class Config:
    """Every setting of a run. Defaults are the default recipe (see README, "Default recipe")."""

    # --- data
    dataset: Optional[str] = "pneumoniamnist"  #: a MedMNIST name, or None when ``data`` is given
    data: Optional[str] = None  #: a local .npz, an image folder or a CSV of path,label[,split]
    size: int = 28  #: MedMNIST image size (28, 64, 128, 224)
    data_dir: Optional[str] = None  #: download cache; default $MEDTRAIN_DATA, else $XDG_CACHE_HOME/medtrain or ~/.cache/medtrain
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
    class_weights: str = "auto"  #: class-balanced loss: auto (balanced, prior-corrected if validation says so), true, false, or a rule of CLASS_WEIGHT_RULES pinned
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
#: The decision rules ``class_weights: auto`` can choose besides the balanced one (``true``); each can be pinned by
#: name, so that the recipe a run chose can be trained again as it was (medtrain.training.choices).
CLASS_WEIGHT_RULES = ("prior-adjusted", "val-fitted")
#: The names the run's summary and metrics.json give the two plain rules, accepted as their pins.
CLASS_WEIGHT_NAMES = {"balanced": "true", "plain": "false"}
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
