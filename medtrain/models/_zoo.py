"""Plumbing shared by the zoo's builders: family registration, option checks, stem surgery helpers.

Private to ``medtrain.models``: the families live in :mod:`medtrain.models.zoo_timm` and
:mod:`medtrain.models.zoo_torchvision`, the small-input stem adaptations in
:mod:`medtrain.models._small_input`, and :mod:`medtrain.models.zoo` gathers them.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import torch.nn as nn

from medtrain.errors import MedtrainError
from medtrain.models._registry import register_model

SMALL_INPUT = 64
"""Inputs up to this many pixels get the adapted stem (see :mod:`medtrain.models.zoo`)."""

FAMILIES: Dict[str, dict] = {}
"""Family name -> ``{"names": [...], "source": "timm"|"torchvision", "paper": str}``."""


def register_family(family: str, source: str, paper: str) -> Callable[[Callable], Callable]:
    """Register a builder and file it under its family (for ``medtrain models``)."""

    def wrap(fn: Callable) -> Callable:
        entry = FAMILIES.setdefault(family, {"names": [], "source": source, "paper": paper})
        entry["names"].append(fn.__name__)
        fn.family = family
        return register_model(fn)

    return wrap


def family_of(name: str) -> Optional[str]:
    """The zoo family of a registered name, or None."""
    for family, entry in FAMILIES.items():
        if name in entry["names"]:
            return family
    return None


def small(input_size: Optional[int]) -> bool:
    """Whether ``input_size`` gets the adapted small-input stem."""
    return input_size is not None and input_size <= SMALL_INPUT


class NoBatchNorm(MedtrainError):
    """``batch_norm=False`` (``--no-batch-norm``) given a network that has no BatchNorm to remove (``model``): the
    message names the norms it has, which are kept; :func:`medtrain.models.factory.create_model` adds its name."""

    def __init__(self, model: nn.Module):
        kinds = sorted({type(m).__name__ for m in model.modules()
                        if isinstance(m, (nn.LayerNorm, nn.GroupNorm)) or type(m).__name__.startswith("LayerNorm")})
        kept = f" (its {', '.join(kinds)} layers are not batch norms and are never removed)" if kinds else ""
        super().__init__(f"has no BatchNorm layers to remove{kept}")


def strip_norm(model: nn.Module) -> nn.Module:
    """Replace every batch norm by identity; timm's norm+act layers keep their activation (and their dropout).
    Other normalisation layers (LayerNorm, GroupNorm) stay. A network without any BatchNorm is refused
    (:class:`NoBatchNorm`): removing nothing would train the network with its own norms as if it were the ablation."""
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise NoBatchNorm(model)
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                act = getattr(child, "act", None)  # timm BatchNormAct2d fuses the activation
                drop = getattr(child, "drop", None)
                keep = [m for m in (drop, act) if isinstance(m, nn.Module) and not isinstance(m, nn.Identity)]
                setattr(parent, child_name, nn.Sequential(*keep) if keep else nn.Identity())
    return model


def conv_like(conv: nn.Conv2d, in_chans: int, kernel_size=None, stride=None, padding=None) -> nn.Conv2d:
    """A fresh convolution like ``conv`` with other input channels and, optionally, geometry."""
    return nn.Conv2d(
        in_chans,
        conv.out_channels,
        kernel_size=kernel_size if kernel_size is not None else conv.kernel_size,
        stride=stride if stride is not None else conv.stride,
        padding=padding if padding is not None else conv.padding,
        bias=conv.bias is not None,
    )


def fit_stem(conv: nn.Conv2d, in_chans: int, small_input: bool, **small_geometry) -> nn.Conv2d:
    """The first convolution for ``in_chans`` channels: with ``small_geometry`` (kernel_size, stride,
    padding) for small inputs, a fresh one for other channel counts, else ``conv`` itself."""
    if small_input:
        return conv_like(conv, in_chans, **small_geometry)
    return conv_like(conv, in_chans) if in_chans != 3 else conv


def restride(conv: nn.Conv2d, stride: int = 1, padding: Optional[int] = None) -> None:
    """Change a convolution's stride/padding in place (the weights' shape does not depend on them)."""
    conv.stride = (stride, stride)
    if padding is not None:
        conv.padding = (padding, padding)


def split_opts(kwargs: dict, name: str, drop_path_ok: bool):
    """Pop medtrain's generic options from ``kwargs``: (strip_norm, drop_rate)."""
    strip = kwargs.pop("norm_layer", None) is not None  # create_model's batch_norm=False
    drop_rate = kwargs.pop("drop_rate", None)
    if kwargs.get("drop_path_rate") and not drop_path_ok:
        raise MedtrainError(f"model {name} does not support drop_path (no residual branches to drop)")
    return strip, drop_rate


def build_timm(
    name: str,
    timm_name: str,
    in_chans: int,
    num_classes: int,
    kwargs: dict,
    adapt: Optional[Callable[[nn.Module], None]],
    input_size: Optional[int],
    drop_path_ok: bool = False,
    entrypoint: Optional[Callable] = None,
) -> nn.Module:
    import timm

    strip, drop_rate = split_opts(kwargs, name, drop_path_ok)
    if drop_rate is not None:
        kwargs["drop_rate"] = drop_rate
    try:
        model = (entrypoint or timm.create_model)(
            timm_name, pretrained=False, in_chans=in_chans, num_classes=num_classes, **kwargs
        )
    except TypeError as e:
        raise MedtrainError(f"model {name} does not support these options: {e}") from None
    if small(input_size) and adapt is not None:
        adapt(model)
    return strip_norm(model) if strip else model


def build_torchvision(name: str, kwargs: dict, build: Callable[[Optional[float]], nn.Module]) -> tuple:
    """Check options for a torchvision family and build it; returns (model, strip_norm, drop_rate)."""
    strip, drop_rate = split_opts(kwargs, name, drop_path_ok=False)
    if kwargs:
        raise MedtrainError(f"model {name} does not support options: {', '.join(sorted(kwargs))}")
    return build(drop_rate), strip, drop_rate
