"""``create_model``: one factory over medtrain's registry and timm's.

Names registered in medtrain (``medtrain.models._registry``) come first; any other name is passed to
``timm.create_model``; torchvision is used only for families timm lacks (see ``zoo.py``).
"""
from __future__ import annotations

import inspect
import numbers
import re

import torch.nn as nn

from medtrain.errors import MedtrainError, suggest
from medtrain.models import _registry
from medtrain.models._zoo import NoBatchNorm, strip_norm
from medtrain.models import med3d, resnet28, zoo  # noqa: F401  (importing them registers their builders)


#: Where an unknown model's error points when no zoo name is close (the whole zoo had been listed).
ZOO_LISTED = "`medtrain models` lists them; any timm model name works too"

def _no_norm(num_features: int, *args, **kwargs) -> nn.Module:
    """Stands in for a batch norm when a model is built without it: the mark medtrain's own builders read
    (``norm_layer``); a timm network outside the zoo is built as it is and stripped afterwards (``strip_norm``)."""
    return nn.Identity()


def create_model(
    name: str,
    in_chans: int = 3,
    num_classes: int = 2,
    *,
    dropout: float = 0.0,
    drop_path: float = 0.0,
    drop_block: float = 0.0,
    batch_norm: bool = True,
    **kwargs,
) -> nn.Module:
    """Build a classifier by name.

    Args:
        name: a medtrain model (``medtrain.list_models()``) or any timm model name.
        in_chans: input channels (1 for grey images, 3 for RGB).
        num_classes: outputs of the classifier (labels for multi-label tasks).
        dropout: probability of dropping a unit of the pooled features before the classifier
            (Srivastava et al., JMLR 2014); 0 <= p < 1.
        drop_path: stochastic-depth rate inside residual networks (Huang et al., ECCV 2016).
        drop_block: DropBlock probability (Ghiasi et al., NeurIPS 2018) of a ResNet-family network: timm's
            ``drop_block_rate``, a ``DropBlock2d`` in every block of the last two stages (blocks of 5 and 3 pixels,
            clamped to the feature map's size); other networks are refused (:data:`DROP_BLOCK_TAKERS`).
        batch_norm: False builds the same architecture with every BatchNorm replaced by identity.
        **kwargs: passed to the builder. Two are medtrain's own: ``input_size`` (pixels; the zoo
            adapts stems when it is <= 64, see ``medtrain.models.zoo``; a timm network of fixed input
            size, a ViT, is built at it; builders that do not take it, and other timm names, ignore it) and ``separable`` (True converts every standard k x k
            convolution to depthwise + pointwise, see ``medtrain.models.separable``; the name suffix
            ``-separable`` does the same).

    Returns:
        an ``nn.Module`` mapping ``(B, in_chans, H, W)`` (3D networks: ``(B, in_chans, D, H, W)``) to
        ``(B, num_classes)`` logits.
    """
    if not 0.0 <= dropout < 1.0:
        raise MedtrainError(f"dropout must be in [0, 1), got {dropout}")
    if not 0.0 <= drop_path < 1.0:
        raise MedtrainError(f"drop_path must be in [0, 1), got {drop_path}")
    if not 0.0 <= drop_block < 1.0:
        raise MedtrainError(f"drop_block must be in [0, 1), got {drop_block}")
    if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1 for n in (in_chans, num_classes)):
        raise MedtrainError(f"in_chans and num_classes must be integers >= 1, got {in_chans!r}, {num_classes!r}")
    in_chans, num_classes = int(in_chans), int(num_classes)
    opts = dict(kwargs)
    separable = bool(opts.pop("separable", False))
    if name.endswith(SEPARABLE_SUFFIX):
        name, separable = name[: -len(SEPARABLE_SUFFIX)], True
    input_size = opts.pop("input_size", None)
    if drop_block:
        check_drop_block(name)
        opts["drop_block_rate"] = drop_block
    try:
        model = _build(name, in_chans, num_classes, input_size, dropout, drop_path, batch_norm, opts)
    except NoBatchNorm as e:  # (from strip_norm, wherever the network was built)
        raise BatchNormAbsent(f"--no-batch-norm: {name} {e}; train it without --no-batch-norm") from None
    if separable:
        from medtrain.models.separable import to_separable

        to_separable(model)  # in place
    return model


