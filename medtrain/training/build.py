"""What a run trains: the model (with its head, its 3D inflation and its transfer plan), the input
normalisation, the class weights of the loss and the settings the augmentation reads.
"""
from __future__ import annotations

import dataclasses

import torch

from medtrain import rundir
from medtrain.color import ColorSpace, channel_stats, fit_channel_stats
from medtrain.config import Config
from medtrain.data.base import Splits
from medtrain.errors import MedtrainError
from medtrain.models import create_model
from medtrain.models.ensemble import Ensemble
from medtrain.models.factory import default_model
from medtrain.models.input_size import spatial_dims_of
from medtrain.tasks import MULTILABEL
from medtrain.training.transfer import TransferPlan, apply_transfer, own_init_seed


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


#: ``lr: auto`` for the default 2D network trained from scratch: chosen on the validation splits of BreastMNIST,
#: RetinaMNIST and PneumoniaMNIST among 1e-3, 3e-3 and 1e-2 (``bench/default_ablation.py``,
#: ``docs/results/default_recipe.md``); with 4-36 steps per epoch, 30 epochs of AdamW at 1e-3 under-train.
DEFAULT_2D_LR = 1e-2
#: ``lr: auto`` otherwise: fine-tuning (a source's features should move little) and the 3D recipe, validated
#: at this rate (``docs/results/volumes3d.md``); other zoo networks were compared at this rate.
DEFAULT_LR = 1e-3


#: ``batch_size: auto`` for the default 2D network trained from scratch: chosen on BreastMNIST and RetinaMNIST
#: validation (4 seeds each) among 32, 64 and 128 at lr 1e-2 (``bench/default_ablation.py``,
#: ``docs/results/default_recipe.md``): twice the optimiser steps per epoch for the small sets.
DEFAULT_2D_BATCH = 64
#: ``batch_size: auto`` otherwise (fine-tuning, volumes, the other networks): the size they were validated at.
DEFAULT_BATCH = 128


def _default_2d_recipe(cfg: Config, spatial_dims: int) -> bool:
    """Whether ``cfg`` trains the default 2D network from scratch: the recipe the 2D defaults were chosen for."""
    scratch = cfg.transfer == "scratch" and not cfg.pretrained
    return spatial_dims == 2 and scratch and cfg.model in ("auto", default_model(2))


def anneal_epochs(cfg: Config) -> int:
    """Epochs over which annealed dropout falls to 0: ``anneal_epochs``, by default ``epochs - 1``, so the last
    epoch trains the full network at rate 0, as Rennie et al. end (the epoch ``e`` trains at ``p(e)``; over all
    ``epochs`` the last had kept ``p0 / epochs``)."""
    return cfg.anneal_epochs or max(1, cfg.epochs - 1)


def default_lr(cfg: Config, spatial_dims: int) -> float:
    """The learning rate of ``lr: auto`` (None): :data:`DEFAULT_2D_LR` for the default 2D network trained from
    scratch, :data:`DEFAULT_LR` for anything else."""
    return DEFAULT_2D_LR if _default_2d_recipe(cfg, spatial_dims) else DEFAULT_LR


def default_batch_size(cfg: Config, spatial_dims: int) -> int:
    """The batch size of ``batch_size: auto`` (None): :data:`DEFAULT_2D_BATCH` for the default 2D network
    trained from scratch, :data:`DEFAULT_BATCH` for anything else."""
    return DEFAULT_2D_BATCH if _default_2d_recipe(cfg, spatial_dims) else DEFAULT_BATCH


#: ``members: auto`` for the default 3D recipe where it trains in bf16: two networks' averaged logits, chosen on
#: AdrenalMNIST3D and VesselMNIST3D validation (``docs/results/default_recipe.md``, "Volumes: two networks");
#: in bf16 two fit the 15-minute budget of a volume set on 2 CPU cores, in float32 they do not.
DEFAULT_3D_MEMBERS = 2


def default_members(cfg: Config, spatial_dims: int) -> int:
    """The ensemble size of ``members: auto`` (None): :data:`DEFAULT_3D_MEMBERS` for the default 3D network
    trained from scratch where it trains in bf16 (:func:`trainer_precision`), 1 for anything else; a run whose bf16
    steps fall back to float32 takes the float32 count (:func:`medtrain.training.precision.float32_config`)."""
    scratch = cfg.transfer == "scratch" and not cfg.pretrained
    recipe = spatial_dims == 3 and scratch and cfg.model in ("auto", default_model(3))
    return DEFAULT_3D_MEMBERS if recipe and trainer_precision(cfg) == "bf16-mixed" else 1


#: Schedules that end at a rate near zero, where the final weights have settled.
ANNEALED_SCHEDULES = ("onecycle", "cosine")


