"""sRGB <-> CIE LCh (polar L*a*b*), matching ``skimage.color.lab2lch(rgb2lab(x))`` and its inverse.

Units are scikit-image's: L* in [0, 100], chroma C = hypot(a*, b*) >= 0, and hue h = atan2(b*, a*) in
radians mapped to [0, 2*pi) (not degrees). Hue is an angle: 0 and 2*pi are the same colour, and it is
undefined at C = 0, where it is set to atan2(b*, a*) as scikit-image does (0 for black). The values are
kept as-is; anything that treats h as linear sees a seam along the positive a* axis (magenta-red).

References:
    CIE 15:2004, Colorimetry.
    Gowda & Yuan, "ColorNet: Investigating the importance of color spaces for image classification",
    ACCV 2018.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from medtrain.color._utils import check_image, nonzero_or_one
from medtrain.color.lab import lab_to_rgb, rgb_to_lab


def lab_to_lch(image: Tensor) -> Tensor:
    """Convert L*a*b* to LCh.

    At a* = b* = 0 the chroma's and hue's derivatives do not exist; there the forward values are
    exact and the gradient of C and h is taken as 0 instead of nan.

    Args:
        image: L*a*b*, floating point, shaped ``(*, 3, H, W)``.

    Returns:
        LCh shaped ``(*, 3, H, W)``, hue in radians in [0, 2*pi).

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    check_image(image)
    l, a, b = image.unbind(-3)
    origin = (a == 0) & (b == 0)
    safe_a = nonzero_or_one(a, ~origin)
    c = torch.where(origin, torch.zeros_like(a), torch.hypot(safe_a, b))
    # At the origin atan2 depends on the signs of the zeros (atan2(0, -0) = pi); keep that value, but
    # without a gradient.
    h = torch.where(origin, torch.atan2(b, a).detach(), torch.atan2(b, safe_a))
    h = torch.where(h < 0, h + 2.0 * math.pi, h)
    h = torch.where(h >= 2.0 * math.pi, torch.zeros_like(h), h)  # float32: -1e-8 + 2 pi rounds to 2 pi
    return torch.stack((l, c, h), dim=-3)


def lch_to_lab(image: Tensor) -> Tensor:
    """Convert LCh (hue in radians) back to L*a*b*.

    Args:
        image: LCh, floating point, shaped ``(*, 3, H, W)``.

    Returns:
        L*a*b* shaped ``(*, 3, H, W)``.

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    check_image(image)
    l, c, h = image.unbind(-3)
    return torch.stack((l, c * torch.cos(h), c * torch.sin(h)), dim=-3)


def rgb_to_lch(image: Tensor) -> Tensor:
    """Convert sRGB to CIE LCh (D65, 2-degree observer).

    Args:
        image: sRGB, floating point, in [0, 1], shaped ``(*, 3, H, W)``.

    Returns:
        LCh shaped ``(*, 3, H, W)``: L* in [0, 100], C >= 0, h in radians in [0, 2*pi).

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    return lab_to_lch(rgb_to_lab(image))


def lch_to_rgb(image: Tensor) -> Tensor:
    """Convert CIE LCh back to sRGB, clipped to [0, 1] as scikit-image's ``lab2rgb`` does.

    Args:
        image: LCh, floating point, shaped ``(*, 3, H, W)``.

    Returns:
        sRGB in [0, 1], shaped ``(*, 3, H, W)``.

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    return lab_to_rgb(lch_to_lab(image))


class RgbToLch(nn.Module):
    """Module form of :func:`rgb_to_lch`: ``(*, 3, H, W)`` sRGB -> LCh."""

    def forward(self, image: Tensor) -> Tensor:
        return rgb_to_lch(image)


class LchToRgb(nn.Module):
    """Module form of :func:`lch_to_rgb`: ``(*, 3, H, W)`` LCh -> sRGB."""

    def forward(self, image: Tensor) -> Tensor:
        return lch_to_rgb(image)
