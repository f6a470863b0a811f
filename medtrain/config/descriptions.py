"""What each setting means: one text per :class:`medtrain.config.Config` field, the one source of both the
``medtrain train --help`` text of its flag (:mod:`medtrain.cli._options`, which appends the default and escapes
``%`` for argparse) and the "Settings" section of ``help(medtrain.Config)`` (:func:`settings_section`).

Texts are plain (a ``%`` is a percent sign) and name other settings as flags (``--epochs``), as the command line
does; :func:`python_text` names them as keys (``epochs``) for Python.
"""
from __future__ import annotations

import dataclasses
import re
import textwrap

DESCRIPTIONS = {
    # --- data
    "dataset": "MedMNIST dataset name (pneumoniamnist, dermamnist, ...); giving --data instead unsets it",
    "data": "a local .npz (MedMNIST layout), an image folder (one sub-folder per class) or a CSV "
            "path,label[,split][,patient] (paths relative to it) of image files, or of DICOM files, DICOM series "
            "folders or NIfTI volumes (.nii, .nii.gz); a folder holding such a labels.csv of DICOM/NIfTI entries "
            "is read as that CSV",
    "size": "MedMNIST image size: 28, 64, 128 or 224",
    "data_dir": "download cache (default $MEDTRAIN_DATA, else $XDG_CACHE_HOME/medtrain, else ~/.cache/medtrain)",
    "val_fraction": "data without their own split (an image folder, a CSV without a split column, images in "
                    "memory: train() with data (x, y), or a dict of them without val): the share held out for "
                    "validation, drawn per class (whole patients with a group column; multi-label rows by the "
                    "rarest label value each holds)",
    "test_fraction": "as --val-fraction (a dict of arrays without test too): the share held out for testing",
    "image_size": "image folder or CSV (2D DICOM included): resize every image to N x N; non-square images need "
                  "it (default: keep the images' own size)",
    "volume_size": "DICOM/NIfTI volumes: N voxels a side; each volume is resized to it, or with --spacing "
                   "centre-cropped or padded to it (a larger field of view than N voxels of the spacing loses its "
                   "edges, said when more than 10% of an axis)",
    "spacing": "DICOM/NIfTI volumes: resample to this voxel spacing in mm, one number or D,H,W like 2,1,1, then "
               "centre-crop or pad to --volume-size instead of resizing (default: keep each scan's own spacing, "
               "resized to --volume-size)",
    "window": "CT window in HU: level,width or a preset: lung -600,1500; mediastinum 50,350; bone 400,1800; "
              "brain 40,80; abdomen 40,400 (default: each scan's 1st-99th percentiles)",
    "skip_bad": "leave out unreadable or missing images and volumes before the split, listed in the run's "
                "skipped.json (default: stop at the first)",
    "store": "where the images are held: memory, mmap (converted once to memory-mapped .npy files under "
             "store/ of --data-dir or its default; not for DICOM/NIfTI, cached one small file per entry) or auto "
             "(mmap when they exceed a quarter of the available memory)",
    "group_column": "CSV: the column naming each row's patient; its rows stay in one split (default: a column "
                    "patient, patient_id, subject or group if present; DICOM without one: PatientID, hashed)",
    "folds": "K-fold cross-validation: train K runs, each holding out another fold (0 = one fixed split)",
    "fold": "with --folds K: train only the run holding out this fold (0..K-1)",
    # --- model
    "model": "architecture name (medtrain models) or auto: with a run as --pretrained, that run's network, "
             "else resnet18_28_half for images and med3d_resnet10 for volumes",
    "pretrained": "source model A: a run directory, a weights file (.safetensors / weights-only .pt), timm:NAME, "
                  "torchvision:NAME or medicalnet:DEPTH",
    "dropout": "dropout probability before the classifier, 0 <= p < 1",
    "batch_norm": "use batch normalisation (false: same architecture without it)",
    "drop_path": "stochastic depth rate inside residual networks, 0 <= p < 1",
    "drop_block": "DropBlock probability (contiguous regions of the feature maps dropped) in the last two stages of a "
                  "ResNet, ResNeXt or SE-ResNet (timm's drop_block_rate: on the small maps of 28 px images it "
                  "drops more, ~25% of layer4 at 0.1), 0 <= p < 1; other networks refuse it",
    "dropout_kind": "the head's dropout: dropout, dropconnect, annealed or standout",
    "head": "linear or maxout:K",
    "anneal_epochs": "annealed dropout: epochs over which the rate falls to 0 (default: epochs - 1, so the last "
                     "epoch trains at 0)",
    "mc_dropout": "T Monte-Carlo dropout passes at test time (0 = off)",
    # --- transfer learning
    "transfer": "scratch, linear-probe, finetune, finetune-top:K, partial:K or scale (default: scratch, finetune "
                "with --pretrained)",
    "probe_layer": "linear-probe: the stage whose pooled output is the feature (default: the last)",
    "probe_classifier": "linear-probe: logreg (LogisticRegression) or svm (LinearSVC)",
    "backbone_lr_mult": "fine-tuning: the backbone's lr = lr * this (the new head gets lr)",
    "layer_decay": "fine-tuning: stage s of S (1 nearest the input) gets lr * d^(S + 1 - s), times "
                   "--backbone-lr-mult (default: off, no decay by depth)",
    "unfreeze_every": "finetune-top:K: unfreeze one more stage every N epochs (0 = never)",
    # --- optimisation
    "optimizer": "sgd, adam or adamw (decoupled decay)",
    "lr": "learning rate (default auto: 1e-2 for the default 2D network trained from scratch, 1e-3 otherwise)",
    "momentum": "sgd's (Nesterov) momentum; adam and adamw do not read it",
    "weight_decay": "lambda of J + lambda*sum(theta^2): an L2 penalty (gradient 2*lambda*theta) with sgd and adam; "
                    "with adamw decoupled decay, each step theta *= 1 - lr*2*lambda (the same step as L2 for plain "
                    "sgd, not for adaptive optimisers)",
    "decay_norm_and_bias": "decay every parameter (by default biases, 1-D tensors such as normalisation parameters and the network's own no_weight_decay() names, e.g. a ViT's position embedding, are not decayed)",
    "schedule": "none, multistep, cosine or onecycle",
    "milestones": "multistep schedule: fractions of --epochs at which lr is divided by 10, comma-separated",
    "epochs": "training epochs (the lr schedule spans them)",
    "batch_size": "training batch size (default auto: 64 for the default 2D network trained from scratch, 128 "
                  "otherwise)",
    "class_weights": "class-balanced loss: auto (balanced; prior-corrected, or a threshold refitted on validation, "
                     "when validation ACC says so), true (or balanced), false (or plain), or the rule auto chose "
                     "pinned: prior-adjusted or val-fitted",
    "label_smoothing": "label smoothing e: targets (1 - e) * one-hot + e / classes (multi-label: towards 1/2), "
                       "0 <= e < 1",
    "ema": "exponential moving average of the weights, half-life in epochs (0 = off); validation and the saved "
           "model use the average",
    "members": "networks trained side by side from their own initialisations, their logits averaged (a deep "
               "ensemble; each costs one network's training time). Default auto: 2 for volumes with the default "
               "3D network where bf16 is native, 1 otherwise",
    # --- early stopping and checkpoint selection
    "monitor": "validation metric that selects the best checkpoint (with --checkpoint best): val_auc, val_acc or "
               "val_loss",
    "checkpoint": "the weights the run keeps: best (epoch of the best --monitor), last (the final epoch) or auto "
                  "(last for the default 2D network trained from scratch to the end of its one-cycle or cosine "
                  "schedule, best otherwise)",
    "early_stop": "validation metric to early-stop on: val_auc, val_acc or val_loss (default: off, every epoch "
                  "is trained)",
    "patience": "epochs without improvement before early stopping",
    "min_delta": "early stopping: the least change of the --early-stop metric that counts as an improvement",
    "early_stop_warmup": "early stopping: epochs at the start that neither count towards --patience nor stop",
    # --- augmentation
    "augment": "comma-separated augmentations, e.g. flip,shift (none for no augmentation; medtrain augment list "
               "names every op, with its settings)",
    "augment_params": "op settings (medtrain augment list) as k=v pairs, e.g. "
                      "erasing_scale=[0.02,0.2],cutout_size=0.3 (in a YAML "
                      "file or Python: a mapping, {erasing_scale: [0.02, 0.2]})",
    "cutmix_alpha": "cutmix and mix: alpha of the Beta(alpha, alpha) the pasted box's share is drawn from, before "
                    "the box is clipped at the image's border (the label takes the share pasted)",
    "mixup_alpha": "mixup and mix: alpha of the Beta(alpha, alpha) the mixing weight is drawn from",
    "erasing_p": "erasing: each image's probability of having a random rectangle erased",
    "aa_policy": "autoaugment: the published policy to apply: imagenet, cifar10 or svhn",
    "ra_n": "randaugment: N, the ops applied to each image",
    "ra_m": "randaugment: M, the ops' magnitude on 0..10",
    "color_space": "input colour space for RGB data: rgb, hsv, yuv, lab, yiq, xyz, ypbpr, ycbcr, hed, lch",
    "tta": "test-time augmentation: auto (chosen on validation), none, hflip, flip (identity, h, v, hv), shift "
           "(3x3 grid of 2-px shifts), hflip-shift or flip-shift",
    "flip": "flips in training and TTA: auto (off for left/right labels, else decided by pilot runs on validation; "
            "a pinned flipping --tta keeps them on without pilots, refused where --augment never flips an axis it "
            "flips), true or false (false refuses a flipped --tta; true with no flip in --augment flips at test time "
            "only)",
    # --- execution
    "seed": "seed of the initialisation, batch order, augmentation and dropout; also of the train/val/test "
            "split of data without their own split (an image folder, a CSV without a split column, images in "
            "memory) and of cross-validation folds",
    "accelerator": "cpu, gpu, mps or auto",
    "devices": "devices per node: a number (GPUs; on CPU, processes, at most one per core), auto, -1 (all) or "
               "indices 0,1",
    "num_nodes": "machines taking part (multi-node: launch with torchrun or SLURM srun, see README)",
    "strategy": "auto or ddp (one process per device and node, Lightning's DistributedDataParallel; several "
                "devices pick ddp under auto)",
    "precision": "auto (bf16-mixed where bfloat16 is native, else 32-true), 32-true, 16-mixed, bf16-mixed, ...",
    "progress": "progress bars (--no-progress: none, for logs)",
    "logger": "experiment log of every epoch and the settings in RUN/logs: csv, tensorboard, mlflow or none. An "
              "epoch's train_loss (the train curve of learning_curve.png) is the mean over its training steps, taken "
              "with augmentation, Mixup/CutMix targets and dropout on as the weights change; val_loss is the network "
              "in eval mode on unaugmented images: part of the gap between them is the regularisation itself",
    "bootstrap": "bootstrap resamples of the test split for the 95% confidence intervals (0: no intervals)",
    "operating_point": "binary tasks: a threshold chosen on validation, youden, sensitivity=P or specificity=P "
                       "(0 < P < 1), at which test sensitivity, specificity, PPV and NPV are reported; multi-label "
                       "tasks: one such threshold per label (0.5 kept for a label without validation positives or "
                       "negatives) (default: none, ACC at 0.5 only)",
    "positive_class": "binary operating points: the class whose sensitivity and PPV are reported, a name or index "
                      "(default: the last class, as MedMNIST's AUC)",
    "out": "run directory (default runs/<dataset, or --data's name without its extension>-<model as given>-"
           "s<seed>, e.g. runs/breastmnist-auto-s0; with --folds K the same name ending -cvK, holding fold0.. "
           "and cv.json)",
}

_FLAG = re.compile(r"--(no-)?([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")


def python_text(text: str) -> str:
    """``text`` as Python reads it: a flag of a setting named as its key (``--early-stop`` -> ``early_stop``,
    ``--no-progress`` -> ``progress=False``); other flags (``--config``) are left as they are."""
    def key(m: re.Match) -> str:
        name = m.group(2).replace("-", "_")
        if name not in DESCRIPTIONS:
            return m.group(0)
        return f"{name}=False" if m.group(1) else name
    return _FLAG.sub(key, text)


def settings_section(config_fields, width: int = 100) -> str:
    """The "Settings" section of :class:`Config`'s docstring: each field as ``name (default): text`` (a field not
    in :data:`DESCRIPTIONS` with no text, which tests/config/test_descriptions.py refuses, not a KeyError on import)."""
    lines = ["Settings", "--------"]
    for f in config_fields:
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        lines.append(textwrap.fill(f"{f.name} ({default!r}): {python_text(DESCRIPTIONS.get(f.name, ''))}", width=width,
                                   subsequent_indent="    ", break_on_hyphens=False))
    return "\n".join(lines)
