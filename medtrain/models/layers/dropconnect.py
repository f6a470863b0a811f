"""DropConnect: a linear layer whose individual weights are dropped during training.

Wan, Zeiler, Zhang, LeCun, Fergus, "Regularization of Neural Networks using DropConnect", ICML 2013.

Dropout (Srivastava et al., JMLR 2014) zeroes whole *units*: every outgoing weight of a dropped unit
vanishes together. DropConnect instead draws a Bernoulli mask ``M`` with the shape of the weight matrix
``W`` and computes ``y = (M * W) x``, so each connection is kept or dropped on its own and a unit's
output is zero only if all of its incoming connections are dropped.

Choices made here (the paper leaves room for both):

* **Mask granularity.** The paper draws a fresh mask per training example. That needs a
  ``(B, out, in)`` weight tensor per forward, and a batched matrix product instead of one GEMM, so the
  default is ``mask="batch"``: one mask per forward pass, shared by the examples of the batch (as in
  most public implementations). ``mask="sample"`` gives the paper's per-example masks at
  ``B * out * in`` extra memory; it is affordable for a classifier head (e.g. 512 x 10 weights).
* **Inference.** The paper's exact inference approximates the pre-activation by a Gaussian
  (moment matching) and averages the activation over samples of it. We implement instead the
  paper's "simple" mean-field inference, ``y = W x`` with the expected weights, made exact by scaling
  the kept weights by ``1 / (1 - p)`` during training (inverted scaling, as ``nn.Dropout`` does), so
  ``E[y_train] = y_test`` and evaluation needs no sampling. For a linear layer (a classifier head) the
  two coincide in expectation; they differ only through a non-linearity after the layer.
* **Bias.** As in the paper, where the bias is a column of ``W`` acting on a constant input 1, the bias
  is masked like any other weight.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from medtrain.errors import MedtrainError, suggest

__all__ = ["DropConnectLinear", "check_rate"]

_MASKS = ("batch", "sample")


def check_rate(p: float, name: str = "p") -> float:
    """Return ``p`` as a float if it is a valid drop probability in ``[0, 1)``, else raise."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or not 0.0 <= p < 1.0:
        # p = 1 would drop everything and make the 1 / (1 - p) rescaling divide by zero.
        raise MedtrainError(f"{name} must be a drop probability in [0, 1), got {p!r}")
    return float(p)


class DropConnectLinear(nn.Linear):
    """``nn.Linear`` with DropConnect on its weights (Wan et al., ICML 2013).

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        p: probability of dropping each weight (and bias entry) during training, ``0 <= p < 1``.
        bias: whether the layer has a bias.
        mask: ``"batch"`` (default) draws one weight mask per forward pass, shared by the batch;
            ``"sample"`` draws one per example, as in the paper, at ``B * out * in`` memory.

    Shape:
        - Input: ``(B, in_features)``; with ``mask="batch"`` any ``(*, in_features)``.
        - Output: ``(B, out_features)`` (``(*, out_features)``).

    In training mode the kept weights are scaled by ``1 / (1 - p)``, so the expected output equals the
    evaluation output ``W x + b``; evaluation is deterministic and uses the whole weight matrix.
    """

    def __init__(self, in_features: int, out_features: int, p: float = 0.5, bias: bool = True, mask: str = "batch"):
        if mask not in _MASKS:
            raise suggest(str(mask), _MASKS, "DropConnect mask granularity")
        super().__init__(in_features, out_features, bias=bias)
        self.p = check_rate(p)
        self.mask = mask

    def _keep(self, shape: torch.Size, like: Tensor) -> Tensor:
        """A 0 / (1/(1-p)) mask of ``shape``: Bernoulli(1-p) draws already carrying the inverted scaling."""
        return torch.empty(shape, device=like.device, dtype=like.dtype).bernoulli_(1.0 - self.p) / (1.0 - self.p)

    def sample_weight(self, batch: int | None = None) -> tuple[Tensor, Tensor | None]:
        """Draw the effective (masked and rescaled) weight and bias of one training forward.

        Args:
            batch: ``None`` for one shared mask: ``(out, in)`` weight and ``(out,)`` bias; an integer
                ``B`` for per-example masks: ``(B, out, in)`` and ``(B, out)``.

        Returns:
            ``(weight, bias)``; ``bias`` is None when the layer has none.
        """
        w_shape = self.weight.shape if batch is None else (batch, *self.weight.shape)
        weight = self.weight * self._keep(w_shape, self.weight)
        bias = None
        if self.bias is not None:
            b_shape = self.bias.shape if batch is None else (batch, *self.bias.shape)
            bias = self.bias * self._keep(b_shape, self.bias)
        return weight, bias

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return F.linear(x, self.weight, self.bias)
        if self.mask == "batch":
            return F.linear(x, *self.sample_weight())
        if x.ndim != 2:
            raise MedtrainError(
                f"DropConnectLinear(mask='sample') expects (B, in_features) input, got {tuple(x.shape)}"
            )
        weight, bias = self.sample_weight(batch=x.shape[0])
        y = torch.bmm(weight, x.unsqueeze(-1)).squeeze(-1)  # (B, out, in) @ (B, in, 1)
        return y if bias is None else y + bias

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}, mask={self.mask}"
