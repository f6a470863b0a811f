"""Learned and random augmentation policies: AutoAugment, RandAugment, TrivialAugment, and your own.

* AutoAugment (Cubuk et al., "AutoAugment: Learning Augmentation Strategies from Data", CVPR 2019): a
  policy is a list of sub-policies, each a short list of ``(op, probability, magnitude)``. Every sample
  draws one sub-policy and applies its ops in order, each with its probability. The ImageNet, CIFAR-10
  and SVHN policies of the paper are built in (25 sub-policies each, magnitudes on the paper's 0-9 scale).
* RandAugment (Cubuk et al., "RandAugment: Practical automated data augmentation with a reduced search
  space", NeurIPS-W 2020): ``N`` ops drawn uniformly (with replacement) from 14, all at magnitude ``M``
  on the paper's 0-10 scale. Here: a policy of 14 one-op sub-policies with probability 1, drawn
  ``N`` times (``layers``).
* TrivialAugment (Müller & Hutter, "TrivialAugment: Tuning-free Yet State-of-the-Art Data
  Augmentation", ICCV 2021): one op per sample at a magnitude drawn uniformly from 31 levels of the
  "wide" ranges.

All three are one :class:`Policy` (a plain data model, loadable from and savable to YAML) run by one
module, :class:`PolicyAugment`, which works on whole batches on the training device: the random choices
of a batch (:class:`Plan`: which sub-policy, which ops fire, signs, magnitudes) are drawn per sample on
the CPU from torch's global generator, then the samples that drew the same op at the same step are
transformed together in one call. Grey (C=1) and RGB (C=3) batches both work; Color is the identity on
grey images.

Magnitudes: a level ``m`` in ``[0, max_level]`` is the fraction ``m / max_level`` of the op's range
(``medtrain.augment._policy_ops.OPS``), as torchvision maps them (levels of the published policies are
the bins 0-9 of torchvision's ``AutoAugment``, so they give the same parameters). Enhancement ops
(Brightness, Color, Contrast, Sharpness) use the factor ``1 ± 0.9 m / max_level`` with a random sign,
as torchvision and timm's RandAugment, rather than the original ``0.1 + 1.8 m / 10``.

YAML form (``save_policy`` / ``load_policy``)::

    name: my-policy
    space: standard        # standard (AutoAugment ranges) or wide (TrivialAugment's)
    max_level: 9           # the scale of the magnitudes below
    layers: 1              # sub-policies drawn and applied in sequence per sample
    random_magnitude: false  # true: ignore magnitudes, draw a level in 0..max_level per application
    sub_policies:
    - [[Equalize, 0.8, null], [Rotate, 0.6, 9]]
    - [[Posterize, 0.4, 8]]
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor, nn

from medtrain.augment._policy_ops import GEOMETRIC, OP_NAMES, OPS, STANDARD, WIDE  # noqa: F401
from medtrain.augment._checks import check_fill
from medtrain.augment._registry import register_op
from medtrain.augment.policy_spec import (AUTOAUGMENT_POLICIES, RANDAUGMENT_MAX_LEVEL,  # noqa: F401  (re-exported)
                                          RANDAUGMENT_OPS, TRIVIALAUGMENT_LEVELS, TRIVIALAUGMENT_OPS, OpSpec,
                                          Policy, autoaugment_policy, load_policy, randaugment_policy,
                                          save_policy, trivialaugment_policy)
from medtrain.errors import MedtrainError, suggest

INTERPOLATIONS = ("nearest", "bilinear")


# --------------------------------------------------------------------------- the module


@dataclass
class Plan:
    """The random choices for one batch, drawn before any pixel is touched.

    ``ops[i, t]`` is the index (into ``_policy_ops.OP_NAMES``) of the ``t``-th op applied to sample ``i``,
    or -1 where nothing is applied at that step (the op's coin said no, or a shorter sub-policy);
    ``frac`` is its magnitude as a fraction of the op's range and ``sign`` its direction (±1).
    """

    ops: Tensor  # (B, T) int64
    frac: Tensor  # (B, T) float32
    sign: Tensor  # (B, T) float32

    def applied(self) -> list[list[str]]:
        """Names of the ops applied to each sample, in order."""
        return [[OP_NAMES[j] for j in row if j >= 0] for row in self.ops.tolist()]


class PolicyAugment(nn.Module):
    """Apply a :class:`Policy` to a batch, with a per-sample choice of sub-policy, coins and magnitudes.

    Called as ``x, y = aug(x, y)`` (``y`` untouched) with ``x`` float ``(B, C, H, W)`` in [0, 1].

    Args:
        policy: what to apply.
        interpolation: ``"nearest"`` (torchvision's AutoAugment default) or ``"bilinear"`` for the
            geometric ops.
        fill: value of the pixels that geometric ops bring in from outside the image.
    """

    def __init__(self, policy: Policy, interpolation: str = "nearest", fill: float = 0.0):
        super().__init__()
        if interpolation not in INTERPOLATIONS:
            raise suggest(str(interpolation), INTERPOLATIONS, "interpolation")
        self.policy = policy.validate()
        self.interpolation, self.fill = interpolation, check_fill("aa_fill", fill, allow_random=False)
        # Tables (S sub-policies x L steps), padded with op -1 for sub-policies shorter than the longest.
        s, steps = len(policy.sub_policies), max(len(sub) for sub in policy.sub_policies)
        self._ops = torch.full((s, steps), -1, dtype=torch.long)
        self._prob = torch.zeros(s, steps)
        self._level = torch.zeros(s, steps)
        for i, sub in enumerate(policy.sub_policies):
            for j, op in enumerate(sub):
                self._ops[i, j] = OP_NAMES.index(op.name)
                self._prob[i, j] = float(op.prob)
                self._level[i, j] = float(op.magnitude or 0.0)

    def draw(self, batch_size: int) -> Plan:
        """Draw the choices for ``batch_size`` samples from torch's global (CPU) generator.

        Drawn on the CPU so that grouping samples by op needs no device synchronisation, and so a seed
        gives the same augmentations on every device.
        """
        pol = self.policy
        s, steps = self._ops.shape
        sub = torch.randint(s, (batch_size, pol.layers))  # (B, layers)
        coin = torch.rand(batch_size, pol.layers, steps)
        sign = torch.randint(0, 2, (batch_size, pol.layers, steps)).float() * 2 - 1
        ops, prob, level = self._ops[sub], self._prob[sub], self._level[sub]  # (B, layers, steps)
        if pol.random_magnitude:
            level = torch.randint(0, int(pol.max_level) + 1, level.shape).float()
        ops = torch.where(coin < prob, ops, torch.full_like(ops, -1))
        flat = (batch_size, pol.layers * steps)
        return Plan(ops.reshape(flat), (level / pol.max_level).reshape(flat), sign.reshape(flat))

    def apply(self, x: Tensor, plan: Plan) -> Tensor:
        """Apply a drawn plan: for each step, each op once, to the samples that drew it."""
        if x.ndim != 4:
            raise MedtrainError(
                f"{self.policy.name}: policies work on 2-D images (B, C, H, W); got a batch of shape {tuple(x.shape)}"
            )
        if plan.ops.shape[0] != x.shape[0]:
            raise ValueError(f"plan for {plan.ops.shape[0]} samples, batch of {x.shape[0]}")
        h, w = x.shape[-2:]
        out = x.clone()
        for t in range(plan.ops.shape[1]):
            col = plan.ops[:, t]
            for j in col.unique().tolist():
                if j < 0 or OP_NAMES[j] == "Identity":
                    continue
                name, op = OP_NAMES[j], OPS[OP_NAMES[j]]
                idx = (col == j).nonzero().squeeze(1)
                value = op.value(plan.frac[idx, t], plan.sign[idx, t], self.policy.space, h, w, name)
                idx = idx.to(x.device)
                group = out.index_select(0, idx)
                if name in GEOMETRIC:
                    group = op.fn(group, value, self.interpolation, self.fill)
                else:
                    group = op.fn(group, value)
                out.index_copy_(0, idx, group)
        return out

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return self.apply(x, self.draw(x.shape[0])), y

    def extra_repr(self) -> str:
        p = self.policy
        return (
            f"name={p.name!r}, sub_policies={len(p.sub_policies)}, layers={p.layers}, space={p.space}, "
            f"interpolation={self.interpolation}"
        )


class AutoAugment(PolicyAugment):
    """The published AutoAugment policy for ``imagenet``, ``cifar10`` or ``svhn`` (Cubuk et al., CVPR 2019)."""

    def __init__(self, policy: str = "imagenet", interpolation: str = "nearest", fill: float = 0.0):
        super().__init__(autoaugment_policy(policy), interpolation, fill)


class RandAugment(PolicyAugment):
    """RandAugment(N, M) (Cubuk et al., NeurIPS-W 2020): ``n`` random ops at level ``m`` of 0..10."""

    def __init__(self, n: int = 2, m: float = 9, interpolation: str = "nearest", fill: float = 0.0):
        super().__init__(randaugment_policy(n, m), interpolation, fill)


class TrivialAugment(PolicyAugment):
    """TrivialAugment Wide (Müller & Hutter, ICCV 2021): one random op at a random level per sample."""

    def __init__(self, interpolation: str = "nearest", fill: float = 0.0):
        super().__init__(trivialaugment_policy(), interpolation, fill)


def build_policy_op(
    policy: Policy | str | os.PathLike, interpolation: str = "nearest", fill: float = 0.0
) -> PolicyAugment:
    """The module for a :class:`Policy` or a policy YAML file (``train --augment policy.yaml``)."""
    if not isinstance(policy, Policy):
        policy = load_policy(policy)
    return PolicyAugment(policy, interpolation=interpolation, fill=fill)


def is_policy_file(spec: str) -> bool:
    """Whether an ``--augment`` item names a policy file rather than an op."""
    return str(spec).lower().endswith((".yaml", ".yml"))


def policy_digests(augment: Sequence[str]) -> dict[str, str]:
    """``{path: sha256 of its bytes}`` of the policy files among ``augment``: what a run records when it starts,
    so that ``--resume`` refuses a policy edited since (it had trained its last epochs with the new one, unsaid)."""
    import hashlib

    out = {}
    for item in augment or ():
        if is_policy_file(item) and os.path.isfile(item):
            with open(item, "rb") as f:
                out[str(item)] = hashlib.sha256(f.read()).hexdigest()
    return out


# --------------------------------------------------------------------------- registry

def policy_kw(params: dict) -> dict:
    """How a policy op resamples (``aa_interpolation``) and fills (``aa_fill``) its geometric ops, from the settings:
    the built-in policies' and a policy YAML's alike, named by its path in ``--augment`` or as ``policy_file``."""
    return {"interpolation": params.get("aa_interpolation", "nearest"), "fill": params.get("aa_fill", 0.0)}


def _int(params: dict, key: str, default: int) -> int:
    v = params.get(key, default)
    try:
        if float(v) != int(float(v)):
            raise ValueError
        return int(float(v))
    except (TypeError, ValueError):
        raise MedtrainError(f"{key} must be an integer, got {v!r}") from None


def _float(params: dict, key: str, default: float) -> float:
    v = params.get(key, default)
    try:
        return float(v)
    except (TypeError, ValueError):
        raise MedtrainError(f"{key} must be a number, got {v!r}") from None


@register_op(
    "autoaugment",
    "AutoAugment (Cubuk et al., CVPR 2019): one sub-policy of the published aa_policy (imagenet, "
    "cifar10 or svhn) per image; aa_interpolation and aa_fill for the geometric ops",
)
def _autoaugment_op(params: dict) -> PolicyAugment:
    return PolicyAugment(autoaugment_policy(params.get("aa_policy", "imagenet")), **policy_kw(params))


@register_op(
    "randaugment",
    "RandAugment (Cubuk et al., 2020): ra_n ops per image drawn from 14, each at magnitude ra_m of "
    "10; aa_interpolation and aa_fill for the geometric ops",
)
def _randaugment_op(params: dict) -> PolicyAugment:
    n, m = _int(params, "ra_n", 2), _float(params, "ra_m", 9)
    return PolicyAugment(randaugment_policy(n, m), **policy_kw(params))


@register_op(
    "trivialaugment",
    "TrivialAugment Wide (Müller & Hutter, ICCV 2021): one op per image at a magnitude drawn "
    "uniformly, in the wide ranges; aa_interpolation and aa_fill for the geometric ops",
)
def _trivialaugment_op(params: dict) -> PolicyAugment:
    return PolicyAugment(trivialaugment_policy(), **policy_kw(params))


@register_op(
    "policy",
    "a policy YAML (as medtrain augment search writes it), named by its path in --augment or as "
    "policy_file; aa_interpolation and aa_fill for the geometric ops",
)
def _policy_op(params: dict) -> PolicyAugment:
    path, kw = params.get("policy_file"), policy_kw(params)  # both read first: `augment list` names what it reads
    if not path:
        raise MedtrainError("augmentation 'policy' needs a policy file (policy_file: path/to/policy.yaml)")
    return build_policy_op(path, **kw)


__all__: Sequence[str] = [
    "AUTOAUGMENT_POLICIES", "AutoAugment", "OpSpec", "Plan", "Policy", "PolicyAugment", "RANDAUGMENT_OPS",
    "RandAugment", "TrivialAugment", "autoaugment_policy", "build_policy_op", "is_policy_file", "policy_digests",
    "load_policy", "randaugment_policy", "save_policy", "trivialaugment_policy",
]  # fmt: skip
