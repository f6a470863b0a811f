"""Per-channel mean and standard deviation of a training set in a given colour space.

Each space has its own units (YCbCr is in 8-bit code values, LAB's L* runs to 100, HSV sits in
[0, 1]), so a network fed different spaces needs each one standardised with statistics fitted in
that space. Angles are treated as plain numbers: HSV hue (fraction of a turn) and LCh hue (radians)
get a linear mean and std, exactly as the values come out of :func:`medtrain.color.convert`, with no
circular statistics; red hues sit at both ends of the range.

References:
    Gowda & Yuan, "ColorNet: Investigating the importance of color spaces for image classification",
    ACCV 2018.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Union

import torch
from torch import Tensor

from medtrain.color.convert import convert, resolve_space
from medtrain.errors import MedtrainError

Images = Union[Tensor, Iterable]


@dataclass(frozen=True)
class ChannelStats:
    """Per-channel statistics of images in one colour space.

    Attributes:
        space: Canonical name of the colour space the statistics were fitted in.
        mean: Mean of each channel.
        std: Population standard deviation (divisor N) of each channel.
        count: Number of pixels the statistics were fitted on.
    """

    space: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    count: int

    @property
    def safe_std(self) -> tuple[float, float, float]:
        """``std`` with zeros replaced by 1, so a constant channel is centred instead of blown up."""
        return tuple(s if s > 0 else 1.0 for s in self.std)  # type: ignore[return-value]

    def normalize(self, images: Tensor) -> Tensor:
        """Standardise ``(*, 3, H, W)`` images that are already in :attr:`space`."""
        mean = torch.tensor(self.mean, dtype=images.dtype, device=images.device)[:, None, None]
        std = torch.tensor(self.safe_std, dtype=images.dtype, device=images.device)[:, None, None]
        return (images - mean) / std

    def to_dict(self) -> dict:
        """Plain-Python form, for JSON/YAML run records."""
        return {"space": self.space, "mean": list(self.mean), "std": list(self.std), "count": self.count}

    @classmethod
    def from_dict(cls, data: dict) -> ChannelStats:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(
                space=resolve_space(data["space"]),
                mean=tuple(float(v) for v in data["mean"]),  # type: ignore[arg-type]
                std=tuple(float(v) for v in data["std"]),  # type: ignore[arg-type]
                count=int(data["count"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MedtrainError(f"malformed channel statistics {data!r}: {exc}") from None


def _as_float(chunk: Tensor) -> Tensor:
    if chunk.dtype == torch.uint8:
        # Same scaling as scikit-image's img_as_float for uint8.
        return chunk.to(torch.float32) / 255.0
    if not chunk.is_floating_point():
        raise MedtrainError(f"images must be uint8 or floating point in [0, 1], got {chunk.dtype}")
    return chunk


def _chunks(images: Images, batch: int) -> Iterator[Tensor]:
    if isinstance(images, Tensor):
        if images.ndim < 3 or images.shape[-3] != 3:
            raise MedtrainError(f"images must be shaped (N, 3, H, W), got {tuple(images.shape)}")
        flat = images.reshape(-1, *images.shape[-3:])
        for start in range(0, flat.shape[0], batch):
            yield flat[start : start + batch]
        return
    try:
        iterator = iter(images)
    except TypeError:
        raise MedtrainError(
            f"images must be a tensor or an iterable of tensors, got {type(images).__name__}"
        ) from None
    for item in iterator:
        # Data loaders yield (images, targets); statistics only need the images.
        chunk = item[0] if isinstance(item, (tuple, list)) else item
        if not isinstance(chunk, Tensor):
            raise MedtrainError(f"image batches must be tensors, got {type(chunk).__name__}")
        yield from _chunks(chunk, batch)


def fit_channel_stats(
    images: Images,
    space: str,
    batch: int = 256,
    device: torch.device | str | None = None,
) -> ChannelStats:
    """Fit per-channel mean and std of a training set after conversion to ``space``.

    Images are converted ``batch`` at a time, so memory stays bounded by one chunk; per-chunk moments
    are accumulated in float64 and merged with Chan et al.'s pairwise update, which avoids the
    cancellation of a naive sum-of-squares for large-offset spaces such as YCbCr.

    Args:
        images: RGB images shaped ``(N, 3, H, W)`` (or any ``(*, 3, H, W)``), uint8 in [0, 255] or
            floating point in [0, 1]; or an iterable of such batches, or of tuples whose first element
            is such a batch (a ``DataLoader``).
        space: One of :data:`medtrain.color.SPACES` (case-insensitive).
        batch: Images converted at a time.
        device: Where to convert (e.g. ``"cuda"``); defaults to each chunk's own device.

    Returns:
        The statistics, with population standard deviation (divisor N).

    Raises:
        MedtrainError: If ``space`` is unknown, ``batch`` is not positive, the images are empty,
            mis-shaped or of an integer dtype other than uint8.
    """
    name = resolve_space(space)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise MedtrainError(f"batch must be a positive integer, got {batch!r}")
    count = 0
    mean = torch.zeros(3, dtype=torch.float64)
    m2 = torch.zeros(3, dtype=torch.float64)
    for chunk in _chunks(images, batch):
        if device is not None:
            chunk = chunk.to(device)
        converted = convert(_as_float(chunk), name).to(torch.float64)
        values = converted.transpose(0, -3).reshape(3, -1)
        n = values.shape[1]
        if n == 0:
            continue
        chunk_mean = values.mean(dim=1)
        chunk_m2 = ((values - chunk_mean[:, None]) ** 2).sum(dim=1)
        chunk_mean, chunk_m2 = chunk_mean.cpu(), chunk_m2.cpu()
        total = count + n
        delta = chunk_mean - mean
        mean = mean + delta * (n / total)
        m2 = m2 + chunk_m2 + delta**2 * (count * n / total)
        count = total
    if count == 0:
        raise MedtrainError("cannot fit channel statistics on an empty set of images")
    std = (m2 / count).sqrt()
    return ChannelStats(
        space=name,
        mean=tuple(float(v) for v in mean),  # type: ignore[arg-type]
        std=tuple(float(v) for v in std),  # type: ignore[arg-type]
        count=count,
    )
