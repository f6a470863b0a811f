"""Shared plumbing for the colour-space modules: input checks and 3x3 channel mixing.

Conversion constants are kept as float64 CPU tensors and cast to the input's device and dtype on each
call, so every op is device-agnostic and float32 inputs are rounded the way scikit-image rounds them
(it casts its float64 matrices to the image dtype before multiplying).
"""
from __future__ import annotations

import torch
from torch import Tensor

from medtrain.errors import MedtrainError


def check_image(image: object, name: str = "image") -> Tensor:
    """Return ``image`` if it is a floating-point tensor shaped ``(*, 3, H, W)``, else raise.

    Raises:
        MedtrainError: If ``image`` is not a tensor, is not floating point, or has no 3-channel axis
            at position ``-3``.
    """
    if not isinstance(image, Tensor):
        raise MedtrainError(f"{name} must be a torch.Tensor shaped (*, 3, H, W), got {type(image).__name__}")
    if image.ndim < 3 or image.shape[-3] != 3:
        raise MedtrainError(f"{name} must be shaped (*, 3, H, W), got {tuple(image.shape)}")
    if not image.is_floating_point():
        raise MedtrainError(
            f"{name} must be a floating-point tensor (e.g. float32 in [0, 1]), got {image.dtype}"
        )
    return image


def constant(values: Tensor, like: Tensor) -> Tensor:
    """Cast a float64 constant to ``like``'s device and dtype."""
    # Cast before moving: some backends (MPS) have no float64 to move it in.
    return values.to(dtype=like.dtype).to(device=like.device)


def mix_channels(matrix: Tensor, image: Tensor) -> Tensor:
    """Apply ``out[i] = sum_j matrix[i, j] * image[j]`` over the channel axis of ``(*, 3, H, W)``."""
    return torch.einsum("ij,...jhw->...ihw", constant(matrix, image), image)


def matrix(rows: list[list[float]]) -> Tensor:
    """A float64 constant matrix."""
    return torch.tensor(rows, dtype=torch.float64)


def inverse(m: Tensor) -> Tensor:
    """Invert a float64 constant once, in float64, as scikit-image does with ``scipy.linalg.inv``."""
    return torch.linalg.inv(m)


def nonzero_or_one(x: Tensor, nonzero: Tensor) -> Tensor:
    """Replace the entries where ``nonzero`` is False by 1, so they can be used as a divisor.

    Dividing by the unmodified value and masking the result afterwards is not enough under autograd:
    the masked-out branch still back-propagates ``0 * inf = nan``.
    """
    return torch.where(nonzero, x, torch.ones_like(x))
