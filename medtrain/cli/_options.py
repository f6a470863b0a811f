"""Command-line flags generated from the :class:`medtrain.config.Config` fields.

Every config key is a flag (``weight_decay`` -> ``--weight-decay``), so the CLI, YAML files and ``compare
--vary`` always name the same settings. Values are parsed by :func:`medtrain.config.resolve`.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import fields

from medtrain.config import Config, load_yaml

HELP = {
    "dataset": "MedMNIST dataset name (pneumoniamnist, dermamnist, ...)",
    "data": "a local .npz (MedMNIST layout), an image folder (one sub-folder per class) or a CSV "
            "path,label[,split][,patient] (paths relative to it) of image files, or of DICOM files, DICOM series "
            "folders or NIfTI volumes (.nii, .nii.gz); a folder holding such a labels.csv of DICOM/NIfTI entries "
            "is read as that CSV",
    "size": "MedMNIST image size: 28, 64, 128 or 224",
    "data_dir": "download cache (default $MEDTRAIN_DATA, else $XDG_CACHE_HOME/medtrain, else ~/.cache/medtrain)",
    "model": "architecture name (medtrain models)",
    "dropout": "dropout probability before the classifier, 0 <= p < 1",
    "weight_decay": "lambda of the L2 penalty J + lambda*sum(theta^2)",
    "decay_norm_and_bias": "also decay biases and normalisation parameters",
    "batch_norm": "use batch normalisation (false: same architecture without it)",
    "optimizer": "sgd, adam or adamw (decoupled decay)",
    "schedule": "none, multistep, cosine or onecycle",
    "lr": "learning rate (default auto: 1e-2 for the default 2D network trained from scratch, 1e-3 otherwise)",
    "batch_size": "training batch size (default auto: 64 for the default 2D network trained from scratch, 128 "
                  "otherwise)",
    "ema": "exponential moving average of the weights, half-life in epochs (0 = off); validation and the saved "
           "model use the average",
    "members": "networks trained side by side from their own initialisations, their logits averaged (a deep "
               "ensemble; each costs one network's training time). Default auto: 2 for volumes with the default "
               "3D network where bf16 is native, 1 otherwise",
    "early_stop": "validation metric to early-stop on: val_auc, val_acc or val_loss (default: off, every epoch "
                  "is trained)",
    "patience": "epochs without improvement before early stopping",
    "monitor": "validation metric that selects the best checkpoint (--checkpoint best)",
    "checkpoint": "the weights the run keeps: best (epoch of the best --monitor), last (the final epoch) or auto "
                  "(last for the default 2D network trained from scratch to the end of its one-cycle or cosine "
                  "schedule, best otherwise)",
    "augment": "comma-separated augmentations, e.g. flip,shift (none for no augmentation)",
    "class_weights": ("class-balanced loss: auto (balanced; prior-corrected, or a threshold refitted on validation, when "
                      "validation ACC says so), true (or balanced), false (or plain), or the rule auto chose pinned: "
                      "prior-adjusted or val-fitted"),
    "flip": "flips in training and TTA: auto (off for left/right labels, else decided by pilot runs on validation), "
            "true or false (false refuses a flipped --tta; true with no flip in --augment flips at test time only)",
    "accelerator": "cpu, gpu, mps or auto",
    "devices": "devices per node: a number (GPUs; on CPU, processes, at most one per core), auto, -1 (all) or "
               "indices 0,1",
    "num_nodes": "machines taking part (multi-node: launch with torchrun or SLURM srun, see README)",
    "strategy": "auto or ddp (one process per device and node; several devices pick ddp under auto)",
    "precision": "auto (bf16-mixed where bfloat16 is native, else 32-true), 32-true, 16-mixed, bf16-mixed, ...",
    "out": "run directory (default runs/<dataset, or --data's name without its extension>-<model as given>-"
           "s<seed>, e.g. runs/breastmnist-auto-s0; with --folds K the same name ending -cvK, holding fold0.. "
           "and cv.json)",
    "positive_class": "binary operating points: the class whose sensitivity and PPV are reported, a name or index "
                      "(default: the last class, as MedMNIST's AUC)",
    "pretrained": "source model A: a run directory, a weights file (.safetensors / weights-only .pt), timm:NAME, "
                  "torchvision:NAME or medicalnet:DEPTH",
    "transfer": "scratch, linear-probe, finetune, finetune-top:K, partial:K or scale (default: scratch, finetune "
                "with --pretrained)",
    "probe_layer": "linear-probe: the stage whose pooled output is the feature (default: the last)",
    "probe_classifier": "linear-probe: logreg or svm",
    "backbone_lr_mult": "fine-tuning: the backbone's lr = lr * this",
    "layer_decay": "fine-tuning: stage s of S gets lr * d^(S - s) (default: off, no decay by depth)",
    "unfreeze_every": "finetune-top:K: unfreeze one more stage every N epochs",
    "dropout_kind": "the head's dropout: dropout, dropconnect, annealed or standout",
    "head": "linear or maxout:K",
    "anneal_epochs": "annealed dropout: epochs over which the rate falls to 0 (default: epochs - 1, so the last "
                     "epoch trains at 0)",
    "mc_dropout": "T Monte-Carlo dropout passes at test time (0 = off)",
    "window": "CT window in HU: level,width or a preset: lung -600,1500; mediastinum 50,350; bone 400,1800; "
              "brain 40,80; abdomen 40,400 (default: each scan's 1st-99th percentiles)",
    "color_space": "input colour space for RGB data: rgb, hsv, yuv, lab, yiq, xyz, ypbpr, ycbcr, hed, lch",
    "tta": "test-time augmentation: auto (chosen on validation), none, hflip, flip, shift (3x3 grid of 2-px "
           "shifts), hflip-shift or flip-shift",
    "logger": "experiment log of every epoch and the settings in RUN/logs: csv, tensorboard, mlflow or none",
    "group_column": "CSV: the column naming each row's patient; its rows stay in one split (default: a column "
                    "patient, patient_id or subject if present; DICOM without one: PatientID, hashed)",
    "folds": "K-fold cross-validation: train K runs, each holding out another fold (0 = one fixed split)",
    "fold": "with --folds K: train only the run holding out this fold (0..K-1)",
    "augment_params": "op parameters as k=v pairs, e.g. erasing_scale=[0.02,0.2],cutout_size=0.3",
    "val_fraction": "image folder or CSV without a split column: each class's share of images (patients with a "
                    "group column) held out for validation",
    "test_fraction": "image folder or CSV without a split column: each class's share held out for testing",
    "image_size": "image folder or CSV (2D DICOM included): resize every image to N x N; non-square images need "
                  "it (default: keep the images' own size)",
    "volume_size": "DICOM/NIfTI volumes: resize each to N voxels a side",
    "spacing": "DICOM/NIfTI volumes: resample to this voxel spacing in mm first, one number or D,H,W like 2,1,1 "
               "(default: keep each scan's own)",
    "skip_bad": "leave out unreadable or missing images and volumes before the split, listed in the run's "
                "skipped.json (default: stop at the first)",
    "store": "where the images are held: memory, mmap (converted once to memory-mapped .npy files under "
             "store/ of --data-dir or its default; not for DICOM/NIfTI, cached one small file per entry) or auto "
             "(mmap when they exceed a quarter of the available memory)",
    "drop_path": "stochastic depth rate inside residual networks, 0 <= p < 1",
    "momentum": "sgd's (Nesterov) momentum; adam and adamw do not read it",
    "milestones": "multistep schedule: fractions of --epochs at which lr is divided by 10, comma-separated",
    "epochs": "training epochs (the lr schedule spans them)",
    "label_smoothing": "label smoothing e: targets (1 - e) * one-hot + e / classes (multi-label: towards 1/2), "
                       "0 <= e < 1",
    "min_delta": "early stopping: the least change of the --early-stop metric that counts as an improvement",
    "early_stop_warmup": "early stopping: epochs at the start that neither count towards --patience nor stop",
    "cutmix_alpha": "cutmix and mix: alpha of the Beta(alpha, alpha) the pasted area's share is drawn from",
    "mixup_alpha": "mixup and mix: alpha of the Beta(alpha, alpha) the mixing weight is drawn from",
    "erasing_p": "erasing: each image's probability of having a random rectangle erased",
    "aa_policy": "autoaugment: the published policy to apply: imagenet, cifar10 or svhn",
    "ra_n": "randaugment: N, the ops applied to each image",
    "ra_m": "randaugment: M, the ops' magnitude on 0..10",
    "seed": "seed of the initialisation, batch order, augmentation and dropout; also of the train/val/test "
            "split of an image folder or CSV without a split column, and of cross-validation folds",
    "progress": "progress bars (--no-progress: none, for logs)",
    "bootstrap": "bootstrap resamples of the test split for the 95%% confidence intervals (0: no intervals)",
    "operating_point": "binary tasks: a threshold chosen on validation, youden, sensitivity=P or specificity=P "
                       "(0 < P < 1), at which test sensitivity, specificity, PPV and NPV are reported (default: "
                       "none, ACC at 0.5 only)",
}


def add_config_flags(p: argparse.ArgumentParser, own: dict | None = None, hidden: tuple = ()) -> None:
    """The settings flags of ``p``: ``own`` replaces a key's help text for this command (``out``: what the
    folder holds), ``hidden`` keys are parsed but not listed (the command refuses them: compare's ``seed``)."""
    p.add_argument("--config", metavar="YAML", help="YAML file of settings; flags override it")
    g = p.add_argument_group("settings (any key of a config file)")
    texts = {**HELP, **(own or {})}
    for f in fields(Config):
        flag = "--" + f.name.replace("_", "-")
        text, default = texts.get(f.name, ""), _default(f)
        if isinstance(f.default, bool):
            shown = "" if _states_default(text) else f" (default: {'on' if f.default else 'off'})"
            g.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                           help=argparse.SUPPRESS if f.name in hidden else (text + shown).strip())
        else:
            # the default once: not when the help already states it (the autos, the cache), never "None"
            shown = "" if default is None or _states_default(text) else f" (default {_show(default)})"
            g.add_argument(flag, dest=f.name, default=argparse.SUPPRESS, metavar="V",
                           help=argparse.SUPPRESS if f.name in hidden else (text + shown).strip())


def _states_default(text: str) -> bool:
    """Whether a help text already says its default ("(default ...", "Default auto: ..."); a mere mention of
    "the default 2D network" or "its default" does not (--checkpoint's and --store's auto had gone unsaid)."""
    return "(default" in text or "Default " in text


def _default(f):
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _show(v) -> str:
    if isinstance(v, dict):
        return ",".join(f"{k}={x}" for k, x in v.items()) or "none"
    return ",".join(map(str, v)) if isinstance(v, tuple) else str(v)


def config_layers(args: argparse.Namespace) -> tuple[dict, dict]:
    """(settings from --config, settings from flags)."""
    from_file = load_yaml(args.config) if getattr(args, "config", None) else {}
    names = {f.name for f in fields(Config)}
    flags = {k: v for k, v in vars(args).items() if k in names}
    return from_file, flags
