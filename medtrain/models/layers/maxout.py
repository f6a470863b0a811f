"""Maxout: a unit that outputs the maximum of ``k`` linear functions of its input.

Goodfellow, Warde-Farley, Mirza, Courville, Bengio, "Maxout Networks", ICML 2013.

``h_i(x) = max_j (x W_ij + b_ij)`` for ``j = 1..k``: a learned convex, piecewise-linear activation.
The paper pairs it with dropout on the layer's input: its gradient flows into one piece per unit, and
dropout's model averaging is close to exact for such locally linear units.
"""
from __future__ import annotations

import torch.nn as nn
from torch import Tensor

from medtrain.errors import MedtrainError

__all__ = ["Maxout"]


class Maxout(nn.Module):
    """A fully connected maxout layer.

    Args:
        in_features: size of each input sample.
        out_features: number of maxout units.
        k: linear pieces per unit, ``k >= 2`` (``k = 1`` would be a plain linear layer).
        bias: whether the pieces have biases.

    Shape:
        - Input: ``(*, in_features)``. Output: ``(*, out_features)``.

    Attributes:
        linear: the ``k * out_features`` pieces, one ``nn.Linear``; piece ``j`` of unit ``i`` is its
            output ``i * k + j``.
    """

    def __init__(self, in_features: int, out_features: int, k: int = 2, bias: bool = True):
        super().__init__()
        if isinstance(k, bool) or not isinstance(k, int) or k < 2:
            raise MedtrainError(f"maxout needs k >= 2 linear pieces, got {k!r}")
        if in_features < 1 or out_features < 1:
            raise MedtrainError(f"maxout features must be >= 1, got {in_features}, {out_features}")
        self.in_features, self.out_features, self.k = in_features, out_features, k
        # One GEMM for all pieces; unit-major layout so the reshape below groups each unit's pieces.
        self.linear = nn.Linear(in_features, out_features * k, bias=bias)

    def pieces(self, x: Tensor) -> Tensor:
        """The ``k`` linear pieces of every unit, shape ``(*, out_features, k)``."""
        return self.linear(x).unflatten(-1, (self.out_features, self.k))

    def forward(self, x: Tensor) -> Tensor:
        return self.pieces(x).amax(dim=-1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, k={self.k}"
