"""Random resized crop (``rrc``) of a batch, per-sample boxes resampled in one ``F.grid_sample``.

The crop boxes and sampling grids are also used by :mod:`medtrain.augment.fused`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medtrain.augment._registry import register_op
from medtrain.augment._checks import _check_batch, check_prob, check_range
from medtrain.errors import MedtrainError


# ---------------------------------------------------------------------------------------------------------
# Random resized crop (Szegedy et al., "Going deeper with convolutions", CVPR 2015)
# ---------------------------------------------------------------------------------------------------------


def sample_crop_boxes(b: int, h: int, w: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                      device=None, attempts: int = 10) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Draw one random-resized-crop box per sample, exactly as ``torchvision``'s RandomResizedCrop.

    Area share ~ U(scale), aspect ratio log-uniform in ``ratio``; up to ``attempts`` draws per sample
    are made at once and the first that fits is kept, falling back to the largest central crop with
    the ratio clamped into range.

    Returns:
        ``(top, left, height, width)``, each an int64 tensor ``(B,)``.
    """
    area = float(h * w)
    target = area * torch.empty(b, attempts, device=device).uniform_(*scale)
    log_r = torch.empty(b, attempts, device=device).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    ar = torch.exp(log_r)
    cw = torch.sqrt(target * ar).round().long()
    ch = torch.sqrt(target / ar).round().long()
    ok = (cw > 0) & (ch > 0) & (cw <= w) & (ch <= h)
    # Index of the first attempt that fits (argmax of a bool picks the first True).
    first = ok.to(torch.uint8).argmax(1, keepdim=True)
    found = ok.any(1)
    cw = cw.gather(1, first).squeeze(1)
    ch = ch.gather(1, first).squeeze(1)
    # Fallback: central crop of the whole image with the ratio clamped into range.
    in_ratio = w / h
    if in_ratio < ratio[0]:
        fw, fh = w, int(round(w / ratio[0]))
    elif in_ratio > ratio[1]:
        fh, fw = h, int(round(h * ratio[1]))
    else:
        fw, fh = w, h
    cw = torch.where(found, cw, torch.full_like(cw, fw))
    ch = torch.where(found, ch, torch.full_like(ch, fh))
    u = torch.rand(2, b, device=device)
    top = (u[0] * (h - ch + 1).float()).floor().long().clamp_max_(h - ch)
    left = (u[1] * (w - cw + 1).float()).floor().long().clamp_max_(w - cw)
    top = torch.where(found, top, (h - ch) // 2)
    left = torch.where(found, left, (w - cw) // 2)
    return top, left, ch, cw


def crop_grid(top: Tensor, left: Tensor, ch: Tensor, cw: Tensor, h: int, w: int, oh: int, ow: int,
              flip: Tensor | None = None, dtype=torch.float32) -> Tensor:
    """Sampling grid ``(B, oh, ow, 2)`` for ``F.grid_sample`` that resizes each crop box to ``(oh, ow)``.

    Output pixel ``u`` reads crop coordinate ``(u + 0.5) * cw / ow - 0.5`` (half-pixel centres, as
    ``F.interpolate``), clamped to the box so that, like crop-then-resize, no pixel outside the box
    leaks in at its edges. A horizontal flip reverses the x coordinates, so flip and crop cost one
    resampling together. The grid is separable, so it is built from two small per-sample vectors.
    """
    dev = top.device

    def axis(start: Tensor, extent: Tensor, n: int, size: int) -> Tensor:
        u = torch.arange(n, device=dev, dtype=torch.float32) + 0.5
        ext = extent.float()[:, None]
        p = (u[None, :] * ext / n - 0.5).clamp_(min=torch.zeros_like(ext), max=ext - 1)
        p = p + start.float()[:, None]
        return (2 * p + 1) / size - 1  # pixel -> normalised (align_corners=False)

    gx = axis(left, cw, ow, w)
    if flip is not None:
        gx = torch.where(flip[:, None], gx.flip(1), gx)
    gy = axis(top, ch, oh, h)
    b = top.shape[0]
    grid = torch.empty(b, oh, ow, 2, device=dev, dtype=dtype)
    grid[..., 0] = gx[:, None, :]
    grid[..., 1] = gy[:, :, None]
    return grid


def random_resized_crop(x: Tensor, size: int | tuple[int, int] | None = None, scale=(0.08, 1.0),
                        ratio=(3 / 4, 4 / 3), flip_p: float = 0.0) -> Tensor:
    """Crop a random box per sample and resize it to ``size`` with one bilinear ``grid_sample``.

    Equivalent to crop-then-resize per sample (torchvision's RandomResizedCrop without antialiasing,
    which only matters when the output is smaller than the crop).

    Args:
        x: float batch ``(B, C, H, W)``.
        size: output ``(H', W')`` (an int for square); default: the input size.
        scale: range of the crop's share of the image area.
        ratio: range of the crop's aspect ratio (width / height), drawn log-uniformly.
        flip_p: probability of also flipping each sample horizontally, fused into the same resampling.

    Returns:
        ``(B, C, H', W')``.
    """
    _check_batch(x, "random_resized_crop")
    b, _, h, w = x.shape
    oh, ow = _size2(size, h, w)
    top, left, ch, cw = sample_crop_boxes(b, h, w, scale, ratio, x.device)
    flip = torch.rand(b, device=x.device) < flip_p if flip_p > 0 else None
    src = x if x.is_floating_point() else x.float()
    grid = crop_grid(top, left, ch, cw, h, w, oh, ow, flip, src.dtype)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _size2(size, h: int, w: int) -> tuple[int, int]:
    if size is None:
        return h, w
    if isinstance(size, int):
        return size, size
    oh, ow = (int(s) for s in size)
    return oh, ow


def _check_size(size):
    """None (the input's size), a side, or (height, width): whole numbers >= 1."""
    if size is None:
        return None
    sides = list(size) if isinstance(size, (list, tuple)) else [size]
    ok = len(sides) in (1, 2) and all(not isinstance(s, bool) and isinstance(s, (int, float)) and s >= 1
                                      and float(s).is_integer() for s in sides)
    if not ok:
        raise MedtrainError(f"rrc_size must be a side or [height, width] in whole pixels >= 1, got {size!r}")
    return int(sides[0]) if not isinstance(size, (list, tuple)) else tuple(int(s) for s in sides * (3 - len(sides)))[:2]


class RandomResizedCrop(nn.Module):
    """Random-resized crop with per-sample boxes; see :func:`random_resized_crop`."""

    def __init__(self, size=None, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), flip_p: float = 0.0):
        super().__init__()
        self.size = _check_size(size)
        self.scale = check_range("rrc scale", scale, 0.0, 1.0, low_open=True)
        self.ratio = check_range("rrc ratio", ratio, 0.0, None, low_open=True)
        self.flip_p = check_prob("rrc flip probability", flip_p)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return random_resized_crop(x, self.size, self.scale, self.ratio, self.flip_p), y


register_op(
    "rrc",
    "random-resized crop as torchvision's: area share U(rrc_scale), aspect ratio log-U(rrc_ratio), "
    "resized to rrc_size (default: the input's size)",
)(lambda p: RandomResizedCrop(p.get("rrc_size"), p.get("rrc_scale", (0.08, 1.0)),
                              p.get("rrc_ratio", (3 / 4, 4 / 3))))
