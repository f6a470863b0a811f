"""RGB <-> YPbPr (analogue component video, BT.601), matching ``skimage.color.rgb2ypbpr`` / ``ypbpr2rgb``.

Y is in [0, 1] and Pb, Pr are in [-0.5, 0.5] for RGB in [0, 1]. :mod:`medtrain.color.ycbcr` is the
same transform scaled and offset to 8-bit studio range.

References:
    ITU-R BT.601; coefficients as in scikit-image.
    Gowda & Yuan, "ColorNet: Investigating the importance of color spaces for image classification",
    ACCV 2018.
"""
from __future__ import annotations

from torch import Tensor, nn

from medtrain.color._utils import check_image, inverse, matrix, mix_channels

YPBPR_FROM_RGB = matrix(
    [
        [0.299, 0.587, 0.114],
        [-0.168736, -0.331264, 0.5],
        [0.5, -0.418688, -0.081312],
    ]
)
RGB_FROM_YPBPR = inverse(YPBPR_FROM_RGB)


def rgb_to_ypbpr(image: Tensor) -> Tensor:
    """Convert RGB to YPbPr.

    Args:
        image: RGB, floating point, in [0, 1], shaped ``(*, 3, H, W)``.

    Returns:
        YPbPr shaped ``(*, 3, H, W)``.

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    return mix_channels(YPBPR_FROM_RGB, check_image(image))


def ypbpr_to_rgb(image: Tensor) -> Tensor:
    """Convert YPbPr back to RGB (no clipping, like scikit-image).

    Args:
        image: YPbPr, floating point, shaped ``(*, 3, H, W)``.

    Returns:
        RGB shaped ``(*, 3, H, W)``.

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    return mix_channels(RGB_FROM_YPBPR, check_image(image))


class RgbToYpbpr(nn.Module):
    """Module form of :func:`rgb_to_ypbpr`: ``(*, 3, H, W)`` RGB -> YPbPr."""

    def forward(self, image: Tensor) -> Tensor:
        return rgb_to_ypbpr(image)


class YpbprToRgb(nn.Module):
    """Module form of :func:`ypbpr_to_rgb`: ``(*, 3, H, W)`` YPbPr -> RGB."""

    def forward(self, image: Tensor) -> Tensor:
        return ypbpr_to_rgb(image)
