"""The zoo's timm families: VGG, ResNet, ResNeXt, Wide ResNet, DenseNet, the Inceptions, Xception and
the mobile networks (MobileNet v1/v2/v3, MNASNet).

Every builder is timm's model (``pretrained=False``) with, for ``input_size <= 64``, the stem adaptation
of :mod:`medtrain.models._small_input`; see :mod:`medtrain.models.zoo` for the table and the options.
"""
from __future__ import annotations

from typing import Optional

import torch.nn as nn

from medtrain.models._small_input import (
    adapt_densenet,
    adapt_inception_resnet_v2,
    adapt_inception_v3,
    adapt_mobile,
    adapt_resnet,
    adapt_vgg,
    adapt_xception,
)
from medtrain.models._zoo import build_timm, register_family


# ----------------------------------------------------------------------------------------------
# VGG (Simonyan & Zisserman, ICLR 2015)
# ----------------------------------------------------------------------------------------------

def _vgg(name: str, in_chans, num_classes, input_size, kwargs) -> nn.Module:
    return build_timm(name, name, in_chans, num_classes, kwargs, adapt_vgg, input_size)


_VGG_PAPER = "Simonyan & Zisserman, ICLR 2015 (configurations A, B, D, E); _bn: Ioffe & Szegedy, ICML 2015"


