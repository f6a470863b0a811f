"""Parameter checks shared by the augmentation modules (probabilities, ranges, batch shapes)."""
from __future__ import annotations

from torch import Tensor

from medtrain.errors import MedtrainError



def check_prob(name: str, p: float) -> float:
    """Return ``p`` as a float, raising :class:`MedtrainError` unless it lies in [0, 1]."""
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise MedtrainError(f"{name} must be a probability in [0, 1], got {p}")
    return p


def check_fill(name: str, value, allow_random: bool = True) -> float | str:
    """A fill value for pixels an op erases or brings in: a number in the images' [0, 1] range, or ``"random"``."""
    if allow_random and value == "random":
        return value
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = None
    if v is None or not 0.0 <= v <= 1.0:
        extra = " or 'random'" if allow_random else ""
        raise MedtrainError(f"{name} must be a number in [0, 1] (images are scaled to [0, 1]){extra}, got {value!r}")
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
        lo_s = "(" if low_open else "["
        raise MedtrainError(f"{name} must be an increasing pair within {lo_s}{low}, {high}], got {r!r}")
    return lo, hi


def _check_batch(x: Tensor, what: str) -> None:
    if x.ndim != 4:
        raise MedtrainError(f"{what} expects a batch of 2D images (B, C, H, W), got shape {tuple(x.shape)}")
