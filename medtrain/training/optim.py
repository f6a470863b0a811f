"""Optimisers, weight decay and learning-rate schedules.

Weight decay follows the lecture's objective J(θ) + λ·Σθ². Its gradient adds 2λθ, so with ``sgd`` and
``adam`` (coupled L2, the penalty goes through the gradient and, for Adam, through its adaptive scaling)
the optimiser's ``weight_decay`` is set to 2λ. With ``adamw`` the decay is decoupled from the gradient
(Loshchilov & Hutter, ICLR 2019): each step multiplies θ by (1 - lr·2λ), which equals the coupled
penalty's step for plain SGD and differs from it for adaptive methods — that difference is AdamW's point.
By default, timm's rule (``timm.optim.param_groups_weight_decay``): a tensor of one dimension or none (biases,
normalisation scales and shifts, a ConvNeXt's layer-scale gamma), a parameter named ``*.bias``, and a parameter the
network's ``no_weight_decay()`` names (a ViT's ``pos_embed`` and ``cls_token``) are not decayed
(:func:`not_decayed`); ``decay_norm_and_bias`` decays every parameter.
"""
from __future__ import annotations

import fnmatch

import torch
from torch import nn


def not_decayed(model: nn.Module) -> set[str]:
    """The names of ``model``'s parameters that weight decay leaves alone by default: timm's rule
    (``param_groups_weight_decay``: ``ndim <= 1``, a name ending in ``.bias``, or matching a pattern of the
    network's ``no_weight_decay()``), read from every sub-module that defines ``no_weight_decay`` (a network
    wrapped as an ensemble's member or behind a new head keeps its own list), its names under the
    sub-module's prefix."""
    patterns = []
    for prefix, module in model.named_modules():
        listed = getattr(module, "no_weight_decay", None)
        if callable(listed):
            patterns += [f"{prefix}.{n}" if prefix else str(n) for n in listed()]
    return {name for name, p in model.named_parameters()
            if p.ndim <= 1 or name.endswith(".bias") or any(fnmatch.fnmatch(name, pat) for pat in patterns)}


def param_groups(model: nn.Module, lam: float, decay_norm_and_bias: bool = False, lr: float | None = None,
                 lr_mult: dict | None = None, deferred: set | frozenset = frozenset()) -> list[dict]:
    """Parameter groups by (weight decay, learning-rate multiplier); the parameters :func:`not_decayed` names
    get no decay unless ``decay_norm_and_bias``.

    ``lr_mult`` maps parameter names to multipliers of ``lr`` (transfer learning: a slower backbone,
    layer-wise decay); each multiplier gets its own groups with ``"lr": lr * mult``, highest first, so
    group 0 keeps the base rate. ``deferred`` names frozen parameters that are still put in the
    optimiser because gradual unfreezing trains them later (a parameter without a gradient is skipped
    by every torch optimiser, so they do not move while frozen).
    """
    lr_mult = lr_mult or {}
    buckets: dict[tuple[float, bool], list] = {}
    kept = set() if decay_norm_and_bias else not_decayed(model)
    for name, p in model.named_parameters():
        if not p.requires_grad and name not in deferred:
            continue
        decayed = name not in kept
        buckets.setdefault((float(lr_mult.get(name, 1.0)), decayed), []).append(p)
    groups = []
    for mult in sorted({m for m, _ in buckets} | {1.0}, reverse=True):
        for decayed in (True, False):
            ps = buckets.get((mult, decayed), [])
            if not ps and (mult != 1.0 or not decayed):  # the base decay group always exists (as before)
                continue
            g = {"params": ps, "weight_decay": 2.0 * lam if decayed else 0.0}
            if mult != 1.0 and lr is not None:
                g["lr"] = lr * mult
            groups.append(g)
    return groups


def build_optimizer(model: nn.Module, name: str, lr: float, lam: float, momentum: float = 0.9,
                    decay_norm_and_bias: bool = False, lr_mult: dict | None = None,
                    deferred: set | frozenset = frozenset()) -> torch.optim.Optimizer:
    """The optimiser over :func:`param_groups` (``lr_mult``/``deferred``: a transfer plan's)."""
    groups = param_groups(model, lam, decay_norm_and_bias, lr, lr_mult, deferred)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(name)


def build_scheduler(opt: torch.optim.Optimizer, name: str, epochs: int, steps_per_epoch: int, lr: float,
                    milestones=(0.5, 0.75)):
    """Return a Lightning ``lr_scheduler`` config dict, or None for a constant rate."""
    if name == "none":
        return None
    if name == "multistep":  # MedMNIST's recipe: lr / 10 at 50% and 75% of the epochs
        ms = sorted({max(1, int(round(m * epochs))) for m in milestones})
        return {"scheduler": torch.optim.lr_scheduler.MultiStepLR(opt, ms, 0.1), "interval": "epoch"}
    if name == "cosine":
        total = epochs * steps_per_epoch
        return {"scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(opt, total), "interval": "step"}
    if name == "onecycle":  # Smith & Topin 2019
        # per-group peaks keep the groups' lr multipliers (a scalar max_lr would give every group lr)
        # (A very short run warms up over at least 1.5 steps: torch needs pct_start * total_steps > 1; runs of
        # 8 steps or more keep 20%.)
        total = epochs * steps_per_epoch
        if total < 2:  # one step has no cycle (torch would divide by zero): the peak lr, constant
            return {"scheduler": torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0), "interval": "step"}
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in opt.param_groups],
                                                    total_steps=total, pct_start=max(0.2, 1.5 / total))
        return {"scheduler": sched, "interval": "step"}
    raise ValueError(name)
