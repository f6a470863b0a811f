"""Depthwise-separable conversion of any CNN.

Howard et al., "MobileNets", arXiv:1704.04861 (2017), section 3.1: a standard D_K x D_K convolution
from M to N channels on a D_G x D_G map costs D_K^2 M N D_G^2 multiply-adds; a depthwise D_K x D_K
convolution (one filter per input channel) followed by a pointwise 1x1 convolution costs
D_K^2 M D_G^2 + M N D_G^2, i.e. 1/N + 1/D_K^2 of it (8-9x less for 3x3). Chollet's Xception
(CVPR 2017) uses the same factorisation without a non-linearity in between; MobileNet puts
batch norm + ReLU between the two. :func:`to_separable` does either to every standard convolution
of a built model, so that any architecture can be compared with its separable twin
(``create_model("resnet18_28-separable")``).
"""
from __future__ import annotations

from collections import OrderedDict

import torch.nn as nn


class SeparableConv2d(nn.Sequential):
    """Depthwise k x k convolution (groups = C_in) then pointwise 1x1, replacing one standard conv.

    Args:
        conv: the standard convolution replaced; stride, padding, dilation and padding mode go to the
            depthwise part, the bias (if any) to the pointwise part.
        norm_act: put BatchNorm + ReLU between the two parts, as MobileNet does (default: none,
            as Xception, so the pair is a pure factorisation of the original linear map).
    """

    def __init__(self, conv: nn.Conv2d, norm_act: bool = False):
        m, n = conv.in_channels, conv.out_channels
        layers = [
            (
                "conv_dw",
                nn.Conv2d(
                    m,
                    m,
                    conv.kernel_size,
                    stride=conv.stride,
                    padding=conv.padding,
                    dilation=conv.dilation,
                    groups=m,
                    bias=False,
                    padding_mode=conv.padding_mode,
                ),
            )
        ]
        if norm_act:
            layers += [("bn_dw", nn.BatchNorm2d(m)), ("act_dw", nn.ReLU(inplace=True))]
        layers.append(("conv_pw", nn.Conv2d(m, n, 1, bias=conv.bias is not None)))
        super().__init__(OrderedDict(layers))


def is_standard_conv(module: nn.Module) -> bool:
    """A plain ``nn.Conv2d`` with a kernel larger than 1x1 and no grouping: what gets converted.

    Subclasses (timm's ``Conv2dSame`` with dynamic padding, weight-standardised convs) are left alone:
    their forward is not ``nn.Conv2d``'s, so a plain depthwise replacement would change the maths.
    """
    return type(module) is nn.Conv2d and module.groups == 1 and max(module.kernel_size) > 1


def to_separable(model: nn.Module, norm_act: bool = False) -> list[str]:
    """Replace, in place, every standard k x k convolution of ``model`` by :class:`SeparableConv2d`.

    Grouped and depthwise convolutions (ResNeXt, MobileNet) and 1x1 convolutions stay as they are.
    The new layers are freshly initialised; the output shape of every replaced layer is unchanged.

    Args:
        model: a built network.
        norm_act: BatchNorm + ReLU between depthwise and pointwise parts (MobileNet style).

    Returns:
        The replaced layers' names (as ``model.named_modules`` gives them), in module order.
    """
    converted = []
    for parent_name, parent in list(model.named_modules()):
        if isinstance(parent, SeparableConv2d):
            continue
        for child_name, child in list(parent.named_children()):
            if is_standard_conv(child):
                setattr(parent, child_name, SeparableConv2d(child, norm_act=norm_act))
                converted.append(f"{parent_name}.{child_name}" if parent_name else child_name)
    return converted
