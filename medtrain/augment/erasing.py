"""Batched occlusion augmentations: random erasing and Cutout, one random box per sample.

Both take a float batch ``(B, C, H, W)`` and fill each sample's box through one broadcast mask, so the
whole batch is one pass whatever the number of boxes.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from medtrain.augment._registry import register_op
from medtrain.augment._checks import check_fill
from medtrain.augment.geometric import _check_batch, check_prob, check_range
from medtrain.errors import MedtrainError


def box_mask(top: Tensor, left: Tensor, bh: Tensor, bw: Tensor, h: int, w: int) -> Tensor:
    """Boolean mask ``(B, 1, H, W)``, True inside each sample's box ``[top, top+bh) x [left, left+bw)``."""
    rows = torch.arange(h, device=top.device)
    cols = torch.arange(w, device=top.device)
    in_r = (rows[None, :] >= top[:, None]) & (rows[None, :] < (top + bh)[:, None])  # (B, H)
    in_c = (cols[None, :] >= left[:, None]) & (cols[None, :] < (left + bw)[:, None])  # (B, W)
    return (in_r[:, :, None] & in_c[:, None, :])[:, None]


def sample_erasing_boxes(b: int, h: int, w: int, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3),
                         device=None, attempts: int = 10) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Draw random-erasing boxes as Zhong et al. (and torchvision) do, for a whole batch at once.

    Each sample is erased with probability ``p``; its box has area share ~ U(scale) and aspect ratio
    (height / width) log-uniform in ``ratio``; up to ``attempts`` draws are made and the first box that
    fits inside the image is kept; a sample whose draws all fail is left alone.

    Returns:
        ``(top, left, height, width)`` int64 ``(B,)``; height = width = 0 where nothing is erased.
    """
    area = float(h * w)
    target = area * torch.empty(b, attempts, device=device).uniform_(*scale)
    ar = torch.exp(torch.empty(b, attempts, device=device).uniform_(math.log(ratio[0]), math.log(ratio[1])))
    eh = torch.sqrt(target * ar).round().long()
    ew = torch.sqrt(target / ar).round().long()
    ok = (eh > 0) & (ew > 0) & (eh < h) & (ew < w)
    first = ok.to(torch.uint8).argmax(1, keepdim=True)
    use = ok.any(1) & (torch.rand(b, device=device) < p)
    eh = torch.where(use, eh.gather(1, first).squeeze(1), 0)
    ew = torch.where(use, ew.gather(1, first).squeeze(1), 0)
    u = torch.rand(2, b, device=device)
    top = (u[0] * (h - eh + 1).float()).floor().long().clamp_max_(h - eh)
    left = (u[1] * (w - ew + 1).float()).floor().long().clamp_max_(w - ew)
    return top, left, eh, ew


def _fill(x: Tensor, mask: Tensor, value: float | str) -> Tensor:
    if value == "random":
        # Random values in the image's range, one per erased pixel, as in the paper (its best variant).
        fill = torch.rand_like(x)
    else:
        fill = torch.tensor(float(value), dtype=x.dtype, device=x.device)
    return torch.where(mask, fill, x)


def random_erasing(x: Tensor, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3),
                   value: float | str = 0.0) -> Tensor:
    """Erase one random box per sample (Zhong et al., "Random Erasing Data Augmentation", AAAI 2020).

    Args:
        x: float batch ``(B, C, H, W)`` in [0, 1].
        p: probability of erasing each sample, in [0, 1].
        scale: range of the box's share of the image area, within (0, 1].
        ratio: range of the box's aspect ratio, drawn log-uniformly, ``0 < low <= high``.
        value: constant fill (a number; the module :class:`RandomErasing` takes one in [0, 1]), or ``"random"``
            for uniform random values in [0, 1] per pixel.

    Returns:
        the batch, same shape, each sample's box filled.
    """
    _check_batch(x, "random_erasing")
    p = check_prob("erasing probability", p)
    scale = check_range("erasing area range", scale, 0.0, 1.0, low_open=True)
    ratio = check_range("erasing aspect-ratio range", ratio, 0.0, None, low_open=True)
    value = check_fill("erasing fill", value, bounded=False)
    b, _, h, w = x.shape
    top, left, eh, ew = sample_erasing_boxes(b, h, w, p, scale, ratio, x.device)
    return _fill(x, box_mask(top, left, eh, ew, h, w), value)


def cutout_boxes(b: int, h: int, w: int, size: int, p: float = 1.0, device=None
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Cutout boxes: a ``size`` x ``size`` square centred uniformly on a pixel, clipped to the image."""
    cy = torch.randint(0, h, (b,), device=device)
    cx = torch.randint(0, w, (b,), device=device)
    use = torch.rand(b, device=device) < p
    y0 = (cy - size // 2).clamp(0, h)
    x0 = (cx - size // 2).clamp(0, w)
    y1 = (cy - size // 2 + size).clamp(0, h)
    x1 = (cx - size // 2 + size).clamp(0, w)
    bh = torch.where(use, y1 - y0, 0)
    bw = torch.where(use, x1 - x0, 0)
    return y0, x0, bh, bw


def _cutout_pixels(size: int | float, h: int, w: int) -> int:
    if isinstance(size, float):
        return max(1, int(round(size * min(h, w))))
    return int(size)


def cutout(x: Tensor, size: int | float = 0.5, p: float = 1.0, value: float | str = 0.0) -> Tensor:
    """Mask one fixed-size square per sample (DeVries & Taylor, "Improved Regularization of CNNs with Cutout", 2017).

    The square's centre is uniform over the image, so it may cross the border and is then clipped
    (the paper found this important: some images keep all their content).

    Args:
        x: float batch ``(B, C, H, W)``.
        size: side in pixels (int > 0) or as a fraction of ``min(H, W)`` (float in (0, 1]).
        p: probability of masking each sample, in [0, 1].
        value: constant fill (a number; the module :class:`Cutout` takes one in [0, 1]), or ``"random"``.

    Returns:
        the batch, same shape, each masked sample's square filled.
    """
    _check_batch(x, "cutout")
    size = _check_cutout_size(size)
    p = check_prob("cutout probability", p)
    value = check_fill("cutout fill", value, bounded=False)
    b, _, h, w = x.shape
    top, left, bh, bw = cutout_boxes(b, h, w, _cutout_pixels(size, h, w), p, x.device)
    return _fill(x, box_mask(top, left, bh, bw, h, w), value)


def _check_cutout_size(size) -> int | float:
    if isinstance(size, bool) or not isinstance(size, (int, float)) or size <= 0 or (
            isinstance(size, float) and size > 1):
        raise MedtrainError(f"cutout size must be pixels (int > 0) or a fraction in (0, 1], got {size!r}")
    return size


class RandomErasing(nn.Module):
    """Per-sample random erasing; see :func:`random_erasing`."""

    def __init__(self, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value: float | str = 0.0):
        super().__init__()
        self.p = check_prob("erasing probability", p)
        self.scale = check_range("erasing area range", scale, 0.0, 1.0, low_open=True)
        self.ratio = check_range("erasing aspect-ratio range", ratio, 0.0, None, low_open=True)
        self.value = check_fill("erasing fill", value)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return random_erasing(x, self.p, self.scale, self.ratio, self.value), y


class Cutout(nn.Module):
    """Per-sample Cutout; see :func:`cutout`."""

    def __init__(self, size: int | float = 0.5, p: float = 1.0, value: float | str = 0.0):
        super().__init__()
        self.size = _check_cutout_size(size)
        self.p = check_prob("cutout probability", p)
        self.value = check_fill("cutout fill", value)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return cutout(x, self.size, self.p, self.value), y


register_op(
    "erasing",
    "random erasing (Zhong et al., AAAI 2020): with probability erasing_p, one box of area share "
    "U(erasing_scale) and aspect ratio log-U(erasing_ratio), filled with erasing_value (or 'random' "
    "noise)",
)(lambda p: RandomErasing(p.get("erasing_p", 0.5), p.get("erasing_scale", (0.02, 0.33)),
                          p.get("erasing_ratio", (0.3, 3.3)), p.get("erasing_value", 0.0)))
register_op(
    "cutout",
    "Cutout (DeVries & Taylor, 2017): with probability cutout_p, a square of side cutout_size "
    "(pixels if an integer, else a share of the shorter side) centred anywhere, clipped at the "
    "border, filled with cutout_value",
)(lambda p: Cutout(p.get("cutout_size", 0.5), p.get("cutout_p", 1.0),
                   p.get("cutout_value", 0.0)))
