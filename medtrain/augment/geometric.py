"""Batched geometric augmentations with per-sample random parameters.

Every op takes a float batch ``(B, C, H, W)`` and draws its parameters per sample from torch's global
generator (training seeds it per epoch, so a resumed run draws the same numbers).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medtrain.augment._registry import register_op


def random_flip(x: Tensor, p: float = 0.5, dim: int = -1) -> Tensor:
    """Flip each sample along ``dim`` (default: horizontally) with probability ``p``."""
    flip = torch.rand(x.shape[0], device=x.device) < p
    if flip.any():
        x = x.clone()
        x[flip] = x[flip].flip(dim)
    return x


def random_shift(x: Tensor, max_frac: float = 0.125) -> Tensor:
    """Translate each sample by up to ``max_frac`` of its size (pad-and-crop, reflect padding).

    The crop-with-padding of the CIFAR ResNets (He et al., CVPR 2016), done for the whole batch with one
    gather instead of one crop per sample.
    """
    b, c, h, w = x.shape
    ph, pw = max(1, round(h * max_frac)), max(1, round(w * max_frac))
    padded = F.pad(x, (pw, pw, ph, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
    dy = torch.randint(0, 2 * ph + 1, (b,), device=x.device)
    dx = torch.randint(0, 2 * pw + 1, (b,), device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # (B, H)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])  # (B, W)
    idx_r = rows[:, None, :, None].expand(b, c, h, padded.shape[-1])
    out = padded.gather(2, idx_r)
    idx_c = cols[:, None, None, :].expand(b, c, h, w)
    return out.gather(3, idx_c)


class RandomFlip(nn.Module):
    def __init__(self, p: float = 0.5, dim: int = -1):
        super().__init__()
        self.p, self.dim = p, dim

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return random_flip(x, self.p, self.dim), y


class RandomShift(nn.Module):
    def __init__(self, max_frac: float = 0.125):
        super().__init__()
        self.max_frac = max_frac

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return random_shift(x, self.max_frac), y


register_op("flip")(lambda p: RandomFlip(p.get("flip_p", 0.5)))
register_op("vflip")(lambda p: RandomFlip(p.get("flip_p", 0.5), dim=-2))
register_op("shift")(lambda p: RandomShift(p.get("shift_frac", 0.125)))