SEPARABLE_SUFFIX = "-separable"

#: The zoo families built as timm's ``ResNet``, whose blocks take DropBlock (``drop_block_rate``).
DROP_BLOCK_FAMILIES = ("ResNet", "ResNeXt", "Wide ResNet")
#: What the refusal of ``drop_block`` names as taking it.
DROP_BLOCK_TAKERS = ("the 28 px ResNets (resnet18_28_half, resnet18_28, ...), the zoo's ResNet, ResNeXt and Wide "
                     "ResNet, and timm's ResNet family (resnet*, resnext*, seresnet*, ecaresnet*)")


def takes_drop_block(name: str) -> bool:
    """Whether ``name`` (without ``-separable``) is built as timm's ``ResNet``, whose blocks take DropBlock: medtrain's
    28 px ResNets, the zoo's ResNet/ResNeXt/Wide ResNet families and the timm names of ``timm.models.resnet``."""
    if _registry.is_registered(name):
        builder = _registry.get_builder(name)
        return builder.__module__ == resnet28.__name__ or getattr(builder, "family", None) in DROP_BLOCK_FAMILIES
    import timm
    from timm.models import model_entrypoint

    return name in timm.list_models() and model_entrypoint(name).__module__ == "timm.models.resnet"


def check_drop_block(name: str) -> None:
    """Refuse ``drop_block`` for a network that is not a timm ResNet, in one line naming those that take it."""
    if not takes_drop_block(name):
        check_model_name(name)  # an unknown name is said as such, with the nearest ones
        raise MedtrainError(f"model {name} does not support drop_block (DropBlock is placed in the last two stages "
                            f"of a ResNet's blocks); networks that take it: {DROP_BLOCK_TAKERS}")


class BatchNormAbsent(MedtrainError):
    """``batch_norm=False`` for a network with no batch norm to remove: ``train`` checks it before reading its data."""


def _build(name, in_chans, num_classes, input_size, dropout, drop_path, batch_norm, opts) -> nn.Module:
    if dropout:
        opts["drop_rate"] = dropout
    if drop_path:
        opts["drop_path_rate"] = drop_path
    if _registry.is_registered(name):
        builder = _registry.get_builder(name)
        if not batch_norm:  # medtrain's builders remove their batch norms themselves
            opts["norm_layer"] = _no_norm
        if input_size is not None and "input_size" in inspect.signature(builder).parameters:
            opts["input_size"] = input_size
        try:
            return builder(in_chans=in_chans, num_classes=num_classes, **opts)
        except TypeError as e:  # an option the builder has no parameter for (its own errors are not TypeErrors)
            raise MedtrainError(f"model {name} does not support these options: {e}") from None
    import timm

    if name in timm.list_models():
        # Built as it is, its batch norms removed afterwards: timm's own ``norm_layer`` is not the batch norms alone
        # (a ConvNeXt's or ViT's LayerNorms, an EfficientNet's BatchNormAct2d with its activation inside), and
        # some constructors touch a batch norm's weight (a RegNet's zero-initialised last one).
        model = _timm_model(name, in_chans, num_classes, input_size, opts)
        return model if batch_norm else strip_norm(model)
    raise suggest(name, list_models(), "model", listed_by=ZOO_LISTED)


def _timm_model(name, in_chans, num_classes, input_size, opts) -> nn.Module:
    import timm

    sized = _at_input_size(name, input_size, opts)
    try:
        if sized is not opts:
            try:
                return timm.create_model(name, pretrained=False, in_chans=in_chans, num_classes=num_classes, **sized)
            except TypeError:  # an entry point without img_size: built at its own size (and refused at others)
                pass
        return timm.create_model(name, pretrained=False, in_chans=in_chans, num_classes=num_classes, **opts)
    except TypeError as e:
        raise MedtrainError(f"model {name} does not support these options: {e}") from None


