"""Batched data augmentation, applied on the training device to whole batches.

Contract used by training: ``build_batch_augment(names, params)`` returns a module (or ``None`` for no
augmentation) called as ``x, y = aug(x, y)`` with ``x`` a float batch ``(B, C, H, W)`` in [0, 1] and
``y`` soft targets ``(B, K)`` (one-hot, or multi-hot for multi-label tasks); ops that mix samples
(Mixup, CutMix) mix ``y`` too.
"""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from medtrain.augment.geometric import RandomFlip, RandomShift
from medtrain.errors import suggest

_OPS = {
    "flip": lambda p: RandomFlip(p.get("flip_p", 0.5)),
    "vflip": lambda p: RandomFlip(p.get("flip_p", 0.5), dim=-2),
    "shift": lambda p: RandomShift(p.get("shift_frac", 0.125)),
}


class Compose(nn.Module):
    """Apply augmentations in order to ``(x, y)``."""

    def __init__(self, ops: Sequence[nn.Module]):
        super().__init__()
        self.ops = nn.ModuleList(ops)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        for op in self.ops:
            x, y = op(x, y)
        return x, y


def available() -> list[str]:
    return sorted(_OPS)


def build_batch_augment(names: Sequence[str], params: dict | None = None) -> Compose | None:
    """Build the pipeline for a list of op names (``[]`` or ``["none"]`` means no augmentation)."""
    params = params or {}
    names = [n for n in names if n and n != "none"]
    if not names:
        return None
    ops = []
    for n in names:
        if n not in _OPS:
            raise suggest(n, _OPS, "augmentation")
        ops.append(_OPS[n](params))
    return Compose(ops)
