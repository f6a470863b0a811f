"""Parameter checks shared by the augmentation modules (probabilities, ranges, batch shapes)."""
from __future__ import annotations

import math

from torch import Tensor

from medtrain.errors import MedtrainError


def check_prob(name: str, p: float) -> float:
    """Return ``p`` as a float, raising :class:`MedtrainError` unless it lies in [0, 1]."""
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise MedtrainError(f"{name} must be a probability in [0, 1], got {p}")
    return p


def check_fill(name: str, value, allow_random: bool = True, bounded: bool = True) -> float | str:
    """A fill value for pixels an op erases or brings in: a number in the images' [0, 1] range, or ``"random"``.

    ``bounded=False`` (the functional ops, which may see images in another range) takes any finite number.
    """
    if allow_random and value == "random":
        return value
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = None
    if v is None or not (0.0 <= v <= 1.0 if bounded else math.isfinite(v)):
        extra = " or 'random'" if allow_random else ""
        what = "a number in [0, 1] (images are scaled to [0, 1])" if bounded else "a finite number"
        raise MedtrainError(f"{name} must be {what}{extra}, got {value!r}")
    return v


def check_range(name: str, r, low: float | None = None, high: float | None = None,
                low_open: bool = False) -> tuple[float, float]:
    """Return ``r`` as ``(lo, hi)`` with ``lo <= hi`` inside the given bounds, else raise MedtrainError."""
    try:
        lo, hi = (float(v) for v in r)
    except (TypeError, ValueError):
        raise MedtrainError(f"{name} must be a pair (low, high), got {r!r}") from None
    bad = lo > hi
    if low is not None:
        bad |= lo <= low if low_open else lo < low
    if high is not None:
        bad |= hi > high
    if bad:
        lo_s = ("(" if low_open else "[") + ("-inf" if low is None else f"{low:g}")
        hi_s = "inf)" if high is None else f"{high:g}]"
        raise MedtrainError(f"{name} must be an increasing pair (low, high) within {lo_s}, {hi_s}, got {r!r}")
    return lo, hi


def _check_batch(x: Tensor, what: str, volumes: bool = False) -> None:
    """Refuse anything but a batch ``(B, C, H, W)`` (with ``volumes``, ``(B, C, D, H, W)`` too), in one line.

    Only the shape is looked at (no pass over the pixels). A single ``(C, H, W)`` image is refused: the
    per-sample ops would take its channels for the batch and treat each differently.
    """
    dims = (4, 5) if volumes else (4,)
    if isinstance(x, Tensor) and x.ndim in dims:
        return
    want = "(B, C, H, W) or a batch of volumes (B, C, D, H, W)" if volumes else "(B, C, H, W)"
    if not isinstance(x, Tensor):
        raise MedtrainError(f"{what} expects a batch of 2D images {want} as a torch.Tensor, got {type(x).__name__}")
    hint = "; give a single image a batch axis: x[None]" if x.ndim == 3 else ""
    raise MedtrainError(f"{what} expects a batch of 2D images {want}, got shape {tuple(x.shape)}{hint}")
