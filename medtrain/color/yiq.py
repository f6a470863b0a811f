"""RGB <-> YIQ (NTSC luma, in-phase and quadrature chroma), matching ``skimage.color.rgb2yiq`` / ``yiq2rgb``.

Y is in [0, 1]; I is in about [-0.596, 0.596] and Q in about [-0.523, 0.523] for RGB in [0, 1].

References:
    FCC NTSC standard (1953); coefficients as in scikit-image.
    Gowda & Yuan, "ColorNet: Investigating the importance of color spaces for image classification",
    ACCV 2018.
"""
from __future__ import annotations

from torch import Tensor, nn

from medtrain.color._utils import check_image, inverse, matrix, mix_channels

YIQ_FROM_RGB = matrix(
    [
        [0.299, 0.587, 0.114],
        [0.59590059, -0.27455667, -0.32134392],
        [0.21153661, -0.52273617, 0.31119955],
    ]
)
RGB_FROM_YIQ = inverse(YIQ_FROM_RGB)


def rgb_to_yiq(image: Tensor) -> Tensor:
    """Convert RGB to YIQ.

    Args:
        image: RGB, floating point, in [0, 1], shaped ``(*, 3, H, W)``.

    Returns:
        YIQ shaped ``(*, 3, H, W)``.

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    return mix_channels(YIQ_FROM_RGB, check_image(image))


def yiq_to_rgb(image: Tensor) -> Tensor:
    """Convert YIQ back to RGB (no clipping, like scikit-image).

    Args:
        image: YIQ, floating point, shaped ``(*, 3, H, W)``.

    Returns:
        RGB shaped ``(*, 3, H, W)``.

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    return mix_channels(RGB_FROM_YIQ, check_image(image))


class RgbToYiq(nn.Module):
    """Module form of :func:`rgb_to_yiq`: ``(*, 3, H, W)`` RGB -> YIQ."""

    def forward(self, image: Tensor) -> Tensor:
        return rgb_to_yiq(image)


class YiqToRgb(nn.Module):
    """Module form of :func:`yiq_to_rgb`: ``(*, 3, H, W)`` YIQ -> RGB."""

    def forward(self, image: Tensor) -> Tensor:
        return yiq_to_rgb(image)
