"""A deep ensemble in one module: N networks of one architecture, each initialised on its own, whose logits
are averaged (Lakshminarayanan, Pritzel & Blundell, "Simple and Scalable Predictive Uncertainty Estimation
using Deep Ensembles", NeurIPS 2017).

Trained in one loop, each member on its own loss (``training.module.Classifier`` sums the members' losses,
so each member's gradients are exactly those of training it alone on the same batches); the differences
between members come from their initialisation, which Fort, Hu & Lakshminarayanan ("Deep Ensembles: A Loss
Landscape Perspective", 2019) find to be the main source of an ensemble's diversity. One module means one
weights file, and ``predict``, ``export``, TTA, temperature scaling and the decision rule handle it as any
network.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["Ensemble"]


class Ensemble(nn.Module):
    """``(B, C, *spatial)`` images -> ``(B, K)``: the mean of the members' logits, then ``head``.

    ``head`` is a fixed identity layer (``K x K``, weights 1 on the diagonal, not trained) whose bias holds the
    run's decision shift: :func:`medtrain.models.heads.final_linear` finds it through :meth:`get_classifier`,
    so a shift folded there moves the ensemble's logits, every member's alike.

    Args:
        members: the networks, each mapping the same input to ``(B, K)`` logits.
        num_classes: K.
    """

    def __init__(self, members: list[nn.Module], num_classes: int):
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
        self.members = nn.ModuleList(members)
        self.head = nn.Linear(num_classes, num_classes)
        with torch.no_grad():
            self.head.weight.copy_(torch.eye(num_classes))
            self.head.bias.zero_()
        self.head.requires_grad_(False)

    def member_logits(self, x: Tensor) -> list[Tensor]:
        """Each member's own logits, ``[(B, K)] * N`` (no shift): what each member is trained on."""
        return [m(x) for m in self.members]

    def forward(self, x: Tensor) -> Tensor:
        total = self.members[0](x)
        for m in self.members[1:]:  # a loop, not a stack of a comprehension: TorchScript compiles it
            total = total + m(x)
        return self.head(total / len(self.members))

    def get_classifier(self) -> nn.Module:
        """The output layer (timm's name): the identity whose bias carries the decision shift."""
        return self.head
