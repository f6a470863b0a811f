"""ResNets for 28x28 inputs, as in the MedMNIST benchmark.

Yang et al., "MedMNIST v2", Scientific Data 2023: ResNet-18/50 (He et al., CVPR 2016) whose stem is a
3x3 stride-1 convolution with no max-pool, so a 28 px image keeps a 28x28 map in the first stage
(the stock 7x7/2 stem + max-pool would shrink it to 7x7 before any residual block). Built on timm's
ResNet so that dropout, drop-path and normalisation options work as for every timm model.
"""
from __future__ import annotations

import torch.nn as nn
from timm.models.resnet import BasicBlock, Bottleneck, ResNet

from medtrain.models._registry import register_model


def _small_input_resnet(block, layers, in_chans, num_classes, channels=(64, 128, 256, 512), **kwargs) -> ResNet:
    model = ResNet(block, layers, num_classes=num_classes, in_chans=in_chans, channels=channels, **kwargs)
    stem_width = 64  # timm's first stage always takes 64 channels from a plain stem
    # Replace timm's 7x7/2 stem and max-pool by the benchmark's 3x3/1 stem.
    model.conv1 = nn.Conv2d(in_chans, stem_width, kernel_size=3, stride=1, padding=1, bias=False)
    norm_layer = kwargs.get("norm_layer", nn.BatchNorm2d)
    model.bn1 = norm_layer(stem_width)
    model.maxpool = nn.Identity()
    model.pretrained_cfg = dict(input_size=(in_chans, 28, 28), first_conv="conv1", classifier="fc")
    return model


@register_model
def resnet18_28(in_chans: int = 3, num_classes: int = 2, **kwargs) -> ResNet:
    """ResNet-18 with the MedMNIST 28 px stem ("ResNet-18 (28)" in the MedMNIST v2 tables)."""
    return _small_input_resnet(BasicBlock, (2, 2, 2, 2), in_chans, num_classes, **kwargs)


@register_model
def resnet50_28(in_chans: int = 3, num_classes: int = 2, **kwargs) -> ResNet:
    """ResNet-50 with the MedMNIST 28 px stem ("ResNet-50 (28)" in the MedMNIST v2 tables)."""
    return _small_input_resnet(Bottleneck, (3, 4, 6, 3), in_chans, num_classes, **kwargs)


@register_model
def resnet18_28_half(in_chans: int = 3, num_classes: int = 2, **kwargs) -> ResNet:
    """ResNet-18 (28) with half-width stages (32-64-128-256 channels): 27% of the multiplications at 28 px.

    The 3x3 stem keeps timm's 64 channels, so the first block of stage 1 narrows 64 -> 32 through a 1x1
    projection shortcut (resnet18_28's first block has an identity shortcut there)."""
    return _small_input_resnet(BasicBlock, (2, 2, 2, 2), in_chans, num_classes, channels=(32, 64, 128, 256), **kwargs)


@register_model
def resnet10_28_half(in_chans: int = 3, num_classes: int = 2, **kwargs) -> ResNet:
    """ResNet-10 (one block per stage) with half-width stages (32-64-128-256) after the 28 px stem's 64
    channels, as ``resnet18_28_half``: fast on a CPU."""
    return _small_input_resnet(BasicBlock, (1, 1, 1, 1), in_chans, num_classes, channels=(32, 64, 128, 256), **kwargs)
