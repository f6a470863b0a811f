"""The network-side colour conversion: a module that converts RGB batches and standardises the channels.

Kept apart from :mod:`medtrain.color.convert` (the conversions) and :mod:`medtrain.color.stats` (fitting
the statistics), which it combines, so neither of those imports the other's user.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from medtrain.color.convert import convert, resolve_space
from medtrain.color.stats import ChannelStats
from medtrain.errors import MedtrainError


class ColorSpace(nn.Module):
    """Convert ``(*, 3, H, W)`` RGB in [0, 1] to a colour space, optionally standardising its channels.

    Args:
        space: One of :data:`medtrain.color.SPACES` (case-insensitive).
        stats: Per-channel statistics fitted in the same space (:func:`medtrain.color.fit_channel_stats`);
            when given, the output is ``(converted - mean) / safe_std`` per channel
            (:func:`medtrain.color.stats.safe_std`: a constant channel is centred, not scaled).

    Raises:
        MedtrainError: If ``space`` is unknown or ``stats`` were fitted in another space.
    """

    def __init__(self, space: str, stats: ChannelStats | None = None):
        super().__init__()
        self.space = resolve_space(space)
        self.stats = stats
        if stats is not None:
            if stats.space != self.space:
                raise MedtrainError(
                    f"channel statistics were fitted in '{stats.space}', not '{self.space}'"
                )
            # Buffers, so the statistics follow .to(device) and land in the state dict; float32 because
            # not every backend has float64, and 1e-7 relative is far below the statistics' own noise.
            self.register_buffer("mean", torch.tensor(stats.mean, dtype=torch.float32)[:, None, None])
            self.register_buffer("std", torch.tensor(stats.safe_std, dtype=torch.float32)[:, None, None])

    def forward(self, images: Tensor) -> Tensor:
        out = convert(images, self.space)
        if self.stats is None:
            return out
        return (out - self.mean.to(out.dtype)) / self.std.to(out.dtype)

    def extra_repr(self) -> str:
        return f"space={self.space!r}, normalised={self.stats is not None}"
