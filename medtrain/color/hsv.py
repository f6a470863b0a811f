"""RGB <-> HSV (hue, saturation, value), matching ``skimage.color.rgb2hsv`` / ``hsv2rgb``.

All three channels are in [0, 1] for RGB in [0, 1]. Hue is an angle expressed as a fraction of a full
turn (scikit-image's unit, not degrees or radians): 0 and 1 are the same colour (red), and hue is set to
0 for grey pixels, where it is undefined. The conversions here keep that unit as-is; anything that
treats hue as a linear quantity (channel statistics, a CNN's first convolution) sees a seam at red.

References:
    Smith, "Color gamut transform pairs", SIGGRAPH 1978.
    Gowda & Yuan, "ColorNet: Investigating the importance of color spaces for image classification",
    ACCV 2018.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from medtrain.color._utils import check_image, nonzero_or_one


def rgb_to_hsv(image: Tensor) -> Tensor:
    """Convert RGB to HSV.

    Grey pixels (all channels equal) get hue 0 and saturation 0, exactly as in scikit-image; the
    divisions are guarded by masking rather than by adding an epsilon, so values elsewhere are
    unchanged and gradients stay finite everywhere. Where two channels tie for the maximum, blue
    wins over green over red, which is scikit-image's order.

    Args:
        image: RGB, floating point, in [0, 1], shaped ``(*, 3, H, W)``.

    Returns:
        HSV shaped ``(*, 3, H, W)``: hue in [0, 1) (fraction of a turn), saturation and value in
        [0, 1].

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    check_image(image)
    r, g, b = image.unbind(-3)
    v = torch.maximum(torch.maximum(r, g), b)
    delta = v - torch.minimum(torch.minimum(r, g), b)
    chromatic = delta != 0
    safe_delta = nonzero_or_one(delta, chromatic)
    s = torch.where(chromatic, delta / nonzero_or_one(v, v != 0), torch.zeros_like(v))
    h = torch.where(
        b == v,
        4.0 + (r - g) / safe_delta,
        torch.where(g == v, 2.0 + (b - r) / safe_delta, (g - b) / safe_delta),
    )
    h = torch.remainder(h / 6.0, 1.0)
    # in float32 a hue just below 0 wraps to 1 - 1e-9, which rounds to 1.0: the documented range is [0, 1)
    h = torch.where(chromatic & (h < 1.0), h, torch.zeros_like(h))
    return torch.stack((h, s, v), dim=-3)


def hsv_to_rgb(image: Tensor) -> Tensor:
    """Convert HSV (scikit-image units, hue as a fraction of a turn) back to RGB.

    Hue outside [0, 1) wraps around. The sector index has no gradient; hue still gets one through
    the position inside its sector.

    Args:
        image: HSV, floating point, shaped ``(*, 3, H, W)``.

    Returns:
        RGB shaped ``(*, 3, H, W)``.

    Raises:
        MedtrainError: If ``image`` is not floating point or not shaped ``(*, 3, H, W)``.
    """
    check_image(image)
    h, s, v = image.unbind(-3)
    h6 = h * 6.0
    sector = torch.floor(h6)
    f = h6 - sector
    p = v * (1.0 - s)
    q = v * (1.0 - f * s)
    t = v * (1.0 - (1.0 - f) * s)
    # One (r, g, b) candidate per 60-degree sector, picked with a gather so the op stays batched.
    candidates = torch.stack(
        (
            torch.stack((v, t, p), dim=-3),
            torch.stack((q, v, p), dim=-3),
            torch.stack((p, v, t), dim=-3),
            torch.stack((p, q, v), dim=-3),
            torch.stack((t, p, v), dim=-3),
            torch.stack((v, p, q), dim=-3),
        ),
        dim=-4,
    )
    index = torch.remainder(sector, 6).long()[..., None, None, :, :]
    index = index.expand(*index.shape[:-3], 3, *index.shape[-2:])
    return candidates.gather(-4, index).squeeze(-4)


class RgbToHsv(nn.Module):
    """Module form of :func:`rgb_to_hsv`: ``(*, 3, H, W)`` RGB -> HSV."""

    def forward(self, image: Tensor) -> Tensor:
        return rgb_to_hsv(image)


class HsvToRgb(nn.Module):
    """Module form of :func:`hsv_to_rgb`: ``(*, 3, H, W)`` HSV -> RGB."""

    def forward(self, image: Tensor) -> Tensor:
        return hsv_to_rgb(image)
