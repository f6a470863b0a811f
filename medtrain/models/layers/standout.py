"""Standout (adaptive dropout): each unit's keep probability depends on the input.

Ba & Frey, "Adaptive dropout for training deep neural networks", NIPS 2013.

A *standout network* runs alongside a layer and gives every hidden unit its own keep probability for
the current input. Ba & Frey tie its weights to the layer's own, which costs no parameters beyond two
scalars and works as well as learning them separately; with ``z = W x + b`` the layer's pre-activation,

    keep = sigmoid(alpha * z + beta),    h = m * g(z),    m ~ Bernoulli(keep)   (training)
                                         h = keep * g(z)                        (evaluation)

so units the layer drives strongly are kept more often (with ``alpha > 0``), and evaluation multiplies
by the keep probability, the mask's expectation, instead of sampling. Unlike inverted dropout nothing
is rescaled during training: the expectation is taken at test time, as in the paper. The mask is not
differentiated (sampling is not), so gradients reach ``W`` only through ``g(z)``, as with the paper's
tied weights.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from medtrain.errors import MedtrainError

__all__ = ["Standout", "StandoutLinear", "beta_for_rate"]


def _check_scalar(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MedtrainError(f"standout {name} must be a finite number, got {value!r}")
    return float(value)


def beta_for_rate(p: float) -> float:
    """The ``beta`` that drops a unit with probability ``p`` when ``alpha * z = 0``: ``logit(1 - p)``.

    Lets a standout layer be configured by a familiar dropout rate, ``0 < p < 1``.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 < p < 1.0:
        raise MedtrainError(f"standout drop rate must be in (0, 1), got {p!r}")
    return math.log((1.0 - p) / p)


def _apply_mask(h: Tensor, keep: Tensor, training: bool) -> Tensor:
    if training:
        return h * torch.bernoulli(keep.detach())
    return h * keep


class Standout(nn.Module):
    """Standout on a tensor of activations, with keep probability ``sigmoid(alpha * a + beta)``.

    The parameter-free form for when the layer that produced ``a`` is out of reach (a timm backbone's
    pooled features, say): the activation itself stands in for the pre-activation ``z`` of the paper.
    For a layer of your own, :class:`StandoutLinear` follows the paper exactly.

    Args:
        alpha: scale of the activation in the standout network (> 0 keeps strong units more often).
        beta: offset; ``beta_for_rate(p)`` drops with probability ``p`` where ``alpha * a = 0``.

    Shape:
        - Input: any ``(*)``. Output: same shape.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 0.0):
        super().__init__()
        self.alpha = _check_scalar(alpha, "alpha")
        self.beta = _check_scalar(beta, "beta")

    def keep_prob(self, a: Tensor) -> Tensor:
        """Per-unit keep probabilities for activations ``a``; same shape, values in (0, 1)."""
        return torch.sigmoid(self.alpha * a + self.beta)

    def forward(self, a: Tensor) -> Tensor:
        return _apply_mask(a, self.keep_prob(a), self.training)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, beta={self.beta:.4g}"


class StandoutLinear(nn.Linear):
    """A fully connected layer with standout on its output units (Ba & Frey, NIPS 2013).

    Computes ``g(W x + b)`` masked by a standout network that shares ``W`` and ``b``.

    Args:
        in_features: size of each input sample.
        out_features: number of hidden units.
        alpha: scale of the tied standout weights (``alpha * W``).
        beta: offset of the standout network; ``beta_for_rate(p)`` for a base drop rate ``p``.
        activation: the layer's non-linearity ``g``, ReLU by default (``nn.Identity()`` for none).
        bias: whether the layer has a bias.

    Shape:
        - Input: ``(*, in_features)``. Output: ``(*, out_features)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        alpha: float = 1.0,
        beta: float = 0.0,
        activation: nn.Module | None = None,
        bias: bool = True,
    ):
        super().__init__(in_features, out_features, bias=bias)
        self.alpha = _check_scalar(alpha, "alpha")
        self.beta = _check_scalar(beta, "beta")
        self.activation = nn.ReLU() if activation is None else activation

    def keep_prob(self, x: Tensor) -> Tensor:
        """Per-unit keep probabilities ``sigmoid(alpha * (W x + b) + beta)``, shape ``(*, out_features)``."""
        return torch.sigmoid(self.alpha * F.linear(x, self.weight, self.bias) + self.beta)

    def forward(self, x: Tensor) -> Tensor:
        z = F.linear(x, self.weight, self.bias)
        return _apply_mask(self.activation(z), torch.sigmoid(self.alpha * z + self.beta), self.training)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, alpha={self.alpha}, beta={self.beta:.4g}"