def _at_input_size(name: str, input_size, opts: dict) -> dict:
    """``opts`` with ``img_size=input_size`` for a timm network of fixed input size (ViT, DeiT, Swin, BEiT, EVA,
    ...: ``fixed_input_size`` in its pretrained config) at another size: timm sizes its position embeddings (and
    windows) by ``img_size``, so it is built for the run's images (it had asserted its own 224 px on the first
    batch); ``opts`` itself otherwise. A run's network is rebuilt so from its config and weights' ``input_size``."""
    if input_size is None or "img_size" in opts:
        return opts
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    own = tuple(getattr(cfg, "input_size", None) or ())[-2:]
    if cfg is None or not getattr(cfg, "fixed_input_size", False) or own == (input_size, input_size):
        return opts
    return {**opts, "img_size": int(input_size)}


#: The batch norms both rules of ``batch_norm=False`` removed alike: exactly these classes, not their subclasses.
PLAIN_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_NORM_NAME = re.compile(r"Norm(\d+d?|Act\d*d?|Fp32)?$")  # LayerNorm2d, RmsNorm, GroupNorm1, BatchNormAct2d, EvoNorm...


def _is_norm(m: nn.Module) -> bool:
    norms = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, *(
        (nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()))
    return isinstance(m, norms) or (bool(_NORM_NAME.search(type(m).__name__))  # (not timm's ConvNormAct block)
                                    and not any(isinstance(c, nn.modules.conv._ConvNd) for c in m.children()))


def old_no_batch_norm_removed(name: str, in_chans: int = 3, num_classes: int = 2,
                              input_size=None) -> tuple[list[str], bool] | None:
    """What ``batch_norm=False`` removed from the timm network ``name`` (outside medtrain's registry) before the
    rule of BatchNorms alone (2026-12-07), beyond what it removes now, where the two rules built different networks:
    ``(kinds, has_batch_norm)``, ``kinds`` the class names of its normalisation layers other than plain
    ``nn.BatchNorm1d/2d/3d`` (an EfficientNet's ``BatchNormAct2d``, which took its activation with it; a ConvNeXt's
    ``LayerNorm2d``), sorted: timm had been given a ``norm_layer`` of identity, which each of them was built with.
    A network without BatchNorm (which this version refuses) is ``(kinds, False)``, ``kinds`` possibly empty.
    None where both rules built the same network: a registered name (medtrain's builders remove their batch norms
    themselves), a timm network whose only norms are plain BatchNorms, a name neither knows. Decided from the
    network built as it is (on the CPU, its initial weights discarded)."""
    base = name[: -len(SEPARABLE_SUFFIX)] if name.endswith(SEPARABLE_SUFFIX) else name
    if _registry.is_registered(base) or base == "auto":
        return None
    import timm

    if base not in timm.list_models():
        return None
    model = _timm_model(base, int(in_chans), int(num_classes), input_size, {})
    kinds = sorted({type(m).__name__ for m in model.modules() if _is_norm(m) and type(m) not in PLAIN_BATCH_NORMS})
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    return (kinds, has_bn) if kinds or not has_bn else None


def list_models() -> list[str]:
    """medtrain's own registered model names (any timm name is accepted too)."""
    return _registry.registered_names()


# The default recipe's networks, by the number of spatial dimensions of the data (``--model auto``):
# the half-width MedMNIST ResNet-18 for images; for volumes MedicalNet's ResNet-10, whose 7x7x7/2 stem
# and max-pool make a 28^3 epoch take seconds on a CPU where an inflated 2D ResNet takes minutes.
DEFAULT_MODELS = {2: "resnet18_28_half", 3: "med3d_resnet10"}


def default_model(spatial_dims: int) -> str:
    return DEFAULT_MODELS[spatial_dims]


def check_model_name(name: str) -> None:
    """Raise the 'unknown model' error (with the nearest names) unless ``create_model`` knows ``name``."""
    if name == "auto":
        return
    base = name[: -len(SEPARABLE_SUFFIX)] if name.endswith(SEPARABLE_SUFFIX) else name
    if _registry.is_registered(base):
        return
    import timm

    if base not in timm.list_models():
        raise suggest(name, list_models(), "model", listed_by=ZOO_LISTED)
