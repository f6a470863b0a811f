"""The architecture zoo: every classic ImageNet CNN family, for any channels, classes and input size.

Each name below is a plain builder registered with :func:`~medtrain.models._registry.register_model`
and built through :func:`medtrain.models.create_model`. timm is used wherever it has the family;
torchvision only where timm lacks it (AlexNet, SqueezeNet, GoogLeNet, ShuffleNet v2 -- marked
``source="torchvision"`` in :data:`FAMILIES`). Where a name equals a timm name (``resnet50``,
``vgg16_bn``, ...), the builder is timm's model unchanged unless ``input_size <= 64``, so nothing
timm offers is hidden: any unregistered timm name still passes through ``create_model`` to timm.

Small inputs (``input_size <= SMALL_INPUT``, e.g. the 28 px MedMNIST images): the stock stems reduce
the image 4x before the first block (a strided 7x7 or 3x3 convolution and a max-pool), leaving a
7x7 map -- or nothing: AlexNet, VGG and the Inception family fail outright at 28 px. Following the
MedMNIST ResNets (Yang et al., Scientific Data 2023; ``resnet18_28``), the builders remove that 4x
(total stride 32 becomes 8: a 28 px image ends in a 4x4 or 3x3 map; 2x2 for the Inceptions and 1x1 for
VGG, which loses only one of its five pools):

============================  =============================================================
family                        adaptation when ``input_size <= 64``
============================  =============================================================
ResNet, ResNeXt, Wide ResNet  stem 7x7/2 conv -> 3x3/1, max-pool removed (= ``resnet*_28``)
DenseNet                      the same: ``conv0`` -> 3x3/1, ``pool0`` removed
VGG                           first max-pool removed (VGG's convolutions are 3x3/1 already)
AlexNet                       ``conv1`` 11x11/4 -> 3x3/1 (its three max-pools are kept)
SqueezeNet                    ``conv1`` 7x7/2 (1.0) or 3x3/2 (1.1) -> 3x3/1
GoogLeNet                     ``conv1`` 7x7/2 -> 3x3/1, first max-pool removed
Inception v3 and -ResNet v2   first conv stride 2 -> 1, unpadded stem convs padded, first
                              max-pool removed (the stock stems need >= 75 px)
Xception                      ``conv1`` stride 2 -> 1, both stem convs padded
MobileNet v1/v2/v3, MNASNet   stem stride 2 -> 1 and the first stride-2 block -> stride 1
ShuffleNet v2                 ``conv1`` stride 2 -> 1, max-pool removed
============================  =============================================================

Options (through ``create_model``): ``dropout`` is the family's classifier dropout (AlexNet and
SqueezeNet keep the papers' 0.5 and torchvision's GoogLeNet its 0.2 unless ``dropout`` is given;
timm families default to 0; ShuffleNet v2 gets a dropout layer before ``fc`` only when asked).
``drop_path`` works for the timm ResNet/ResNeXt/WRN and MobileNet v2/v3/MNASNet families only; the
others raise :class:`~medtrain.errors.MedtrainError`. ``batch_norm=False`` replaces every batch
norm by identity (keeping the activation fused into timm's ``BatchNormAct2d``) in every family;
AlexNet, SqueezeNet and the plain VGGs have none to remove. NASNet-Mobile (Zoph et al., CVPR 2018)
is not here: neither timm nor torchvision maintains it (timm has only NASNet-A Large,
``nasnetalarge``, which passes through to timm).
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import torch.nn as nn

from medtrain.errors import MedtrainError
from medtrain.models._registry import register_model

SMALL_INPUT = 64
"""Inputs up to this many pixels get the adapted stem (see the module docstring)."""

FAMILIES: Dict[str, dict] = {}
"""Family name -> ``{"names": [...], "source": "timm"|"torchvision", "paper": str}``."""


def _family(family: str, source: str, paper: str) -> Callable[[Callable], Callable]:
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


# ----------------------------------------------------------------------------------------------
# plumbing
# ----------------------------------------------------------------------------------------------


def _small(input_size: Optional[int]) -> bool:
    return input_size is not None and input_size <= SMALL_INPUT


def _strip_norm(model: nn.Module) -> nn.Module:
    """Replace every batch norm by identity; timm's norm+act layers keep their activation."""
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                act = getattr(child, "act", None)  # timm BatchNormAct2d fuses the activation
                drop = getattr(child, "drop", None)
                keep = [m for m in (drop, act) if isinstance(m, nn.Module) and not isinstance(m, nn.Identity)]
                setattr(parent, child_name, nn.Sequential(*keep) if keep else nn.Identity())
    return model


