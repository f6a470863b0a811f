"""Flips decided once per study, not once per trial.

With ``flip: auto`` (the default) every run decides its flips with two short pilot runs scored on validation
(:func:`medtrain.training.choices.decide_flip`); each trial of a search had run them again, unsaid (a 1-epoch
BreastMNIST trial took 62 s with them, 32 s without). A search decides them once, as ``train`` would for its base
settings, before its first trial; the decision is kept in the study (user attribute :data:`FLIP_ATTR`, so a
resumed search and every worker of a shared one use it), and every trial is trained with ``flip`` pinned to it
(``best_config.yaml`` pins it too, so retraining the best config trains as its trial did). Where no pilot is
needed (no flip in the augmentation, labels naming a side, a linear probe) nothing is pinned: each trial's own
decision is as free and the same. Where ``train`` refuses flips off (a pinned TTA that flips the test images,
:func:`flips_kept`), flips are on for every trial, without pilots; with labels that name a side, or an axis it
flips that no flip op of the augmentation flips, the search is refused before any trial, in ``train``'s line
(:func:`medtrain.training.choices.tta_keeps_flips`).

Each trial still decides where the space searches a setting the decision depends on (:data:`DECIDES_PER_TRIAL`:
``flip`` itself, the augmentation and its parameters, the TTA, the transfer), and in a study started before the
decision was kept (its trials decided each, so the trials to come do as well, and rank alike).

Before any trial, :func:`flip_rule_refusal` checks the combinations of the space's values that train's rule of a
flipping TTA (:mod:`medtrain.config.flips`) reads, for :func:`medtrain.tune.check_typed`."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import optuna

from medtrain import config as config_mod
from medtrain.config.flips import FLIP_RULE_KEYS
from medtrain.errors import MedtrainError
from medtrain.tune.space import candidates
from medtrain.training import choices
from medtrain.training.build import resolve_auto
from medtrain.training.fit import check_augment, fit
from medtrain.runmodel import float32_default, isolate_rng

#: The study's user attribute holding the flip decision (:func:`medtrain.training.choices.decide_flip`'s record,
#: with ``pinned``: whether the trials are trained with it pinned).
FLIP_ATTR = "medtrain_flip"
#: Searched settings that make each trial decide its own flips (what the decision reads, beyond the network): those
#: the rule of a flipping TTA reads (:data:`medtrain.config.flips.FLIP_RULE_KEYS`), ``augment_params`` too
#: (``flip_p`` 0 flips nothing).
DECIDES_PER_TRIAL = FLIP_RULE_KEYS


def pin_of(study: optuna.Study) -> dict:
    """The layer of settings the study's trials are trained with on top of the base: ``{"flip": "true"}`` or
    ``{"flip": "false"}`` where the study pinned its flip decision, else ``{}``."""
    made = study.user_attrs.get(FLIP_ATTR) or {}
    return {"flip": "true" if made["chosen"] else "false"} if made.get("pinned") else {}


def said(made: dict) -> str:
    """How a decision was made, with the pilots' validation scores (``pilot runs of 1 epoch(s) on validation,
    val_auc with 0.5272, without 0.5405``)."""
    scores = next((v for k, v in made.items() if k.startswith("val_") and isinstance(v, dict)), None)
    name = next((k for k in made if k.startswith("val_")), "val")
    nums = f", {name} with {scores['with']:.4f}, without {scores['without']:.4f}" if scores else ""
    return f"{made['how']}{nums}"


def study_flip(study: optuna.Study, base: dict, searched: set, splits: Callable, pilot_dir: Path,
               log: Callable[[str], None] = print, command: str = "tune",
               hint: str = "flip in the space decides per trial") -> dict:
    """Decide the flips of ``study``'s trials once (see the module) and return the layer its trials are trained
    with (:func:`pin_of`); ``splits()``: the base settings' data (called where pilots train), ``pilot_dir``: where the
    pilots train (removed after). One line in ``log``, starting with ``command``, says what was decided (with
    ``hint``), or why each trial decides."""
    cfg = config_mod.resolve(base)
    if cfg.flip != "auto":
        return {}
    if searched & set(DECIDES_PER_TRIAL):
        log(f"{command}: flips: decided by each trial (flip: auto; the space searches "
            f"{', '.join(sorted(searched & set(DECIDES_PER_TRIAL)))}), with pilot runs where its settings need them")
        return {}
    made = study.user_attrs.get(FLIP_ATTR)
    started = [t for t in study.get_trials(deepcopy=False) if t.state != optuna.trial.TrialState.WAITING]
    if made is None and started:  # started before the decision was kept in the study (an enqueued trial is not)
        log(f"{command}: flips: decided by each trial with its own pilot runs (flip: auto), as this study's earlier "
            "trials were; --flip true or false in a new study skips them")
        return {}
    if made is None:
        data = splits()  # the rule of a pinned flipping TTA reads the labels (a side named: refused)
        made = decide_once(cfg, data, pilot_dir)
        if study.user_attrs.get(FLIP_ATTR) is None:  # a worker sharing the study may have decided meanwhile
            study.set_user_attr(FLIP_ATTR, made)
        made = study.user_attrs[FLIP_ATTR]
        if made.get("no_pilots"):  # its "how" is train's record (tta_keeps_flips'), which says no pilots ran
            log(f"{command}: flips on for every trial (flip: true), {made['how']}")
        elif made["pinned"]:
            log(f"{command}: flips {'on' if made['chosen'] else 'off'} for every trial (flip: "
                f"{'true' if made['chosen'] else 'false'}), decided once for the study by {said(made)}; "
                f"--flip true or false skips the pilots{', ' + hint if hint else ''}")
    elif made.get("no_pilots"):  # "as the study decided (kept for ... (no pilot runs))" had nested its brackets
        log(f"{command}: flips on for every trial (flip: true), as the study decided: {made['how']}")
    elif made["pinned"]:
        log(f"{command}: flips {'on' if made['chosen'] else 'off'} for every trial (flip: "
            f"{'true' if made['chosen'] else 'false'}), as the study decided ({said(made)})")
    return pin_of(study)


def flip_rule_refusal(base: dict, params: list) -> MedtrainError | None:
    """The refusal, named, of the first combination of the searched values of :data:`FLIP_RULE_KEYS
    <medtrain.config.flips.FLIP_RULE_KEYS>` (the others the base's) that
    :func:`medtrain.config.flips.check_tta_flips_trained` refuses, fewest values first: the base alone in train's
    line, a value alone in :func:`medtrain.tune.check_typed`'s words (``search space tta: value 'hflip' is refused
    by train (...)``), several as ``search space augment 'none' with tta 'hflip' is refused by train (...)``; only
    what a trial can draw (a searched key's base value only where the space holds it: ``--tta flip`` with
    ``augment: [flip,vflip, flip,rot90]`` trains no ``flip,shift``). None where it refuses none of them."""
    from itertools import combinations, product

    rule = config_mod.flips
    searched = [p for p in params if p.key in rule.FLIP_RULE_KEYS]  # lists of values (a range needs a number)
    own = config_mod.resolve(base)
    drawn = {p.key for p in searched if any(getattr(config_mod.resolve(base, {p.key: v}), p.key) == getattr(own, p.key)
                                          for v in candidates(p))}  # the base's value is one of the space's
    for size in range(len(searched) + 1):
        for group in combinations(searched, size):
            if any(p.key not in drawn for p in searched if p not in group):
                continue  # a value of the base no trial trains with
            for values in product(*(candidates(p) for p in group)):
                cfg = config_mod.resolve(base, {p.key: v for p, v in zip(group, values)})
                try:
                    rule.check_tta_flips_trained(cfg)
                except MedtrainError as e:
                    if size == 0:
                        return e
                    if size == 1:
                        return MedtrainError(f"search space {group[0].key}: value {values[0]!r} is refused by "
                                             f"train ({e})")
                    named = [f"{p.key} {v!r}" for p, v in zip(group, values)]
                    return MedtrainError(f"search space {' with '.join(named[:2])}"
                                         f"{''.join(f' and {n}' for n in named[2:])} is refused by train ({e})")
    return None


def flips_kept(cfg, splits) -> dict | None:
    """Flips on, without pilots, where ``train`` keeps them on without pilots
    (:func:`medtrain.training.choices.tta_keeps_flips`: a pinned TTA that flips the test images), pinned for every
    trial: pilots choosing off had pinned ``flip: false`` with ``tta: hflip`` for every trial and in
    ``best_config.yaml``, a combination ``train`` refuses. None where the pilots decide. ``splits``: the data, whose
    labels the rule reads: where they name a side, it raises ``train``'s MedtrainError (``tune`` had pinned
    ``flip: true`` for a left/right task, scored on flipped test images), and so where the augmentation never flips
    an axis the TTA flips. The record is the rule's (``train`` records the same ``how``), with ``pinned`` and
    ``no_pilots``."""
    kept = choices.tta_keeps_flips(cfg, splits.label_names)
    return None if kept is None else {**kept, "pinned": True, "no_pilots": True}


def decide_once(cfg, splits, pilot_dir: Path) -> dict:
    """:func:`medtrain.training.choices.decide_flip` for settings ``cfg`` as ``train`` makes it (its automatic
    settings resolved for the data, float32, the caller's random state kept), with ``pinned``: whether it ran
    pilots (a decision made without them is each trial's own, at no cost). Flips kept on without pilots where
    ``train`` refuses them off (:func:`flips_kept`), for every caller (the RandAugment grid's too)."""
    kept = flips_kept(cfg, splits)
    if kept is not None:
        return kept
    cfg = resolve_auto(cfg, len(splits.spatial_shape))
    cfg = dataclasses.replace(cfg, progress=False, logger="none")
    check_augment(cfg, splits, new=False)  # an op that cannot apply: refused in train's words, not mid-pilot
    ran = []

    def pilot(c, s, d, **kw):
        ran.append(d)
        return fit(c, s, d, **kw)

    with isolate_rng(), float32_default():
        made = choices.decide_flip(cfg, splits, pilot_dir, pilot, verbose=False)
    return {**made, "pinned": bool(ran)}
