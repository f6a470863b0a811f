"""Small-input stem adaptations of the timm families (``input_size <= SMALL_INPUT``, see ``zoo``).

Each function changes a built timm model in place so that a 28 px image is reduced 8x instead of 32x
before global pooling (the MedMNIST ResNets' recipe, Yang et al., Scientific Data 2023).
"""
from __future__ import annotations

import torch.nn as nn

from medtrain.models._zoo import conv_like, restride


def adapt_resnet(model: nn.Module) -> None:
    # Same stem as resnet28.py (MedMNIST): 3x3/1 convolution, no max-pool; bn1 keeps its width.
    model.conv1 = conv_like(model.conv1, model.conv1.in_channels, kernel_size=3, stride=1, padding=1)
    model.maxpool = nn.Identity()


def adapt_densenet(model: nn.Module) -> None:
    conv0 = model.features.conv0
    model.features.conv0 = conv_like(conv0, conv0.in_channels, kernel_size=3, stride=1, padding=1)
    model.features.pool0 = nn.Identity()


def adapt_vgg(model: nn.Module) -> None:
    # VGG's convolutions are 3x3/1 already; dropping the first of its five 2x2 pools takes a 28 px
    # image to a 1x1 map (five pools would need 32 px). timm's pre-logits average-pools up to 7x7.
    for i, layer in enumerate(model.features):
        if isinstance(layer, nn.MaxPool2d):
            model.features[i] = nn.Identity()
            return


def adapt_inception_v3(model: nn.Module) -> None:
    restride(model.Conv2d_1a_3x3.conv, 1, padding=1)
    restride(model.Conv2d_2a_3x3.conv, 1, padding=1)
    restride(model.Conv2d_4a_3x3.conv, 1, padding=1)
    model.Pool1 = nn.Identity()


def adapt_inception_resnet_v2(model: nn.Module) -> None:
    restride(model.conv2d_1a.conv, 1, padding=1)
    restride(model.conv2d_2a.conv, 1, padding=1)
    restride(model.conv2d_4a.conv, 1, padding=1)
    model.maxpool_3a = nn.Identity()


def adapt_xception(model: nn.Module) -> None:
    restride(model.conv1, 1, padding=1)
    restride(model.conv2, 1, padding=1)


def adapt_mobile(model: nn.Module) -> None:
    # timm's MobileNet/MNASNet stems are 3x3/2; the first stride-2 block follows within one or two
    # blocks. Padding is symmetric and depends only on kernel size, so the strides can be reset.
    restride(model.conv_stem, 1)
    for m in model.blocks.modules():
        if isinstance(m, nn.Conv2d) and m.stride == (2, 2):
            restride(m, 1)
            return