def _conv_like(conv: nn.Conv2d, in_chans: int, kernel_size=None, stride=None, padding=None) -> nn.Conv2d:
    """A fresh convolution like ``conv`` with other input channels and, optionally, geometry."""
    return nn.Conv2d(
        in_chans,
        conv.out_channels,
        kernel_size=kernel_size if kernel_size is not None else conv.kernel_size,
        stride=stride if stride is not None else conv.stride,
        padding=padding if padding is not None else conv.padding,
        bias=conv.bias is not None,
    )


def _restride(conv: nn.Conv2d, stride: int = 1, padding: Optional[int] = None) -> None:
    """Change a convolution's stride/padding in place (the weights' shape does not depend on them)."""
    conv.stride = (stride, stride)
    if padding is not None:
        conv.padding = (padding, padding)


def _split_opts(kwargs: dict, name: str, drop_path_ok: bool):
    """Pop medtrain's generic options from ``kwargs``: (strip_norm, drop_rate)."""
    strip = kwargs.pop("norm_layer", None) is not None  # create_model's batch_norm=False
    drop_rate = kwargs.pop("drop_rate", None)
    if kwargs.get("drop_path_rate") and not drop_path_ok:
        raise MedtrainError(f"model {name} does not support drop_path (no residual branches to drop)")
    return strip, drop_rate


