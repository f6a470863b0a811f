"""sRGB <-> CIE L*a*b* (D65, 2-degree observer), matching ``skimage.color.rgb2lab`` / ``lab2rgb``.

Goes through :mod:`medtrain.color.xyz`. Units are scikit-image's: L* in [0, 100], a* and b* roughly in
[-128, 127] (about [-86, 98] and [-108, 95] for sRGB in [0, 1]). The piecewise constants (0.008856,
7.787, 0.2068966) are scikit-image's rounded ones, not the exact CIE fractions, so results agree with
scikit-image rather than with the exact CIE 15:2004 definition (the difference is below 1e-3).

References:
    CIE 15:2004, Colorimetry; formulas from http://www.easyrgb.com as used by scikit-image.
    Gowda & Yuan, "ColorNet: Investigating the importance of color spaces for image classification",
    ACCV 2018.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from medtrain.color._utils import check_image, constant
from medtrain.color.xyz import rgb_to_xyz, xyz_to_rgb

# D65 white point, 2-degree observer, in scikit-image's XYZ units.
D65_WHITE = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)[:, None, None]


def xyz_to_lab(image: Tensor) -> Tensor:
    """Convert CIE XYZ (D65) to L*a*b*.

    Args:
        image: XYZ, floating point, shaped ``(*, 3, H, W)``.

    Returns:
        L*a*b* shaped ``(*, 3, H, W)``.

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    check_image(image)
    scaled = image / constant(D65_WHITE, image)
    cubic = scaled > 0.008856
    # Cube root only where it is used: its gradient is infinite at 0, and the masked-out branch still
    # back-propagates.
    root = torch.pow(torch.where(cubic, scaled, torch.ones_like(scaled)), 1.0 / 3.0)
    f = torch.where(cubic, root, 7.787 * scaled + 16.0 / 116.0)
    fx, fy, fz = f.unbind(-3)
    return torch.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=-3)


def lab_to_xyz(image: Tensor) -> Tensor:
    """Convert L*a*b* back to CIE XYZ (D65).

    Like scikit-image, a negative intermediate z (b* too large for the given L*) is clipped to 0;
    scikit-image also warns, this does not (it would need a device sync on every call).

    Args:
        image: L*a*b*, floating point, shaped ``(*, 3, H, W)``.

    Returns:
        XYZ shaped ``(*, 3, H, W)``.

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    check_image(image)
    l, a, b = image.unbind(-3)
    fy = (l + 16.0) / 116.0
    fx = a / 500.0 + fy
    fz = (fy - b / 200.0).clamp_min(0.0)
    f = torch.stack((fx, fy, fz), dim=-3)
    cubic = f > 0.2068966
    scaled = torch.where(cubic, f**3, (f - 16.0 / 116.0) / 7.787)
    return scaled * constant(D65_WHITE, image)


def rgb_to_lab(image: Tensor) -> Tensor:
    """Convert sRGB to CIE L*a*b* (D65, 2-degree observer).

    Args:
        image: sRGB, floating point, in [0, 1], shaped ``(*, 3, H, W)``.

    Returns:
        L*a*b* shaped ``(*, 3, H, W)``: L* in [0, 100], a*, b* signed.

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    return xyz_to_lab(rgb_to_xyz(image))


def lab_to_rgb(image: Tensor) -> Tensor:
    """Convert CIE L*a*b* back to sRGB, clipped to [0, 1] as scikit-image does.

    Args:
        image: L*a*b*, floating point, shaped ``(*, 3, H, W)``.

    Returns:
        sRGB in [0, 1], shaped ``(*, 3, H, W)``.

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    return xyz_to_rgb(lab_to_xyz(image))


class RgbToLab(nn.Module):
    """Module form of :func:`rgb_to_lab`: ``(*, 3, H, W)`` sRGB -> L*a*b*."""

    def forward(self, image: Tensor) -> Tensor:
        return rgb_to_lab(image)


class LabToRgb(nn.Module):
    """Module form of :func:`lab_to_rgb`: ``(*, 3, H, W)`` L*a*b* -> sRGB."""

    def forward(self, image: Tensor) -> Tensor:
        return lab_to_rgb(image)