def default_checkpoint(cfg: Config, spatial_dims: int) -> str:
    """The weights ``checkpoint: auto`` keeps: ``last`` for the default 2D network trained from scratch to the
    end of an annealed schedule (no early stopping), ``best`` (the epoch of best ``monitor``) otherwise.

    Chosen on BreastMNIST, RetinaMNIST and PneumoniaMNIST validation (``bench/checkpoint_rule.py``,
    ``docs/results/default_recipe.md``, "Which epoch a run keeps"): scored on held-out parts of validation, the
    epoch of best validation AUC is a maximum over 30 noisy epochs of a small split and does worse than the
    last epoch of the one-cycle schedule. Volumes and other recipes were not measured and keep ``best``."""
    annealed = cfg.schedule in ANNEALED_SCHEDULES and not cfg.early_stop
    return "last" if annealed and _default_2d_recipe(cfg, spatial_dims) else "best"


def resolve_auto(cfg: Config, spatial_dims: int) -> Config:
    """``cfg`` with every ``auto`` a run records as a concrete value resolved for data of ``spatial_dims``:
    ``lr``, ``batch_size``, ``members`` (None) and ``checkpoint`` first, since they ask whether ``model: auto``
    is the default network, then ``model``."""
    return dataclasses.replace(
        cfg,
        checkpoint=default_checkpoint(cfg, spatial_dims) if cfg.checkpoint == "auto" else cfg.checkpoint,
        lr=default_lr(cfg, spatial_dims) if cfg.lr is None else cfg.lr,
        batch_size=default_batch_size(cfg, spatial_dims) if cfg.batch_size is None else cfg.batch_size,
        members=default_members(cfg, spatial_dims) if cfg.members is None else cfg.members,
        model=(source_model(cfg, spatial_dims) or default_model(spatial_dims)) if cfg.model == "auto" else cfg.model)


def source_model(cfg: Config, spatial_dims: int | None = None) -> str | None:
    """The network of the run ``--pretrained`` names, or None (no source, or not a run, or, given the data's
    ``spatial_dims``, a network of other data: a 3D source for 2D data, which the transfer refuses saying why; it
    had built the 3D network for 2D images and failed on their shape): ``model: auto`` with a run as source is that
    run's network, the only one its weights transfer to (auto had picked the default network, and a resnet18_28
    source was refused: "use --model resnet18_28")."""
    if not cfg.pretrained or not rundir.is_run(cfg.pretrained):
        return None
    model = rundir.read_config(cfg.pretrained).get("model")
    if not model or model == "auto":
        return None
    return model if spatial_dims is None or spatial_dims_of(model) == spatial_dims else None


def _cpu_has_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (x86 ``avx512_bf16`` or ``amx_bf16``); elsewhere autocast
    would emulate it, slower than float32."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def trainer_precision(cfg: Config) -> str:
    """The Lightning precision a run trains with. ``auto`` (the default) is ``bf16-mixed`` where bfloat16 is
    native (a CUDA device that supports it, a CPU with ``avx512_bf16``/``amx_bf16``), else ``32-true``.

    Measured on the 2-core CPU (``bench/precision.py``): bf16 autocast trains the default network 2.0x faster
    per step than float32, and the PneumoniaMNIST default run reached the same validation AUC (0.9975 vs
    0.9976, ``docs/results/default_recipe.md``); volumes 1.7x at 28^3. bf16 3D training on this CPU gives a
    step with non-finite gradients now and then (14 in the ~1,700 steps of six default volume runs; before
    they were skipped, three runs turned NaN): such a step is skipped
    (``training.callbacks.SkipNonFiniteSteps``), so volumes train in bf16 too. Under ``auto`` a run whose first
    epoch skips more than half of its steps trains again in float32 (:mod:`medtrain.training.precision`)."""
    if cfg.precision == "16-mixed" and (cfg.accelerator == "cpu" or (
            cfg.accelerator == "auto" and not torch.cuda.is_available() and not torch.backends.mps.is_available())):
        # Lightning trains it in bf16-mixed on a CPU, with a line of its own, while the run recorded 16-mixed (a
        # bad-input walk): refused, as a device the machine lacks is
        raise MedtrainError("--precision 16-mixed (float16 autocast) needs a GPU (CUDA or Apple MPS); on a CPU use "
                            "bf16-mixed, 32-true or auto")
    if cfg.precision != "auto":
        return {"32": "32-true"}.get(cfg.precision, cfg.precision)  # Lightning's own name of the short form
    if cfg.accelerator in ("gpu", "cuda") or (cfg.accelerator == "auto" and torch.cuda.is_available()):
        return "bf16-mixed" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "32-true"
    if cfg.accelerator in ("cpu", "auto"):
        return "bf16-mixed" if _cpu_has_bf16() else "32-true"
    return "32-true"


