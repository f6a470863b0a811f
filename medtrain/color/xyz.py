"""sRGB <-> CIE 1931 XYZ (D65), matching ``skimage.color.rgb2xyz`` / ``xyz2rgb``.

The sRGB transfer curve is undone (linearised) before the 3x3 matrix, and re-applied on the way back.
Units are scikit-image's: Y is relative luminance in [0, 1] (not 0..100), white is about
(0.9505, 1.0, 1.0888).

References:
    IEC 61966-2-1:1999 (sRGB); CIE 1931 standard observer.
    Gowda & Yuan, "ColorNet: Investigating the importance of color spaces for image classification",
    ACCV 2018.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from medtrain.color._utils import check_image, inverse, matrix, mix_channels

XYZ_FROM_RGB = matrix(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
RGB_FROM_XYZ = inverse(XYZ_FROM_RGB)


def srgb_to_linear(image: Tensor) -> Tensor:
    """Undo the sRGB transfer curve (thresholds as in scikit-image)."""
    curved = image > 0.04045
    # The power branch is evaluated everywhere; feeding it 1 where it is not used keeps a negative base
    # from producing nan gradients through torch.where.
    base = (torch.where(curved, image, torch.ones_like(image)) + 0.055) / 1.055
    return torch.where(curved, torch.pow(base, 2.4), image / 12.92)


def linear_to_srgb(image: Tensor) -> Tensor:
    """Apply the sRGB transfer curve (thresholds as in scikit-image)."""
    curved = image > 0.0031308
    base = torch.where(curved, image, torch.ones_like(image))
    return torch.where(curved, 1.055 * torch.pow(base, 1.0 / 2.4) - 0.055, image * 12.92)


def rgb_to_xyz(image: Tensor) -> Tensor:
    """Convert sRGB to CIE XYZ.

    Args:
        image: sRGB, floating point, in [0, 1], shaped ``(*, 3, H, W)``.

    Returns:
        XYZ shaped ``(*, 3, H, W)``, white at about (0.9505, 1.0, 1.0888).

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    return mix_channels(XYZ_FROM_RGB, srgb_to_linear(check_image(image)))


def xyz_to_rgb(image: Tensor) -> Tensor:
    """Convert CIE XYZ back to sRGB, clipped to [0, 1] as scikit-image does.

    Args:
        image: XYZ, floating point, shaped ``(*, 3, H, W)``.

    Returns:
        sRGB in [0, 1], shaped ``(*, 3, H, W)``. Out-of-gamut colours are clipped (zero gradient there).

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    return linear_to_srgb(mix_channels(RGB_FROM_XYZ, check_image(image))).clamp(0.0, 1.0)


class RgbToXyz(nn.Module):
    """Module form of :func:`rgb_to_xyz`: ``(*, 3, H, W)`` sRGB -> XYZ."""

    def forward(self, image: Tensor) -> Tensor:
        return rgb_to_xyz(image)


class XyzToRgb(nn.Module):
    """Module form of :func:`xyz_to_rgb`: ``(*, 3, H, W)`` XYZ -> sRGB."""

    def forward(self, image: Tensor) -> Tensor:
        return xyz_to_rgb(image)
