"""RGB <-> YCbCr (digital BT.601, 8-bit studio range), matching ``skimage.color.rgb2ycbcr`` / ``ycbcr2rgb``.

Units are 8-bit code values even for float input: Y is in [16, 235] and Cb, Cr in [16, 240] for RGB
in [0, 1]. That is roughly 200 times the scale of the other spaces, so float32 results carry absolute
rounding errors of about 1e-5 and channel statistics matter more here than anywhere else.

References:
    ITU-R BT.601; coefficients as in scikit-image.
    Gowda & Yuan, "ColorNet: Investigating the importance of color spaces for image classification",
    ACCV 2018.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from medtrain.color._utils import check_image, constant, inverse, matrix, mix_channels

YCBCR_FROM_RGB = matrix(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ]
)
RGB_FROM_YCBCR = inverse(YCBCR_FROM_RGB)
_OFFSET = torch.tensor([16.0, 128.0, 128.0], dtype=torch.float64)[:, None, None]


def rgb_to_ycbcr(image: Tensor) -> Tensor:
    """Convert RGB to YCbCr.

    Args:
        image: RGB, floating point, in [0, 1], shaped ``(*, 3, H, W)``.

    Returns:
        YCbCr in 8-bit code values, shaped ``(*, 3, H, W)``.

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    check_image(image)
    return mix_channels(YCBCR_FROM_RGB, image) + constant(_OFFSET, image)


def ycbcr_to_rgb(image: Tensor) -> Tensor:
    """Convert YCbCr (8-bit code values) back to RGB (no clipping, like scikit-image).

    Args:
        image: YCbCr, floating point, shaped ``(*, 3, H, W)``.

    Returns:
        RGB shaped ``(*, 3, H, W)``.

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    check_image(image)
    return mix_channels(RGB_FROM_YCBCR, image - constant(_OFFSET, image))


class RgbToYcbcr(nn.Module):
    """Module form of :func:`rgb_to_ycbcr`: ``(*, 3, H, W)`` RGB -> YCbCr."""

    def forward(self, image: Tensor) -> Tensor:
        return rgb_to_ycbcr(image)


class YcbcrToRgb(nn.Module):
    """Module form of :func:`ycbcr_to_rgb`: ``(*, 3, H, W)`` YCbCr -> RGB."""

    def forward(self, image: Tensor) -> Tensor:
        return ycbcr_to_rgb(image)