def _timm(
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

    strip, drop_rate = _split_opts(kwargs, name, drop_path_ok)
    if drop_rate is not None:
        kwargs["drop_rate"] = drop_rate
    try:
        model = (entrypoint or timm.create_model)(
            timm_name, pretrained=False, in_chans=in_chans, num_classes=num_classes, **kwargs
        )
    except TypeError as e:
        raise MedtrainError(f"model {name} does not support these options: {e}") from None
    if _small(input_size) and adapt is not None:
        adapt(model)
    return _strip_norm(model) if strip else model


def _torchvision(name: str, kwargs: dict, build: Callable[[Optional[float]], nn.Module]) -> tuple:
    """Check options for a torchvision family and build it; returns (model, strip_norm, drop_rate)."""
    strip, drop_rate = _split_opts(kwargs, name, drop_path_ok=False)
    if kwargs:
        raise MedtrainError(f"model {name} does not support options: {', '.join(sorted(kwargs))}")
    return build(drop_rate), strip, drop_rate


# ----------------------------------------------------------------------------------------------
# small-input adaptations of the timm families
# ----------------------------------------------------------------------------------------------


def _adapt_resnet(model: nn.Module) -> None:
    # Same stem as resnet28.py (MedMNIST): 3x3/1 convolution, no max-pool; bn1 keeps its width.
    model.conv1 = _conv_like(model.conv1, model.conv1.in_channels, kernel_size=3, stride=1, padding=1)
    model.maxpool = nn.Identity()


def _adapt_densenet(model: nn.Module) -> None:
    conv0 = model.features.conv0
    model.features.conv0 = _conv_like(conv0, conv0.in_channels, kernel_size=3, stride=1, padding=1)
    model.features.pool0 = nn.Identity()


def _adapt_vgg(model: nn.Module) -> None:
    # VGG's convolutions are 3x3/1 already; dropping the first of its five 2x2 pools takes a 28 px
    # image to a 1x1 map (five pools would need 32 px). timm's pre-logits average-pools up to 7x7.
    for i, layer in enumerate(model.features):
        if isinstance(layer, nn.MaxPool2d):
            model.features[i] = nn.Identity()
            return


def _adapt_inception_v3(model: nn.Module) -> None:
    _restride(model.Conv2d_1a_3x3.conv, 1, padding=1)
    _restride(model.Conv2d_2a_3x3.conv, 1, padding=1)
    _restride(model.Conv2d_4a_3x3.conv, 1, padding=1)
    model.Pool1 = nn.Identity()


def _adapt_inception_resnet_v2(model: nn.Module) -> None:
    _restride(model.conv2d_1a.conv, 1, padding=1)
    _restride(model.conv2d_2a.conv, 1, padding=1)
    _restride(model.conv2d_4a.conv, 1, padding=1)
    model.maxpool_3a = nn.Identity()


def _adapt_xception(model: nn.Module) -> None:
    _restride(model.conv1, 1, padding=1)
    _restride(model.conv2, 1, padding=1)


def _adapt_mobile(model: nn.Module) -> None:
    # timm's MobileNet/MNASNet stems are 3x3/2; the first stride-2 block follows within one or two
    # blocks. Padding is symmetric and depends only on kernel size, so the strides can be reset.
    _restride(model.conv_stem, 1)
    for m in model.blocks.modules():
        if isinstance(m, nn.Conv2d) and m.stride == (2, 2):
            _restride(m, 1)
            return


# ----------------------------------------------------------------------------------------------
# AlexNet, VGG (Krizhevsky et al., NeurIPS 2012; Simonyan & Zisserman, ICLR 2015)
# ----------------------------------------------------------------------------------------------


@_family("AlexNet", "torchvision", "Krizhevsky et al., NeurIPS 2012 (one-tower 'one weird trick' variant, arXiv:1404.5997)")
def alexnet(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """AlexNet as in torchvision (timm has none): the single-tower variant of Krizhevsky (2014).

    64-192-384-256-256 channels, no local response norm, dropout 0.5 in the 4096-4096 classifier.
    """
    from torchvision.models import AlexNet

    model, strip, _ = _torchvision("alexnet", kwargs, lambda p: AlexNet(num_classes, dropout=0.5 if p is None else p))
    conv1 = model.features[0]
    if _small(input_size):
        model.features[0] = _conv_like(conv1, in_chans, kernel_size=3, stride=1, padding=1)
    elif in_chans != 3:
        model.features[0] = _conv_like(conv1, in_chans)
    return _strip_norm(model) if strip else model


def _vgg(name: str, in_chans, num_classes, input_size, kwargs) -> nn.Module:
    return _timm(name, name, in_chans, num_classes, kwargs, _adapt_vgg, input_size)


_VGG_PAPER = "Simonyan & Zisserman, ICLR 2015 (configurations A, B, D, E); _bn: Ioffe & Szegedy, ICML 2015"


@_family("VGG", "timm", _VGG_PAPER)
def vgg11(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """VGG-11 (configuration A)."""
    return _vgg("vgg11", in_chans, num_classes, input_size, kwargs)


@_family("VGG", "timm", _VGG_PAPER)
def vgg11_bn(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """VGG-11 with batch norm after every convolution."""
    return _vgg("vgg11_bn", in_chans, num_classes, input_size, kwargs)


@_family("VGG", "timm", _VGG_PAPER)
def vgg13(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """VGG-13 (configuration B)."""
    return _vgg("vgg13", in_chans, num_classes, input_size, kwargs)


@_family("VGG", "timm", _VGG_PAPER)
def vgg13_bn(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """VGG-13 with batch norm."""
    return _vgg("vgg13_bn", in_chans, num_classes, input_size, kwargs)


@_family("VGG", "timm", _VGG_PAPER)
def vgg16(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """VGG-16 (configuration D)."""
    return _vgg("vgg16", in_chans, num_classes, input_size, kwargs)


@_family("VGG", "timm", _VGG_PAPER)
def vgg16_bn(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """VGG-16 with batch norm."""
    return _vgg("vgg16_bn", in_chans, num_classes, input_size, kwargs)


@_family("VGG", "timm", _VGG_PAPER)
def vgg19(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """VGG-19 (configuration E)."""
    return _vgg("vgg19", in_chans, num_classes, input_size, kwargs)


@_family("VGG", "timm", _VGG_PAPER)
def vgg19_bn(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """VGG-19 with batch norm."""
    return _vgg("vgg19_bn", in_chans, num_classes, input_size, kwargs)


# ----------------------------------------------------------------------------------------------
# ResNet, ResNeXt, Wide ResNet (He et al., CVPR 2016; Xie et al., CVPR 2017; Zagoruyko & Komodakis, BMVC 2016)
# ----------------------------------------------------------------------------------------------

_RESNET_PAPER = "He et al., CVPR 2016 (timm/torchvision 'v1.5': stride on the 3x3 conv of bottlenecks)"


def _resnet(name, in_chans, num_classes, input_size, kwargs) -> nn.Module:
    return _timm(name, name, in_chans, num_classes, kwargs, _adapt_resnet, input_size, drop_path_ok=True)


@_family("ResNet", "timm", _RESNET_PAPER)
def resnet18(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ResNet-18 (basic blocks 2-2-2-2); at ``input_size <= 64`` the same network as ``resnet18_28``."""
    return _resnet("resnet18", in_chans, num_classes, input_size, kwargs)


@_family("ResNet", "timm", _RESNET_PAPER)
def resnet34(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ResNet-34 (basic blocks 3-4-6-3)."""
    return _resnet("resnet34", in_chans, num_classes, input_size, kwargs)


@_family("ResNet", "timm", _RESNET_PAPER)
def resnet50(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ResNet-50 (bottlenecks 3-4-6-3); v1.5: 4.1 GMACs at 224 where the paper's v1 has 3.8."""
    return _resnet("resnet50", in_chans, num_classes, input_size, kwargs)


@_family("ResNet", "timm", _RESNET_PAPER)
def resnet101(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ResNet-101 (bottlenecks 3-4-23-3)."""
    return _resnet("resnet101", in_chans, num_classes, input_size, kwargs)


@_family("ResNet", "timm", _RESNET_PAPER)
def resnet152(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ResNet-152 (bottlenecks 3-8-36-3)."""
    return _resnet("resnet152", in_chans, num_classes, input_size, kwargs)


_RESNEXT_PAPER = "Xie et al., CVPR 2017 (aggregated residual transformations, cardinality x width)"


@_family("ResNeXt", "timm", _RESNEXT_PAPER)
def resnext50_32x4d(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ResNeXt-50 32x4d: 32 groups of width 4 in every 3x3 convolution."""
    return _resnet("resnext50_32x4d", in_chans, num_classes, input_size, kwargs)


@_family("ResNeXt", "timm", _RESNEXT_PAPER)
def resnext101_32x4d(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ResNeXt-101 32x4d (the paper's ResNeXt-101)."""
    return _resnet("resnext101_32x4d", in_chans, num_classes, input_size, kwargs)


@_family("ResNeXt", "timm", _RESNEXT_PAPER)
def resnext101_32x8d(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ResNeXt-101 32x8d (torchvision's ResNeXt-101)."""
    return _resnet("resnext101_32x8d", in_chans, num_classes, input_size, kwargs)


_WRN_PAPER = "Zagoruyko & Komodakis, BMVC 2016 (ImageNet WRN-50-2: bottleneck width doubled)"


@_family("Wide ResNet", "timm", _WRN_PAPER)
def wide_resnet50_2(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """Wide ResNet-50-2: ResNet-50 with twice the bottleneck width."""
    return _resnet("wide_resnet50_2", in_chans, num_classes, input_size, kwargs)


@_family("Wide ResNet", "timm", _WRN_PAPER)
def wide_resnet101_2(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """Wide ResNet-101-2."""
    return _resnet("wide_resnet101_2", in_chans, num_classes, input_size, kwargs)


# ----------------------------------------------------------------------------------------------
# DenseNet (Huang et al., CVPR 2017)
# ----------------------------------------------------------------------------------------------

_DENSENET_PAPER = "Huang et al., CVPR 2017 (DenseNet-BC, growth rate 32; 161: growth 48)"


def _densenet(name, in_chans, num_classes, input_size, kwargs) -> nn.Module:
    return _timm(name, name, in_chans, num_classes, kwargs, _adapt_densenet, input_size)


@_family("DenseNet", "timm", _DENSENET_PAPER)
def densenet121(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """DenseNet-121 (blocks of 6-12-24-16 layers)."""
    return _densenet("densenet121", in_chans, num_classes, input_size, kwargs)


@_family("DenseNet", "timm", _DENSENET_PAPER)
def densenet161(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """DenseNet-161 (6-12-36-24, growth rate 48)."""
    return _densenet("densenet161", in_chans, num_classes, input_size, kwargs)


@_family("DenseNet", "timm", _DENSENET_PAPER)
def densenet169(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """DenseNet-169 (6-12-32-32)."""
    return _densenet("densenet169", in_chans, num_classes, input_size, kwargs)


@_family("DenseNet", "timm", _DENSENET_PAPER)
def densenet201(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """DenseNet-201 (6-12-48-32)."""
    return _densenet("densenet201", in_chans, num_classes, input_size, kwargs)


# ----------------------------------------------------------------------------------------------
# SqueezeNet, GoogLeNet (torchvision: not in timm)
# ----------------------------------------------------------------------------------------------


def _squeezenet(name: str, version: str, in_chans, num_classes, input_size, kwargs) -> nn.Module:
    from torchvision.models import SqueezeNet

    model, strip, _ = _torchvision(
        name, kwargs, lambda p: SqueezeNet(version, num_classes=num_classes, dropout=0.5 if p is None else p)
    )
    conv1 = model.features[0]
    if _small(input_size):
        model.features[0] = _conv_like(conv1, in_chans, kernel_size=3, stride=1, padding=1)
    elif in_chans != 3:
        model.features[0] = _conv_like(conv1, in_chans)
    return _strip_norm(model) if strip else model


_SQUEEZENET_PAPER = "Iandola et al., arXiv:1602.07360 (2016); 1.1 from the SqueezeNet v1.1 release"


@_family("SqueezeNet", "torchvision", _SQUEEZENET_PAPER)
def squeezenet1_0(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """SqueezeNet 1.0: fire modules (1x1 squeeze, 1x1 + 3x3 expand), AlexNet accuracy at 1.2M parameters."""
    return _squeezenet("squeezenet1_0", "1_0", in_chans, num_classes, input_size, kwargs)


@_family("SqueezeNet", "torchvision", _SQUEEZENET_PAPER)
def squeezenet1_1(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """SqueezeNet 1.1: 3x3 stem and earlier pooling, 2.4x fewer multiplications than 1.0."""
    return _squeezenet("squeezenet1_1", "1_1", in_chans, num_classes, input_size, kwargs)


@_family("GoogLeNet", "torchvision", "Szegedy et al., CVPR 2015 (Inception v1; torchvision adds batch norm)")
def googlenet(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """GoogLeNet (Inception v1) without the auxiliary classifiers; torchvision's has batch norm."""
    from torchvision.models import GoogLeNet

    model, strip, _ = _torchvision(
        "googlenet",
        kwargs,
        lambda p: GoogLeNet(num_classes, aux_logits=False, init_weights=True, dropout=0.2 if p is None else p),
    )
    conv1 = model.conv1.conv
    if _small(input_size):
        model.conv1.conv = _conv_like(conv1, in_chans, kernel_size=3, stride=1, padding=1)
        model.maxpool1 = nn.Identity()
    elif in_chans != 3:
        model.conv1.conv = _conv_like(conv1, in_chans)
    return _strip_norm(model) if strip else model


# ----------------------------------------------------------------------------------------------
# Inception v3, Inception-ResNet v2, Xception
# ----------------------------------------------------------------------------------------------


@_family("Inception v3", "timm", "Szegedy et al., CVPR 2016 (designed for 299 px)")
def inception_v3(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """Inception v3 (factorised 7x7 into 1x7 + 7x1); stock needs >= 75 px inputs."""
    return _timm("inception_v3", "inception_v3", in_chans, num_classes, kwargs, _adapt_inception_v3, input_size)


@_family("Inception-ResNet v2", "timm", "Szegedy et al., AAAI 2017 (designed for 299 px)")
def inception_resnet_v2(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """Inception-ResNet v2: Inception modules with residual connections."""
    return _timm(
        "inception_resnet_v2", "inception_resnet_v2", in_chans, num_classes, kwargs, _adapt_inception_resnet_v2, input_size
    )


@_family("Xception", "timm", "Chollet, CVPR 2017 (timm legacy_xception; designed for 299 px)")
def xception(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """Xception: Inception modules taken to the limit, i.e. depthwise-separable convolutions."""
    return _timm("xception", "legacy_xception", in_chans, num_classes, kwargs, _adapt_xception, input_size)


# ----------------------------------------------------------------------------------------------
# Mobile networks
# ----------------------------------------------------------------------------------------------


def _shufflenet_v2(name: str, in_chans, num_classes, input_size, kwargs) -> nn.Module:
    import torchvision.models as tvm

    model, strip, drop_rate = _torchvision(name, kwargs, lambda p: getattr(tvm, name)(num_classes=num_classes))
    conv1 = model.conv1[0]
    if _small(input_size):
        model.conv1[0] = _conv_like(conv1, in_chans, stride=1)
        model.maxpool = nn.Identity()
    elif in_chans != 3:
        model.conv1[0] = _conv_like(conv1, in_chans)
    if drop_rate:
        model.fc = nn.Sequential(nn.Dropout(drop_rate), model.fc)
    return _strip_norm(model) if strip else model


_SHUFFLENET_PAPER = "Ma et al., ECCV 2018 (channel split and shuffle)"


@_family("ShuffleNet v2", "torchvision", _SHUFFLENET_PAPER)
def shufflenet_v2_x0_5(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ShuffleNet v2 0.5x."""
    return _shufflenet_v2("shufflenet_v2_x0_5", in_chans, num_classes, input_size, kwargs)


@_family("ShuffleNet v2", "torchvision", _SHUFFLENET_PAPER)
def shufflenet_v2_x1_0(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ShuffleNet v2 1.0x (146M multiply-adds at 224 px)."""
    return _shufflenet_v2("shufflenet_v2_x1_0", in_chans, num_classes, input_size, kwargs)


@_family("ShuffleNet v2", "torchvision", _SHUFFLENET_PAPER)
def shufflenet_v2_x1_5(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ShuffleNet v2 1.5x."""
    return _shufflenet_v2("shufflenet_v2_x1_5", in_chans, num_classes, input_size, kwargs)


@_family("ShuffleNet v2", "torchvision", _SHUFFLENET_PAPER)
def shufflenet_v2_x2_0(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """ShuffleNet v2 2.0x."""
    return _shufflenet_v2("shufflenet_v2_x2_0", in_chans, num_classes, input_size, kwargs)


def _mobile(name, timm_name, in_chans, num_classes, input_size, kwargs, entrypoint=None) -> nn.Module:
    return _timm(
        name, timm_name, in_chans, num_classes, kwargs, _adapt_mobile, input_size, drop_path_ok=True, entrypoint=entrypoint
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


@_family("MobileNet v1", "timm", _MOBILENET_V1_PAPER)
def mobilenetv1_025(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """MobileNet v1, width multiplier 0.25."""
    return _mobilenet_v1("mobilenetv1_025", 0.25, in_chans, num_classes, input_size, kwargs)


@_family("MobileNet v1", "timm", _MOBILENET_V1_PAPER)
def mobilenetv1_050(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """MobileNet v1, width multiplier 0.5."""
    return _mobilenet_v1("mobilenetv1_050", 0.5, in_chans, num_classes, input_size, kwargs)


@_family("MobileNet v1", "timm", _MOBILENET_V1_PAPER)
def mobilenetv1_075(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """MobileNet v1, width multiplier 0.75."""
    return _mobilenet_v1("mobilenetv1_075", 0.75, in_chans, num_classes, input_size, kwargs)


@_family("MobileNet v1", "timm", _MOBILENET_V1_PAPER)
def mobilenetv1_100(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """MobileNet v1 1.0 (569M multiply-adds, 4.2M parameters at 224 px in the paper)."""
    return _mobilenet_v1("mobilenetv1_100", 1.0, in_chans, num_classes, input_size, kwargs)


@_family("MobileNet v2", "timm", "Sandler et al., CVPR 2018 (inverted residuals, linear bottlenecks)")
def mobilenetv2_100(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """MobileNet v2 1.0."""
    return _mobile("mobilenetv2_100", "mobilenetv2_100", in_chans, num_classes, input_size, kwargs)


_MOBILENET_V3_PAPER = "Howard et al., ICCV 2019 (NAS + squeeze-excite + hard-swish)"


@_family("MobileNet v3", "timm", _MOBILENET_V3_PAPER)
def mobilenetv3_small_100(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """MobileNet v3 Small 1.0."""
    return _mobile("mobilenetv3_small_100", "mobilenetv3_small_100", in_chans, num_classes, input_size, kwargs)


@_family("MobileNet v3", "timm", _MOBILENET_V3_PAPER)
def mobilenetv3_large_100(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """MobileNet v3 Large 1.0."""
    return _mobile("mobilenetv3_large_100", "mobilenetv3_large_100", in_chans, num_classes, input_size, kwargs)


@_family("MNASNet", "timm", "Tan et al., CVPR 2019 (MnasNet-B1, as timm's and torchvision's mnasnet 1.0)")
def mnasnet_100(in_chans: int = 3, num_classes: int = 2, input_size: Optional[int] = None, **kwargs) -> nn.Module:
    """MNASNet-B1 1.0 (platform-aware architecture search; no squeeze-excite)."""
    return _mobile("mnasnet_100", "mnasnet_100", in_chans, num_classes, input_size, kwargs)