def uses_custom_head(cfg: Config) -> bool:
    """A head from ``medtrain.models.heads`` replaces the model's classifier for anything beyond plain
    dropout, and for MC dropout (which needs a dropout *module* it can switch on at test time)."""
    return cfg.dropout_kind != "dropout" or cfg.head != "linear" or cfg.mc_dropout > 0


def _refuse_volumes_net_on_images(name: str, model: torch.nn.Module, splits: Splits) -> None:
    if len(splits.spatial_shape) == 2 and any(isinstance(m, torch.nn.Conv3d) for m in model.modules()):
        # it had failed in training with "required rank 4 tensor to use channels_last format", a traceback
        raise MedtrainError(f"--model {name} is a 3D network and {splits.name} holds 2D images; choose a 2D network "
                            f"(medtrain models) or --model auto")


def check_model_dims(cfg: Config, splits: Splits) -> None:
    """Refuse, without training, a 3D network named for 2D images (a grid checks its cells with it). Only
    medtrain's own builders can be 3D; timm's are all 2D and are not built here."""
    from medtrain.models._registry import is_registered

    name = cfg.model.removesuffix("-separable")
    if name == "auto" or len(splits.spatial_shape) != 2 or not is_registered(name):
        return
    _refuse_volumes_net_on_images(cfg.model, create_model(name, in_chans=splits.in_chans, num_classes=2), splits)


def check_network_input(cfg: Config, splits: Splits | None = None) -> None:
    """Refuse, in one line, a network that cannot take the run's images (a kernel larger than what its strides
    leave, a ViT's patches that do not tile them): before the data are read where their size is known from the
    settings (``image_size``; a 2D MedMNIST set's ``size``), probed with 3 channels, which stand for any count (it
    changes only the first convolution's input width, not which sizes a network takes); with ``splits``, on the
    data's own shape and channels, before anything is written, and a zoo network given medtrain's small-input
    stem where its standard one works too says so, once
    (:class:`~medtrain.models.input_size.SmallInputStemWarning`). Volumes are not probed (their networks are
    inflated or 3D and sized by ``volume_size``)."""
    from medtrain.data import at_their_size
    from medtrain.models.input_size import check_input_size, warn_small_stem

    name = (source_model(cfg) or default_model(2)) if cfg.model == "auto" else cfg.model
    if cfg.drop_block and cfg.model != "auto":  # a network without ResNet blocks: refused before the data are read
        from medtrain.models.factory import check_drop_block

        check_drop_block(cfg.model.removesuffix("-separable"))
    if cfg.drop_block and splits is not None and len(splits.spatial_shape) == 3:
        raise MedtrainError(f"drop_block: DropBlock drops regions of 2D feature maps and {splits.name} holds volumes; "
                            "leave --drop-block out")
    if splits is not None:
        if len(splits.spatial_shape) == 2:
            check_input_size(name, tuple(splits.spatial_shape), splits.in_chans, spatial_dims=2)
            if len(set(splits.spatial_shape)) == 1:  # the advice by what gives the data another size
                kind = "files" if at_their_size(cfg) is None else "npz" if cfg.data else "medmnist"
                warn_small_stem(name, int(splits.spatial_shape[0]), splits.in_chans, splits.num_classes,
                                data_kind=kind)
        return
    if cfg.image_size is not None and at_their_size(cfg) is None:
        check_input_size(name, cfg.image_size, 3, spatial_dims=2)
    elif not cfg.data and cfg.dataset and not str(cfg.dataset).lower().endswith("3d"):
        check_input_size(name, cfg.size, 3, spatial_dims=2)


