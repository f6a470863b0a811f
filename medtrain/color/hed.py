"""RGB <-> HED stain space (haematoxylin, eosin, DAB), matching ``skimage.color.rgb2hed`` / ``hed2rgb``.

Colour deconvolution: optical density (Beer-Lambert, -log of transmitted light) is unmixed with the
inverse of the stain-vector matrix. As in scikit-image, RGB is floored at 1e-6 before the log and the
densities are divided by -log(1e-6) (so a channel of 1e-6 has density 1), and negative stain amounts
are clipped to 0. Because of that clipping the forward transform is lossy: ``hed_to_rgb`` inverts it
only for colours that are non-negative mixtures of the three stains.

References:
    Ruifrok & Johnston, "Quantification of histochemical staining by color deconvolution",
    Anal. Quant. Cytol. Histol. 23(4), 2001.
    Gowda & Yuan, "ColorNet: Investigating the importance of color spaces for image classification",
    ACCV 2018.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from medtrain.color._utils import check_image, inverse, matrix, mix_channels

# Rows are the optical-density vectors of haematoxylin, eosin and DAB (Ruifrok & Johnston).
RGB_FROM_HED = matrix([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
HED_FROM_RGB = inverse(RGB_FROM_HED)
_FLOOR = 1e-6
_LOG_FLOOR = math.log(_FLOOR)


def rgb_to_hed(image: Tensor) -> Tensor:
    """Convert RGB (transmitted light) to HED stain amounts.

    Args:
        image: RGB, floating point, in [0, 1], shaped ``(*, 3, H, W)``.

    Returns:
        Non-negative stain amounts (H, E, DAB) shaped ``(*, 3, H, W)``; 1 is the density of a channel
        at 1e-6.

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    check_image(image)
    density = torch.log(image.clamp_min(_FLOOR)) / _LOG_FLOOR
    # scikit-image multiplies row vectors on the right (``od @ hed_from_rgb``), hence the transpose.
    return mix_channels(HED_FROM_RGB.T, density).clamp_min(0.0)


def hed_to_rgb(image: Tensor) -> Tensor:
    """Convert HED stain amounts back to RGB, clipped to [0, 1] as scikit-image does.

    Args:
        image: Stain amounts (H, E, DAB), floating point, shaped ``(*, 3, H, W)``.

    Returns:
        RGB in [0, 1], shaped ``(*, 3, H, W)``.

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    check_image(image)
    log_rgb = mix_channels(RGB_FROM_HED.T, image * _LOG_FLOOR)
    return torch.exp(log_rgb).clamp(0.0, 1.0)


class RgbToHed(nn.Module):
    """Module form of :func:`rgb_to_hed`: ``(*, 3, H, W)`` RGB -> HED."""

    def forward(self, image: Tensor) -> Tensor:
        return rgb_to_hed(image)


class HedToRgb(nn.Module):
    """Module form of :func:`hed_to_rgb`: ``(*, 3, H, W)`` HED -> RGB."""

    def forward(self, image: Tensor) -> Tensor:
        return hed_to_rgb(image)
