"""Learn an augmentation policy from your data within a compute budget: a RandAugment (N, M) grid search,
and the search space of AutoAugment-style policies (:func:`suggest_autoaugment_policy`) that
``medtrain augment search --method autoaugment`` explores with an Optuna study (:mod:`medtrain.policy_search`).

Why a grid over RandAugment's two numbers, and not a learned policy:

* RandAugment (Cubuk et al., NeurIPS-W 2020) showed that a grid over ``N`` (ops per image) and ``M``
  (one shared magnitude) matches AutoAugment's learned policies on CIFAR, SVHN and ImageNet, and that
  the best magnitude grows with model and data size, so it must be tuned per dataset, and a policy
  learned on a proxy task does not transfer. Two numbers are cheap to search: the default grid is
  3 x 3 short trainings plus one baseline.
* On small medical datasets (a few hundred to a few thousand images) the validation AUC that ranks
  candidates is noisy. A search space of two ordered numbers cannot over-fit that noise the way
  AutoAugment's space (25 sub-policies of op, probability and magnitude) can, and the monotone
  structure makes a neighbour of the winner a safe fallback.
* Fast AutoAugment (Lim et al., NeurIPS 2019) avoids AutoAugment's thousands of child trainings, but
  still needs K models trained to convergence on K folds and hundreds of Bayesian-optimisation
  evaluations of density matching on held-out folds, each pass over augmented data; with folds of a
  few hundred images its matching objective is itself noisy. AutoAugment proper (thousands of child
  models) is out of any small budget.

The baseline (no RandAugment, only the base augmentation) is part of the grid, so the search may
answer "don't": RandAugment's ops (Solarize, Posterize, Invert-like colour changes) are not all
meaningful for every imaging modality. Candidates are ranked on the VALIDATION split only; the test
split stays untouched for the final report. Ties go to the weaker augmentation (baseline, then smaller
N, then smaller M). A short-budget ranking is a proxy: confirm the winner with a full-length run.

The AutoAugment-style space (:func:`suggest_autoaugment_policy`) is there for data where the grid's
answer is not enough; the caveats above (a noisy validation score, many parameters) apply to it in full,
and ``docs/results/augmentation.md`` measures both against no augmentation.

This module does not import training: the caller injects ``train_fn(augment_spec, params) -> val AUC``
(the CLI passes one built on :func:`medtrain.train`).
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from medtrain.augment._policy_ops import OPS
from medtrain.augment.policies import (
    RANDAUGMENT_MAX_LEVEL, OpSpec, Policy, randaugment_policy, save_policy,
)  # fmt: skip
from medtrain.errors import MedtrainError

DEFAULT_N = (1, 2, 3)
DEFAULT_M = (3, 6, 9)  # on the paper's 0..10 scale

TrainFn = Callable[[list, dict], float]


@dataclass(frozen=True)
class GridPoint:
    """One evaluated candidate; ``n == 0`` is the baseline without RandAugment."""

    n: int
    m: float
    val_auc: float

    @property
    def label(self) -> str:
        return "baseline" if self.n == 0 else f"N={self.n} M={self.m:g}"


@dataclass
class SearchResult:
    results: list[GridPoint]  #: in evaluation order
    best: GridPoint
    policy: Policy  #: RandAugment(best N, best M), or the identity policy if the baseline won

    def table(self) -> str:
        lines = [f"{'candidate':<14} val_auc"]
        for r in self.results:
            mark = "  <- best" if r == self.best else ""
            lines.append(f"{r.label:<14} {r.val_auc:.4f}{mark}")
        return "\n".join(lines)


def check_grid(n_values: Sequence[int], m_values: Sequence[float]) -> tuple[list[int], list[float]]:
    """The grid's N and M values, sorted and unique; a :class:`MedtrainError` for an empty or bad grid (the
    CLI checks it before it creates the work folder)."""
    ns, ms = list(n_values), list(m_values)
    if not ns or not ms:
        raise MedtrainError("the search grid needs at least one N and one M value")
    for n in ns:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise MedtrainError(f"grid N values must be integers >= 1, got {n!r}")
    for m in ms:
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 <= m <= RANDAUGMENT_MAX_LEVEL:
            raise MedtrainError(f"grid M values must be in [0, {RANDAUGMENT_MAX_LEVEL:g}], got {m!r}")
    return sorted(set(ns)), sorted(set(ms))


def identity_policy(name: str = "identity") -> Policy:
    """A policy that leaves images unchanged (what the search writes when the baseline wins)."""
    return Policy([[OpSpec("Identity", 1.0, None)]], name=name)


def randaugment_grid_search(
    train_fn: TrainFn,
    *,
    n_values: Sequence[int] = DEFAULT_N,
    m_values: Sequence[float] = DEFAULT_M,
    base_augment: Sequence[str] = (),
    params: dict | None = None,
    include_baseline: bool = True,
    budget_epochs: int | None = None,
    out: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
) -> SearchResult:
    """Train one short model per (N, M), pick the best validation AUC, optionally write the policy.

    Args:
        train_fn: ``train_fn(augment_spec, params) -> float``, the validation AUC of a model trained with
            ``--augment`` list ``augment_spec`` and run settings ``params``. For a candidate, the spec is
            ``[*base_augment, "randaugment"]`` and ``params`` holds ``ra_n`` and ``ra_m``; for the
            baseline the spec is ``base_augment`` (``["none"]`` if empty).
        n_values, m_values: the grid (M on RandAugment's 0..10 scale).
        base_augment: ops applied before RandAugment in every candidate (e.g. ``["flip"]``).
        params: settings passed to every call (copied, never modified).
        include_baseline: also train without RandAugment, so the search can decide against it.
        budget_epochs: if given, passed as ``params["epochs"]`` (the short training budget).
        out: where to write the winning policy as YAML, with every result recorded in it.
        log: called with one line per finished candidate (progress).

    Returns:
        The results in evaluation order, the best point and its policy.
    """
    ns, ms = check_grid(n_values, m_values)
    base = list(base_augment)
    common = dict(params or {})
    if budget_epochs is not None:
        if isinstance(budget_epochs, bool) or not isinstance(budget_epochs, int) or budget_epochs < 1:
            raise MedtrainError(f"budget epochs must be an integer >= 1, got {budget_epochs!r}")
        common["epochs"] = budget_epochs

    # Weakest first, so that a strict ">" below breaks ties towards weaker augmentation.
    candidates = ([(0, 0.0)] if include_baseline else []) + [(n, m) for n in ns for m in ms]
    results: list[GridPoint] = []
    for n, m in candidates:
        if n == 0:
            spec, p = (base or ["none"]), dict(common)
        else:
            spec, p = [*base, "randaugment"], {**common, "ra_n": n, "ra_m": m}
        auc = float(train_fn(list(spec), p))
        point = GridPoint(n, m, auc)
        results.append(point)
        if log:
            log(f"{point.label}: val_auc {auc:.4f}")

    scored = [r for r in results if not math.isnan(r.val_auc)]
    if not scored:
        raise MedtrainError("every candidate of the search failed to give a validation AUC")
    best = scored[0]
    for r in scored[1:]:
        if r.val_auc > best.val_auc:
            best = r

    policy = identity_policy("identity (baseline won)") if best.n == 0 else randaugment_policy(best.n, best.m)
    policy.metadata = {
        "search": {
            "method": "randaugment-grid",
            "selected_on": "val_auc (validation split)",
            "budget_epochs": budget_epochs,
            "base_augment": base,
            "best": _point_dict(best),
            "results": [_point_dict(r) for r in results],
        }
    }
    result = SearchResult(results, best, policy)
    if out is not None:
        note = (
            f"Learned by `medtrain augment search`: RandAugment grid N in {ns}, M in {ms}"
            + (f", {budget_epochs} epoch{'s' * (budget_epochs != 1)} per candidate" if budget_epochs else "")
            + ", ranked on validation AUC.\n"
            + result.table()
            + "\nBase augmentation applied before the policy during the search: "
            + (", ".join(base) or "none")
        )
        save_policy(policy, Path(out), comment=note)
    return result


def _point_dict(p: GridPoint) -> dict:
    d = asdict(p)
    d["m"] = int(d["m"]) if float(d["m"]).is_integer() else d["m"]
    d["val_auc"] = None if math.isnan(d["val_auc"]) else round(d["val_auc"], 6)
    return d


# --------------------------------------------------------------------------- AutoAugment-style policies

#: The AutoAugment paper's ops (Cubuk et al., CVPR 2019, Table 1) that medtrain implements: all but
#: SamplePairing.
AUTOAUGMENT_SEARCH_OPS = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "AutoContrast", "Invert",
                          "Equalize", "Solarize", "Posterize", "Contrast", "Color", "Brightness", "Sharpness",
                          "Cutout")
AUTOAUGMENT_LEVELS = 9  # the paper's magnitudes: 10 discrete levels, 0..9
OPS_PER_SUB_POLICY = 2


def suggest_autoaugment_policy(trial, sub_policies: int = 5, ops: Sequence[str] = AUTOAUGMENT_SEARCH_OPS) -> Policy:
    """An AutoAugment-style policy drawn from an Optuna ``trial``: ``sub_policies`` sub-policies of two ops,
    each op with a probability in {0, 0.1, ..., 1} and a magnitude in {0, ..., 9}, the search space of the
    AutoAugment paper (Cubuk et al., CVPR 2019), searched here by TPE instead of a reinforcement-learning
    controller. Every sample draws one sub-policy and applies its two ops in order.

    Parameters are named ``sp{i}_op{j}``, ``sp{i}_p{j}`` and ``sp{i}_m{j}``; a magnitude is drawn only for an op
    that takes one (AutoContrast, Equalize, Invert: none, as the written policy's ``null``): one had been drawn for
    every op, listed in the trials' table for ops that ignore it and modelled by TPE as if it mattered, and two
    trials of one policy differed by it. Passing an ``optuna.trial.FixedTrial`` of a trial's ``params`` rebuilds that
    trial's policy (a trial of a study begun before holds a magnitude for every op: the unused ones are ignored).
    """
    if isinstance(sub_policies, bool) or not isinstance(sub_policies, int) or sub_policies < 1:
        raise MedtrainError(f"the policy needs at least one sub-policy, got {sub_policies!r}")
    subs = []
    for i in range(sub_policies):
        sub = []
        for j in range(OPS_PER_SUB_POLICY):
            name = trial.suggest_categorical(f"sp{i}_op{j}", list(ops))
            prob = trial.suggest_float(f"sp{i}_p{j}", 0.0, 1.0, step=0.1)
            level = trial.suggest_int(f"sp{i}_m{j}", 0, AUTOAUGMENT_LEVELS) if OPS[name].has_magnitude else None
            sub.append(OpSpec(name, round(prob, 1), level))
        subs.append(sub)
    return Policy(subs, layers=1, max_level=AUTOAUGMENT_LEVELS, name="autoaugment-search").validate()


def no_op_params(sub_policies: int = 5) -> dict:
    """The parameters of the policy that never applies an op (every probability 0): the search's first
    trial, so that, like the RandAugment grid's baseline, it can answer "no policy"."""
    return {f"sp{i}_p{j}": 0.0 for i in range(sub_policies) for j in range(OPS_PER_SUB_POLICY)}