def build_model(cfg: Config, splits: Splits, transfer: bool = True,
                resume: bool | None = None) -> tuple[torch.nn.Module, TransferPlan | None]:
    """The run's model: ``cfg.model`` with its head, inflated to 3D (I3D) when the data are volumes, and
    (``transfer``) the source weights of ``--pretrained`` applied to it.

    ``resume``: whether the run resumes from a checkpoint, which holds every weight (None: not known). A resumed
    run does not need its source, which may have moved since it started: with True it is not read, with None
    it is read where it can be; the plan's record is restored from the checkpoint
    (:func:`medtrain.training.transfer.apply_transfer`, :class:`~medtrain.training.transfer_callbacks.TransferRecord`).

    A 2D architecture on volumes becomes its 3D twin, every k x k convolution a k x k x k one, which is
    how the MedMNIST v2 paper builds its "ResNet-18+3D" baseline; a 2D source's kernels are inflated the
    same way when they are loaded into it (:func:`medtrain.models.pretrained.adapt_state_dict`).

    With ``cfg.members`` > 1 the model is an :class:`~medtrain.models.ensemble.Ensemble` of that many such
    networks, each drawn from the random state its predecessor left (trained from scratch only).

    A run with a source (``transfer``; :func:`~medtrain.training.transfer.own_init_seed`) builds its network, every
    member of an ensemble, from the random state of its own initialisation seed, in a forked random state: its
    new head and the stages nothing is copied into are a draw of their own, not the one a source of the same
    seed started from, and the rest of the run draws from the random state the build found. A run without one is
    built from the random state as it finds it, as it always was.

    Returns:
        ``(model, plan)``: the plan says what transfer copied/froze/re-drew (None without transfer).
    """
    seed = own_init_seed(cfg) if transfer else None
    if seed is None:
        return _build(cfg, splits, transfer, resume)
    with torch.random.fork_rng(devices=[]):  # the CPU generator alone: networks are built on the CPU
        torch.default_generator.manual_seed(seed)
        return _build(cfg, splits, transfer, resume)


def _build(cfg: Config, splits: Splits, transfer: bool,
           resume: bool | None) -> tuple[torch.nn.Module, TransferPlan | None]:
    """:func:`build_model` from the random state as it is."""
    if (cfg.members or 1) > 1:
        one = dataclasses.replace(cfg, members=1)
        nets = [_build(one, splits, transfer, resume)[0] for _ in range(cfg.members)]
        return Ensemble(nets, splits.num_classes), None
    custom = uses_custom_head(cfg)
    # input_size lets zoo families adapt their stem to small images (see medtrain.models.zoo)
    model = create_model(cfg.model, in_chans=splits.in_chans, num_classes=splits.num_classes,
                         dropout=0.0 if custom else cfg.dropout, drop_path=cfg.drop_path, drop_block=cfg.drop_block,
                         batch_norm=cfg.batch_norm,
                         input_size=int(splits.spatial_shape[-1]))
    _refuse_volumes_net_on_images(cfg.model, model, splits)
    if custom:
        from medtrain.models.heads import build_head, feature_width, replace_head

        maxout_k = int(cfg.head.split(":")[1]) if cfg.head.startswith("maxout:") else 2
        head = build_head(feature_width(model), splits.num_classes, dropout_kind=cfg.dropout_kind, p=cfg.dropout,
                          head="maxout" if cfg.head.startswith("maxout") else "linear", maxout_k=maxout_k,
                          anneal_epochs=anneal_epochs(cfg))
        model = replace_head(model, head)
    if len(splits.spatial_shape) == 3 and not any(isinstance(m, torch.nn.Conv3d) for m in model.modules()):
        from medtrain.models.inflate import inflate_model

        model = inflate_model(model)
    plan = None
    if transfer and (cfg.transfer != "scratch" or cfg.pretrained):
        # Transfer learning: copy/freeze/re-draw from the source model A; the plan goes into metrics.json
        # and carries the per-parameter lr multipliers the optimiser reads.
        plan = apply_transfer(model, cfg, resume=resume)
        if not plan.pending:  # (a pending plan is said once the checkpoint has restored its record)
            print(f"medtrain: {plan.summary()}", flush=True)
    return model, plan


def input_transform(cfg: Config):
    """The module applied to [0, 1] images before normalisation: the run's colour space (None for RGB)."""
    return None if cfg.color_space.lower() == "rgb" else ColorSpace(cfg.color_space)


def check_color_space(cfg: Config, splits: Splits) -> None:
    """A colour space other than RGB needs RGB images (a grid checks its cells with it, before training)."""
    if cfg.color_space.lower() != "rgb" and (splits.in_chans != 3 or len(splits.spatial_shape) != 2):
        raise MedtrainError(f"color_space {cfg.color_space} needs RGB images; {splits.name} has "
                            f"{splits.in_chans} channel(s)")


def normalisation(cfg: Config, splits: Splits):
    """Per-channel mean/std of the training images in the input space, and the colour-space module."""
    check_color_space(cfg, splits)
    if cfg.color_space.lower() == "rgb":
        mean, std = channel_stats(splits.train.images)
        return mean, std, None
    stats = fit_channel_stats(splits.train.images, cfg.color_space)
    return torch.tensor(stats.mean), torch.tensor(stats.safe_std), input_transform(cfg)


def augment_params(cfg: Config, splits: Splits) -> dict:
    """Settings the augmentation ops read: the config, its ``augment_params``, dataset statistics."""
    params = {**cfg.to_dict(), **cfg.augment_params}
    if "pca" in cfg.augment:
        from medtrain.augment.intensity import fit_pca_lighting

        params["pca_eig"] = fit_pca_lighting(splits.train.images)
    return params
