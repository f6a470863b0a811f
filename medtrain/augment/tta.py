"""Test-time augmentation: average the predicted probabilities over transformed copies of the input.

Averaging over views the model should be invariant to reduces the variance of its predictions
(Krizhevsky et al., NeurIPS 2012 averaged over crops and flips; Simonyan & Zisserman, ICLR 2015 over
flips). Probabilities are averaged, not logits, so the result is itself a probability.

Modes:

* ``"none"``: the plain prediction.
* ``"hflip"``: identity + horizontal flip (for anatomy with a natural up/down, e.g. chest X-rays).
* ``"flip"``: identity + horizontal, vertical and both flips (orientation-free images: histology,
  dermoscopy, microscopy).
* ``"policy"``: identity + ``draws`` random draws of an augmentation (a :class:`Policy`, a YAML path, or
  any ``x, y = op(x, y)`` module), e.g. the training policy.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from medtrain.errors import MedtrainError, suggest

TTA_MODES = ("none", "hflip", "flip", "policy")

# (dims to flip) per view; () is the identity.
_FLIPS = {"none": [()], "hflip": [(), (-1,)], "flip": [(), (-1,), (-2,), (-2, -1)]}


def _as_op(policy) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    if policy is None:
        raise MedtrainError("TTA mode 'policy' needs a policy (a Policy, a YAML path or an augmentation module)")
    if callable(policy):  # a module or function called x, y = op(x, y)
        return policy
    from medtrain.augment.policies import build_policy_op

    return build_policy_op(policy)


@torch.no_grad()
def tta_predict(
    forward_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    mode: str = "flip",
    *,
    policy=None,
    draws: int = 8,
) -> Tensor:
    """Predict ``x`` under several views and return the mean predicted probabilities.

    Args:
        forward_fn: maps a float batch ``(B, C, H, W)`` to probabilities ``(B, K)`` (apply the softmax
            or sigmoid inside: averaging logits would not average probabilities). Put the model in
            ``eval()`` mode first.
        x: the batch, float in [0, 1] as the model's augmentations expect.
        mode: one of ``none``, ``hflip``, ``flip``, ``policy`` (see the module docstring).
        policy: for ``mode="policy"``: a :class:`medtrain.augment.policies.Policy`, the path of a policy
            YAML file, or a module called ``x, y = op(x, y)``. Draws use torch's global generator.
        draws: for ``mode="policy"``: random views averaged with the identity view.

    Returns:
        ``(B, K)`` mean of the probabilities over the views.
    """
    if mode not in TTA_MODES:
        raise suggest(str(mode), TTA_MODES, "TTA mode")
    if mode == "policy":
        if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
            raise MedtrainError(f"TTA draws must be an integer >= 1, got {draws!r}")
        op = _as_op(policy)
        dummy = torch.zeros(x.shape[0], 1, device=x.device)
        total = forward_fn(x).float()
        for _ in range(draws):
            total = total + forward_fn(op(x, dummy)[0]).float()
        return total / (draws + 1)
    views = _FLIPS[mode]
    total = None
    for dims in views:
        p = forward_fn(x.flip(dims) if dims else x).float()
        total = p if total is None else total + p
    return total / len(views)
