"""RGB <-> YUV (analogue PAL luma/chroma), matching ``skimage.color.rgb2yuv`` / ``yuv2rgb``.

Y is in [0, 1]; U is in about [-0.436, 0.436] and V in about [-0.615, 0.615] for RGB in [0, 1].
For the digital, offset and scaled variant used by codecs see :mod:`medtrain.color.ycbcr`.

References:
    ITU-R BT.470 (PAL); coefficients as in scikit-image.
    Gowda & Yuan, "ColorNet: Investigating the importance of color spaces for image classification",
    ACCV 2018.
"""
from __future__ import annotations

from torch import Tensor, nn

from medtrain.color._utils import check_image, inverse, matrix, mix_channels

YUV_FROM_RGB = matrix(
    [
        [0.299, 0.587, 0.114],
        [-0.14714119, -0.28886916, 0.43601035],
        [0.61497538, -0.51496512, -0.10001026],
    ]
)
RGB_FROM_YUV = inverse(YUV_FROM_RGB)


def rgb_to_yuv(image: Tensor) -> Tensor:
    """Convert RGB to YUV.

    Args:
        image: RGB, floating point, in [0, 1], shaped ``(*, 3, H, W)``.

    Returns:
        YUV shaped ``(*, 3, H, W)``.

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    return mix_channels(YUV_FROM_RGB, check_image(image))


def yuv_to_rgb(image: Tensor) -> Tensor:
    """Convert YUV back to RGB (no clipping, like scikit-image).

    Args:
        image: YUV, floating point, shaped ``(*, 3, H, W)``.

    Returns:
        RGB shaped ``(*, 3, H, W)``.

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    return mix_channels(RGB_FROM_YUV, check_image(image))


class RgbToYuv(nn.Module):
    """Module form of :func:`rgb_to_yuv`: ``(*, 3, H, W)`` RGB -> YUV."""

    def forward(self, image: Tensor) -> Tensor:
        return rgb_to_yuv(image)


class YuvToRgb(nn.Module):
    """Module form of :func:`yuv_to_rgb`: ``(*, 3, H, W)`` YUV -> RGB."""

    def forward(self, image: Tensor) -> Tensor:
        return yuv_to_rgb(image)