@register_family("VGG", "timm", _VGG_PAPER)
def vgg11(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """VGG-11 (configuration A)."""
    return _vgg("vgg11", in_chans, num_classes, input_size, kwargs)


@register_family("VGG", "timm", _VGG_PAPER)
def vgg11_bn(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """VGG-11 with batch norm after every convolution."""
    return _vgg("vgg11_bn", in_chans, num_classes, input_size, kwargs)


@register_family("VGG", "timm", _VGG_PAPER)
def vgg13(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """VGG-13 (configuration B)."""
    return _vgg("vgg13", in_chans, num_classes, input_size, kwargs)


@register_family("VGG", "timm", _VGG_PAPER)
def vgg13_bn(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """VGG-13 with batch norm."""
    return _vgg("vgg13_bn", in_chans, num_classes, input_size, kwargs)


@register_family("VGG", "timm", _VGG_PAPER)
def vgg16(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """VGG-16 (configuration D)."""
    return _vgg("vgg16", in_chans, num_classes, input_size, kwargs)


@register_family("VGG", "timm", _VGG_PAPER)
def vgg16_bn(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """VGG-16 with batch norm."""
    return _vgg("vgg16_bn", in_chans, num_classes, input_size, kwargs)


@register_family("VGG", "timm", _VGG_PAPER)
def vgg19(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """VGG-19 (configuration E)."""
    return _vgg("vgg19", in_chans, num_classes, input_size, kwargs)


@register_family("VGG", "timm", _VGG_PAPER)
def vgg19_bn(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """VGG-19 with batch norm."""
    return _vgg("vgg19_bn", in_chans, num_classes, input_size, kwargs)


# ----------------------------------------------------------------------------------------------
# ResNet, ResNeXt, Wide ResNet (He et al., CVPR 2016; Xie et al., CVPR 2017; Zagoruyko & Komodakis, BMVC 2016)
# ----------------------------------------------------------------------------------------------
_RESNET_PAPER = "He et al., CVPR 2016 (timm/torchvision 'v1.5': stride on the 3x3 conv of bottlenecks)"


def _resnet(name, in_chans, num_classes, input_size, kwargs) -> nn.Module:
    return build_timm(name, name, in_chans, num_classes, kwargs, adapt_resnet, input_size, drop_path_ok=True)


@register_family("ResNet", "timm", _RESNET_PAPER)
def resnet18(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ResNet-18 (basic blocks 2-2-2-2); at ``input_size <= 64`` the same network as ``resnet18_28``."""
    return _resnet("resnet18", in_chans, num_classes, input_size, kwargs)


@register_family("ResNet", "timm", _RESNET_PAPER)
def resnet34(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ResNet-34 (basic blocks 3-4-6-3)."""
    return _resnet("resnet34", in_chans, num_classes, input_size, kwargs)


@register_family("ResNet", "timm", _RESNET_PAPER)
def resnet50(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ResNet-50 (bottlenecks 3-4-6-3); v1.5: 4.1 GMACs at 224 where the paper's v1 has 3.8."""
    return _resnet("resnet50", in_chans, num_classes, input_size, kwargs)


@register_family("ResNet", "timm", _RESNET_PAPER)
def resnet101(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ResNet-101 (bottlenecks 3-4-23-3)."""
    return _resnet("resnet101", in_chans, num_classes, input_size, kwargs)


@register_family("ResNet", "timm", _RESNET_PAPER)
def resnet152(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ResNet-152 (bottlenecks 3-8-36-3)."""
    return _resnet("resnet152", in_chans, num_classes, input_size, kwargs)


_RESNEXT_PAPER = "Xie et al., CVPR 2017 (aggregated residual transformations, cardinality x width)"


@register_family("ResNeXt", "timm", _RESNEXT_PAPER)
def resnext50_32x4d(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ResNeXt-50 32x4d: 32 groups of width 4 in every 3x3 convolution."""
    return _resnet("resnext50_32x4d", in_chans, num_classes, input_size, kwargs)


@register_family("ResNeXt", "timm", _RESNEXT_PAPER)
def resnext101_32x4d(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ResNeXt-101 32x4d (the paper's ResNeXt-101)."""
    return _resnet("resnext101_32x4d", in_chans, num_classes, input_size, kwargs)


@register_family("ResNeXt", "timm", _RESNEXT_PAPER)
def resnext101_32x8d(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ResNeXt-101 32x8d (torchvision's ResNeXt-101)."""
    return _resnet("resnext101_32x8d", in_chans, num_classes, input_size, kwargs)


_WRN_PAPER = "Zagoruyko & Komodakis, BMVC 2016 (ImageNet WRN-50-2: bottleneck width doubled)"


@register_family("Wide ResNet", "timm", _WRN_PAPER)
def wide_resnet50_2(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """Wide ResNet-50-2: ResNet-50 with twice the bottleneck width."""
    return _resnet("wide_resnet50_2", in_chans, num_classes, input_size, kwargs)


@register_family("Wide ResNet", "timm", _WRN_PAPER)
def wide_resnet101_2(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """Wide ResNet-101-2."""
    return _resnet("wide_resnet101_2", in_chans, num_classes, input_size, kwargs)


# ----------------------------------------------------------------------------------------------
# DenseNet (Huang et al., CVPR 2017)
# ----------------------------------------------------------------------------------------------

_DENSENET_PAPER = "Huang et al., CVPR 2017 (DenseNet-BC, growth rate 32; 161: growth 48)"


def _densenet(name, in_chans, num_classes, input_size, kwargs) -> nn.Module:
    return build_timm(name, name, in_chans, num_classes, kwargs, adapt_densenet, input_size)


@register_family("DenseNet", "timm", _DENSENET_PAPER)
def densenet121(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """DenseNet-121 (blocks of 6-12-24-16 layers)."""
    return _densenet("densenet121", in_chans, num_classes, input_size, kwargs)


@register_family("DenseNet", "timm", _DENSENET_PAPER)
def densenet161(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """DenseNet-161 (6-12-36-24, growth rate 48)."""
    return _densenet("densenet161", in_chans, num_classes, input_size, kwargs)


@register_family("DenseNet", "timm", _DENSENET_PAPER)
def densenet169(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """DenseNet-169 (6-12-32-32)."""
    return _densenet("densenet169", in_chans, num_classes, input_size, kwargs)


@register_family("DenseNet", "timm", _DENSENET_PAPER)
def densenet201(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """DenseNet-201 (6-12-48-32)."""
    return _densenet("densenet201", in_chans, num_classes, input_size, kwargs)


# ----------------------------------------------------------------------------------------------
# Inception v3, Inception-ResNet v2, Xception
# ----------------------------------------------------------------------------------------------

@register_family("Inception v3", "timm", "Szegedy et al., CVPR 2016 (designed for 299 px)")
def inception_v3(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """Inception v3 (factorised 7x7 into 1x7 + 7x1); stock needs >= 75 px inputs."""
    return build_timm("inception_v3", "inception_v3", in_chans, num_classes, kwargs, adapt_inception_v3, input_size)


@register_family("Inception-ResNet v2", "timm", "Szegedy et al., AAAI 2017 (designed for 299 px)")
def inception_resnet_v2(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """Inception-ResNet v2: Inception modules with residual connections."""
    return build_timm(
        "inception_resnet_v2", "inception_resnet_v2", in_chans, num_classes, kwargs, adapt_inception_resnet_v2, input_size
    )


@register_family("Xception", "timm", "Chollet, CVPR 2017 (timm legacy_xception; designed for 299 px)")
def xception(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """Xception: Inception modules taken to the limit, i.e. depthwise-separable convolutions."""
    return build_timm("xception", "legacy_xception", in_chans, num_classes, kwargs, adapt_xception, input_size)


# ----------------------------------------------------------------------------------------------
# Mobile networks (MobileNet v1/v2/v3, MNASNet)
# ----------------------------------------------------------------------------------------------

def _mobile(name, timm_name, in_chans, num_classes, input_size, kwargs, entrypoint=None) -> nn.Module:
    return build_timm(
        name, timm_name, in_chans, num_classes, kwargs, adapt_mobile, input_size, drop_path_ok=True, entrypoint=entrypoint
    )


_MOBILENET_V1_PAPER = "Howard et al., arXiv:1704.04861 (2017); width multiplier alpha on every layer"


def _mobilenet_v1(name: str, alpha: float, in_chans, num_classes, input_size, kwargs) -> nn.Module:
    # timm's mobilenetv1_100 is the paper's network (3x3/2 stem of 32, 13 depthwise-separable
    # blocks, 1024 features, ReLU6 for ReLU); channel_multiplier scales every layer as alpha does.
    # timm registers only the 1.0 and 1.25 widths, so its generator is called directly.
    from functools import partial

    from timm.models.efficientnet import _gen_mobilenet_v1

    gen = partial(_gen_mobilenet_v1, channel_multiplier=alpha)
    return _mobile(name, "mobilenetv1_100", in_chans, num_classes, input_size, kwargs, entrypoint=gen)


@register_family("MobileNet v1", "timm", _MOBILENET_V1_PAPER)
def mobilenetv1_025(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """MobileNet v1, width multiplier 0.25."""
    return _mobilenet_v1("mobilenetv1_025", 0.25, in_chans, num_classes, input_size, kwargs)


@register_family("MobileNet v1", "timm", _MOBILENET_V1_PAPER)
def mobilenetv1_050(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """MobileNet v1, width multiplier 0.5."""
    return _mobilenet_v1("mobilenetv1_050", 0.5, in_chans, num_classes, input_size, kwargs)


@register_family("MobileNet v1", "timm", _MOBILENET_V1_PAPER)
def mobilenetv1_075(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """MobileNet v1, width multiplier 0.75."""
    return _mobilenet_v1("mobilenetv1_075", 0.75, in_chans, num_classes, input_size, kwargs)


@register_family("MobileNet v1", "timm", _MOBILENET_V1_PAPER)
def mobilenetv1_100(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """MobileNet v1 1.0 (569M multiply-adds, 4.2M parameters at 224 px in the paper)."""
    return _mobilenet_v1("mobilenetv1_100", 1.0, in_chans, num_classes, input_size, kwargs)


@register_family("MobileNet v2", "timm", "Sandler et al., CVPR 2018 (inverted residuals, linear bottlenecks)")
def mobilenetv2_100(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """MobileNet v2 1.0."""
    return _mobile("mobilenetv2_100", "mobilenetv2_100", in_chans, num_classes, input_size, kwargs)


_MOBILENET_V3_PAPER = "Howard et al., ICCV 2019 (NAS + squeeze-excite + hard-swish)"


@register_family("MobileNet v3", "timm", _MOBILENET_V3_PAPER)
def mobilenetv3_small_100(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """MobileNet v3 Small 1.0."""
    return _mobile("mobilenetv3_small_100", "mobilenetv3_small_100", in_chans, num_classes, input_size, kwargs)


@register_family("MobileNet v3", "timm", _MOBILENET_V3_PAPER)
def mobilenetv3_large_100(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """MobileNet v3 Large 1.0."""
    return _mobile("mobilenetv3_large_100", "mobilenetv3_large_100", in_chans, num_classes, input_size, kwargs)


@register_family("MNASNet", "timm", "Tan et al., CVPR 2019 (MnasNet-B1, as timm's and torchvision's mnasnet 1.0)")
def mnasnet_100(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """MNASNet-B1 1.0 (platform-aware architecture search; no squeeze-excite)."""
    return _mobile("mnasnet_100", "mnasnet_100", in_chans, num_classes, input_size, kwargs)
