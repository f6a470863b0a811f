"""Per-channel mean and standard deviation of a training set in a given colour space.

Each space has its own units (YCbCr is in 8-bit code values, LAB's L* runs to 100, HSV sits in
[0, 1]), so a network fed different spaces needs each one standardised with statistics fitted in
that space. Angles are treated as plain numbers: HSV hue (fraction of a turn) and LCh hue (radians)
get a linear mean and std, exactly as the values come out of :func:`medtrain.color.convert`, with no
circular statistics; red hues sit at both ends of the range.

The moments are owned here for every caller: :func:`channel_stats` gives the per-channel mean and std
of any uint8 training set ``(N, C, *spatial)`` (grey or RGB, 2D or 3D) on the [0, 1] scale, the input
normalisation of training; :func:`fit_channel_stats` gives them in a colour space. Both accumulate
chunk by chunk in float64 (Chan et al.'s pairwise update) and share one zero-std rule, :func:`safe_std`:
a channel whose std is below :data:`MIN_STD` counts as constant and is divided by 1, i.e. centred but
not scaled (dividing by a tiny std would blow any test-time deviation up a thousandfold).

References:
    Chan, Golub & LeVeque, "Algorithms for computing the sample variance", Am. Stat. 37(3), 1983.
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

#: Below this standard deviation a channel counts as constant (on the [0, 1] scale a quarter of one
#: uint8 step, 1/255); :func:`safe_std` then divides it by 1 instead.
MIN_STD = 1e-3


def safe_std(std: Tensor) -> Tensor:
    """The zero-std rule: ``std`` with every value below :data:`MIN_STD` (or NaN) replaced by 1."""
    std = torch.as_tensor(std)
    return torch.where(std >= MIN_STD, std, torch.ones_like(std))


class _Moments:
    """Running per-channel count, mean and centred sum of squares, merged chunk by chunk in float64."""

    def __init__(self, channels: int):
        self.count = 0
        self.mean = torch.zeros(channels, dtype=torch.float64)
        self.m2 = torch.zeros(channels, dtype=torch.float64)

    def add(self, values: Tensor) -> None:
        """Merge ``values`` ``(C, n)`` (any float dtype, any device)."""
        n = values.shape[1]
        if n == 0:
            return
        values = values.to(torch.float64)
        chunk_mean = values.mean(dim=1)
        chunk_m2 = ((values - chunk_mean[:, None]) ** 2).sum(dim=1)
        chunk_mean, chunk_m2 = chunk_mean.cpu(), chunk_m2.cpu()
        total = self.count + n
        delta = chunk_mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + chunk_m2 + delta**2 * (self.count * n / total)
        self.count = total

    def std(self) -> Tensor:
        """Population standard deviation (divisor N)."""
        return (self.m2 / self.count).clamp_min(0).sqrt()


def channel_stats(images: Tensor, max_values: int = 1 << 22) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std of uint8 images on the [0, 1] scale, for input normalisation.

    Args:
        images: uint8 ``(N, C, *spatial)``: grey or colour images ``(N, C, H, W)``, volumes
            ``(N, C, D, H, W)``.
        max_values: at most this many values are converted to float64 at a time (whole images per
            chunk, at least one), so memory stays bounded (32 MiB a copy by default; the float64 chunk and its centred square make four) whatever N.

    Returns:
        ``(mean, std)``, float32 ``(C,)``; ``std`` is the population std after :func:`safe_std`, so
        ``(x / 255 - mean) / std`` is always finite.

    Raises:
        MedtrainError: unless ``images`` is a non-empty uint8 tensor of at least 3 dimensions.
    """
    if not isinstance(images, Tensor):
        raise MedtrainError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise MedtrainError(f"images must be uint8, got {images.dtype}")
    if images.ndim < 3 or images.numel() == 0:
        raise MedtrainError(f"images must be a non-empty (N, C, *spatial) batch, got {tuple(images.shape)}")
    c = images.shape[1]
    per_image = images[0].numel()
    step = max(1, int(max_values) // per_image)
    moments = _Moments(c)
    for start in range(0, images.shape[0], step):
        x = images[start:start + step].to(torch.float64).div_(255)
        moments.add(x.transpose(0, 1).reshape(c, -1))
    return moments.mean.float(), safe_std(moments.std()).float()


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
        """``std`` after :func:`safe_std`: a constant channel is centred, not blown up."""
        return tuple(float(v) for v in safe_std(torch.tensor(self.std, dtype=torch.float64)))  # type: ignore

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


def _as_float(chunk: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    if chunk.dtype == torch.uint8:
        # Same scaling as scikit-image's img_as_float for uint8.
        return chunk.to(dtype) / 255.0
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
    moments = _Moments(3)
    for chunk in _chunks(images, batch):
        if device is not None:
            chunk = chunk.to(device)
        if name == "rgb":  # the identity: exactly channel_stats' moments (uint8 scaled in float64)
            converted = _as_float(chunk, torch.float64)
        else:
            converted = convert(_as_float(chunk), name)
        moments.add(converted.transpose(0, -3).reshape(3, -1))
    if moments.count == 0:
        raise MedtrainError("cannot fit channel statistics on an empty set of images")
    mean, std, count = moments.mean, moments.std(), moments.count
    return ChannelStats(
        space=name,
        mean=tuple(float(v) for v in mean),  # type: ignore[arg-type]
        std=tuple(float(v) for v in std),  # type: ignore[arg-type]
        count=count,
    )
