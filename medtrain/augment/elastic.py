"""Elastic deformation (``elastic``): a smoothed random displacement field per sample."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medtrain.augment._registry import register_op
from medtrain.augment._checks import _check_batch
from medtrain.errors import MedtrainError


# ---------------------------------------------------------------------------------------------------------
# Elastic deformation (Simard, Steinkraus & Platt, ICDAR 2003)
# ---------------------------------------------------------------------------------------------------------


def _gaussian_kernel1d(sigma: float, device) -> Tensor:
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def elastic_deform(x: Tensor, alpha: float = 34.0, sigma: float = 4.0) -> Tensor:
    """Warp each sample by its own smooth random displacement field.

    As in Simard et al. (2003): displacements ~ U(-1, 1) per pixel, smoothed with a Gaussian of
    standard deviation ``sigma`` pixels and scaled by ``alpha`` pixels; bilinear resampling.

    Args:
        x: float batch ``(B, C, H, W)``.
        alpha: displacement scale in pixels.
        sigma: smoothing in pixels (small sigma -> almost random noise, large -> almost a translation).
    """
    _check_batch(x, "elastic_deform")
    b, c, h, w = x.shape
    dev = x.device
    field = torch.rand(b * 2, 1, h, w, device=dev) * 2 - 1
    k = _gaussian_kernel1d(sigma, dev)
    r = k.numel() // 2
    # Separable blur; reflect padding keeps the field's statistics at the border.
    field = F.conv2d(F.pad(field, (r, r, 0, 0), mode="reflect" if w > r else "replicate"), k.view(1, 1, 1, -1))
    field = F.conv2d(F.pad(field, (0, 0, r, r), mode="reflect" if h > r else "replicate"), k.view(1, 1, -1, 1))
    field = field.view(b, 2, h, w) * alpha
    # Pixel displacements -> normalised grid offsets (align_corners=False: 2 / size per pixel).
    ys = (torch.arange(h, device=dev, dtype=torch.float32) + 0.5) * (2 / h) - 1
    xs = (torch.arange(w, device=dev, dtype=torch.float32) + 0.5) * (2 / w) - 1
    gx = xs[None, None, :] + field[:, 0] * (2 / w)
    gy = ys[None, :, None] + field[:, 1] * (2 / h)
    grid = torch.stack([gx, gy], -1)
    src = x if x.is_floating_point() else x.float()
    return F.grid_sample(src, grid.to(src.dtype), mode="bilinear", padding_mode="border", align_corners=False)


class ElasticDeform(nn.Module):
    """Per-sample elastic deformation; see :func:`elastic_deform`."""

    def __init__(self, alpha: float = 34.0, sigma: float = 4.0):
        super().__init__()
        if alpha < 0 or sigma <= 0:
            raise MedtrainError(f"elastic: alpha must be >= 0 and sigma > 0, got alpha={alpha}, sigma={sigma}")
        self.alpha, self.sigma = float(alpha), float(sigma)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return elastic_deform(x, self.alpha, self.sigma), y


register_op(
    "elastic",
    "elastic deformation (Simard et al., 2003): a random displacement field smoothed by a Gaussian "
    "of elastic_sigma pixels, scaled by elastic_alpha pixels",
)(lambda p: ElasticDeform(p.get("elastic_alpha", 34.0), p.get("elastic_sigma", 4.0)))
