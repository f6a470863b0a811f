"""The zoo's torchvision families, which timm lacks: AlexNet, SqueezeNet, GoogLeNet, ShuffleNet v2.

See :mod:`medtrain.models.zoo` for the small-input adaptations and the options. The classes are
torchvision's with timm's classifier interface added (:mod:`medtrain.models._tv_interface`), so custom
heads, MC dropout and CAM treat them like the timm families; parameter names are torchvision's.
"""
from __future__ import annotations

from typing import Optional

import torch.nn as nn

from medtrain.models._zoo import build_torchvision, fit_stem, register_family, small, strip_norm


# ----------------------------------------------------------------------------------------------
# AlexNet (Krizhevsky et al., NeurIPS 2012)
# ----------------------------------------------------------------------------------------------


@register_family("AlexNet", "torchvision", "Krizhevsky et al., NeurIPS 2012 (one-tower 'one weird trick' variant, arXiv:1404.5997)")
def alexnet(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """AlexNet as in torchvision (timm has none): the single-tower variant of Krizhevsky (2014).

    64-192-384-256-256 channels, no local response norm; the paper's dropout (0.5) in the 4096-4096 classifier
    with ``dropout=0.5`` (the run's ``--dropout``; 0 by default, as for every network).
    """
    from medtrain.models._tv_interface import AlexNet

    model, strip, _ = build_torchvision("alexnet", kwargs, lambda p: AlexNet(num_classes, dropout=p or 0.0))
    model.features[0] = fit_stem(model.features[0], in_chans, small(input_size), kernel_size=3, stride=1, padding=1)
    return strip_norm(model) if strip else model


# ----------------------------------------------------------------------------------------------
# SqueezeNet, GoogLeNet (torchvision: not in timm)
# ----------------------------------------------------------------------------------------------


def _squeezenet(name: str, version: str, in_chans, num_classes, input_size, kwargs) -> nn.Module:
    from medtrain.models._tv_interface import SqueezeNet

    model, strip, _ = build_torchvision(
        name, kwargs, lambda p: SqueezeNet(version, num_classes=num_classes, dropout=p or 0.0)
    )
    model.features[0] = fit_stem(model.features[0], in_chans, small(input_size), kernel_size=3, stride=1, padding=1)
    return strip_norm(model) if strip else model


_SQUEEZENET_PAPER = "Iandola et al., arXiv:1602.07360 (2016); 1.1 from the SqueezeNet v1.1 release"


@register_family("SqueezeNet", "torchvision", _SQUEEZENET_PAPER)
def squeezenet1_0(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """SqueezeNet 1.0: fire modules (1x1 squeeze, 1x1 + 3x3 expand), AlexNet accuracy at 1.2M parameters."""
    return _squeezenet("squeezenet1_0", "1_0", in_chans, num_classes, input_size, kwargs)


@register_family("SqueezeNet", "torchvision", _SQUEEZENET_PAPER)
def squeezenet1_1(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """SqueezeNet 1.1: 3x3 stem and earlier pooling, 2.4x fewer multiplications than 1.0."""
    return _squeezenet("squeezenet1_1", "1_1", in_chans, num_classes, input_size, kwargs)


@register_family("GoogLeNet", "torchvision", "Szegedy et al., CVPR 2015 (Inception v1; torchvision adds batch norm)")
def googlenet(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """GoogLeNet (Inception v1) without the auxiliary classifiers; torchvision's has batch norm."""
    from medtrain.models._tv_interface import GoogLeNet

    model, strip, _ = build_torchvision(
        "googlenet",
        kwargs,
        lambda p: GoogLeNet(num_classes, init_weights=True, dropout=p or 0.0),
    )
    model.conv1.conv = fit_stem(model.conv1.conv, in_chans, small(input_size), kernel_size=3, stride=1, padding=1)
    if small(input_size):
        model.maxpool1 = nn.Identity()
    return strip_norm(model) if strip else model


# ----------------------------------------------------------------------------------------------
# ShuffleNet v2 (Ma et al., ECCV 2018)
# ----------------------------------------------------------------------------------------------


def _shufflenet_v2(name: str, in_chans, num_classes, input_size, kwargs) -> nn.Module:
    from medtrain.models._tv_interface import ShuffleNetV2

    model, strip, _ = build_torchvision(name, kwargs, lambda p: ShuffleNetV2(name, num_classes, drop_rate=p or 0.0))
    model.conv1[0] = fit_stem(model.conv1[0], in_chans, small(input_size), stride=1)
    if small(input_size):
        model.maxpool = nn.Identity()
    return strip_norm(model) if strip else model


_SHUFFLENET_PAPER = "Ma et al., ECCV 2018 (channel split and shuffle)"


@register_family("ShuffleNet v2", "torchvision", _SHUFFLENET_PAPER)
def shufflenet_v2_x0_5(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ShuffleNet v2 0.5x."""
    return _shufflenet_v2("shufflenet_v2_x0_5", in_chans, num_classes, input_size, kwargs)


@register_family("ShuffleNet v2", "torchvision", _SHUFFLENET_PAPER)
def shufflenet_v2_x1_0(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ShuffleNet v2 1.0x (146M multiply-adds at 224 px)."""
    return _shufflenet_v2("shufflenet_v2_x1_0", in_chans, num_classes, input_size, kwargs)


@register_family("ShuffleNet v2", "torchvision", _SHUFFLENET_PAPER)
def shufflenet_v2_x1_5(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ShuffleNet v2 1.5x."""
    return _shufflenet_v2("shufflenet_v2_x1_5", in_chans, num_classes, input_size, kwargs)


@register_family("ShuffleNet v2", "torchvision", _SHUFFLENET_PAPER)
def shufflenet_v2_x2_0(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ShuffleNet v2 2.0x."""
    return _shufflenet_v2("shufflenet_v2_x2_0", in_chans, num_classes, input_size, kwargs)
