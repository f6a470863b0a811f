"""The architecture zoo: every classic ImageNet CNN family, for any channels, classes and input size.

Each name is a plain builder registered with :func:`~medtrain.models._registry.register_model` and
built through :func:`medtrain.models.create_model`: the timm families in :mod:`medtrain.models.zoo_timm`,
the torchvision ones in :mod:`medtrain.models.zoo_torchvision`, the small-input stem surgery in
:mod:`medtrain.models._small_input`; this module gathers them (``FAMILIES``, ``family_of``). timm is used wherever it has the family;
torchvision only where timm lacks it (AlexNet, SqueezeNet, GoogLeNet, ShuffleNet v2 -- marked
``source="torchvision"`` in :data:`FAMILIES`). Where a name equals a timm name (``resnet50``,
``vgg16_bn``, ...), the builder is timm's model unchanged unless ``input_size <= 64``, so nothing
timm offers is hidden: any unregistered timm name still passes through ``create_model`` to timm.

Small inputs (``input_size <= SMALL_INPUT``, e.g. the 28 px MedMNIST images): the stock stems reduce
the image 4x before the first block (a strided 7x7 or 3x3 convolution and a max-pool), leaving a
7x7 map -- or nothing: AlexNet, VGG and the Inception family fail outright at 28 px. Following the
MedMNIST ResNets (Yang et al., Scientific Data 2023; ``resnet18_28``), the builders remove that 4x
(total stride 32 becomes 8: a 28 px image ends in a 4x4 or 3x3 map; 2x2 for the Inceptions, Xception and
AlexNet, and 1x1 for VGG, which loses only one of its five pools):

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

Options (through ``create_model``): ``dropout`` is the family's classifier dropout, 0 (none) unless given, for
every family: AlexNet and SqueezeNet (the papers' 0.5) and torchvision's GoogLeNet (0.2) too, which had kept
theirs at ``dropout`` 0 while the run recorded 0.0 (a walk); AlexNet and VGG apply it in both fully connected
layers of their classifier, as the papers place it; ShuffleNet v2 gets a dropout layer before ``fc`` when asked.
``drop_path`` works for the timm ResNet/ResNeXt/WRN and MobileNet v2/v3/MNASNet families only; the
others raise :class:`~medtrain.errors.MedtrainError`. ``drop_block`` (DropBlock, timm's ``drop_block_rate``: in the
last two stages) works for the ResNet/ResNeXt/WRN families and the ``resnet*_28`` networks only, refused for the
others. ``batch_norm=False`` replaces every batch
norm by identity (keeping the activation fused into timm's ``BatchNormAct2d``) in every family;
AlexNet, SqueezeNet and the plain VGGs have none to remove. NASNet-Mobile (Zoph et al., CVPR 2018)
is not here: neither timm nor torchvision maintains it (timm has only NASNet-A Large,
``nasnetalarge``, which passes through to timm).
"""
from __future__ import annotations

from medtrain.models import zoo_timm, zoo_torchvision  # noqa: F401  (register the families)
from medtrain.models._zoo import FAMILIES, SMALL_INPUT, family_of

__all__ = ["FAMILIES", "SMALL_INPUT", "family_of"]

# ``medtrain models`` lists the families in this order (historical, roughly by year within each kind).
_ORDER = (
    "AlexNet", "VGG", "ResNet", "ResNeXt", "Wide ResNet", "DenseNet", "SqueezeNet", "GoogLeNet", "Inception v3",
    "Inception-ResNet v2", "Xception", "ShuffleNet v2", "MobileNet v1", "MobileNet v2", "MobileNet v3", "MNASNet",
)
if set(_ORDER) != set(FAMILIES):  # pragma: no cover - a developer error, caught by any import
    raise RuntimeError(f"zoo families without a place in _ORDER: {sorted(set(FAMILIES) - set(_ORDER))}")
_registered = dict(FAMILIES)
FAMILIES.clear()
FAMILIES.update((f, _registered[f]) for f in _ORDER)
