"""Test-time augmentation: average the predicted probabilities over transformed copies of the input.

Averaging over views the model should be invariant to reduces the variance of its predictions
(Krizhevsky et al., NeurIPS 2012 averaged over crops and flips; Simonyan & Zisserman, ICLR 2015 over
flips). Probabilities are averaged, not logits, so the result is itself a probability.

Modes:

* ``"none"``: the plain prediction.
* ``"hflip"``: identity + horizontal flip (for anatomy with a natural up/down, e.g. chest X-rays).
* ``"flip"``: identity + horizontal, vertical and both flips (orientation-free images: histology,
  dermoscopy, microscopy).
* ``"shift"``: the identity and its eight neighbours translated by ``shift_px`` pixels along each of the
  last two axes (``(dy, dx)`` in ``{-s, 0, s}²``, reflect padding as the training ``shift`` op pads): the
  multi-crop view averaging of Krizhevsky et al. on a grid, for networks trained with random shifts.
* ``"hflip-shift"``, ``"flip-shift"``: every shifted view, also flipped as ``hflip`` / ``flip`` flip.
* ``"policy"``: identity + ``draws`` random draws of an augmentation (a :class:`Policy`, a YAML path, or
  any ``x, y = op(x, y)`` module), e.g. the training policy.

Shapes: ``(B, C, H, W)`` images or ``(B, C, D, H, W)`` volumes (flips and shifts act on the last two axes).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from medtrain.errors import MedtrainError, suggest

TTA_MODES = ("none", "hflip", "flip", "shift", "hflip-shift", "flip-shift", "policy")
SHIFT_PX = 2  #: the shift views' offset: half the training shift's 4 pixels at 28 px (``max_frac`` 0.125)

# (dims to flip) per view; () is the identity.
_FLIPS = {"none": [()], "hflip": [(), (-1,)], "flip": [(), (-1,), (-2,), (-2, -1)]}


def shifted(x: Tensor, dy: int, dx: int) -> Tensor:
    """``x`` translated by ``(dy, dx)`` pixels along its last two axes, the uncovered border filled by
    reflection (``replicate`` where an axis is too short to reflect), as :func:`random_shift` fills it.
    ``(*, H, W)`` in, the same shape out; ``dy > 0`` moves the content down."""
    if dy == 0 and dx == 0:
        return x
    h, w = x.shape[-2:]
    py, px = abs(dy), abs(dx)
    mode = "reflect" if h > py and w > px else "replicate"
    lead = x.shape[:-2]
    flat = x.reshape(-1, 1, h, w)  # F.pad's reflect mode wants (N, C, H, W)
    out = F.pad(flat, (px, px, py, py), mode=mode)[..., py - dy:py - dy + h, px - dx:px - dx + w]
    return out.reshape(*lead, h, w)


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
    shift_px: int = SHIFT_PX,
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
        shift_px: for the ``*shift`` modes: the offset of the shifted views, in pixels.

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
    shift = mode.endswith("shift")
    flips = _FLIPS[mode.removesuffix("shift").removesuffix("-") or "none"]  # "hflip-shift" -> hflip, "shift" -> none
    steps = (-shift_px, 0, shift_px) if shift else (0,)
    offsets = [(dy, dx) for dy in steps for dx in steps]
    total, n = None, 0
    for dy, dx in offsets:
        moved = shifted(x, dy, dx)
        for dims in flips:
            p = forward_fn(moved.flip(dims) if dims else moved).float()
            total, n = (p if total is None else total + p), n + 1
    return total / n
