"""Recipe choices that can hurt, decided on the validation split instead of assumed.

Three settings of the default recipe help on some data and silently hurt on other data:

* **Flips** (training augmentation and test-time augmentation) corrupt any label that depends on the side:
  OrganA/C/S-MNIST name left and right organs, a user's task may be "left lesion / right lesion". With
  ``flip: auto`` (the default), labels whose names say left or right turn flips off without a trial;
  otherwise two short pilot runs (same recipe, a tenth of the epochs, with and without the flips) are scored
  on validation, and flips are dropped only when the run without them is better by more than
  :data:`FLIP_MARGIN` (the pilots are short, so a small difference is noise). The pilots catch a side that
  decides the label at once; they cannot see a late, smaller effect: BreastMNIST's full runs are better
  without flips by 0.024 val AUC on 5 of 5 seeds, which pilots of up to 4x the steps do not show
  (``docs/results/default_recipe.md``, "Do flips matter"). A training split larger than
  :data:`PILOT_MAX_IMAGES` is sampled down for the pilots (stratified, seeded by the run's seed), so they
  cost a bounded time on large data. A test-time augmentation the user pinned that flips (``--tta hflip``...)
  keeps flips on without pilots (:func:`tta_keeps_flips`: flips off with it would score a network never trained on
  flipped images on flipped ones); with labels that name a side, or an augmentation that never flips an axis it
  flips (:func:`~medtrain.config.flips.check_tta_flips_trained`), it is refused.
* **Test-time augmentation** (``tta: auto``): the trained network is scored on validation with and without
  the horizontally flipped view; the better one is kept (a tie keeps the single view, half the cost). The flipped
  view is tried only where the training augmentation flips left-right (``vflip`` alone does not, ``vflip,rot90``
  does) or ``--flip true`` asks for test-time flips with none in the augmentation. Shifted views
  (``--tta shift``) are not candidates: they lowered validation AUC in 11 of 11 pairs on images
  (``docs/results/default_recipe.md``, "Shifted test-time views").
* **The class-balanced loss** (``class_weights: auto``) helps the minority class but costs plain accuracy
  when the test prevalence is the training one. The network is trained with it, then the logit adjustment
  of Menon et al. (ICLR 2021, "Long-tail learning via logit adjustment") that undoes the weighting
  (adding ``-log w_y`` to the logits turns balanced-posterior estimates back into prevalence-posterior
  ones) is kept if it raises validation accuracy. A checkpoint can also rank well and sit on the wrong side
  of the threshold for another reason (picked in an unstable epoch); then the shift of bias-corrected
  temperature scaling fitted on validation (Alexandari et al., ICML 2020) is kept, but only when its
  cross-fitted validation accuracy (each image scored by a shift fitted without it) beats both rules by more
  than :data:`FITTED_MARGIN`. Whichever shift is kept is folded into the classifier's bias, so ``eval``,
  ``predict`` and ``export`` apply it with no extra step; a binary task's AUC does not change.

``true``/``false`` pin any of them. What was tried and chosen, with the validation numbers, goes into
``metrics.json`` (``choices``) and the printed summary.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from medtrain import metrics
from medtrain.config import CLASS_WEIGHT_RULES, Config
from medtrain.config.flips import (FLIP_OPS, FLIPPED_TTA, TTA_FLIP_AXES, check_tta_flips_trained,
                                   flips_turned_off, trained_flip_axes)
from medtrain.data.base import Splits
from medtrain.data.split import stratified_split
from medtrain.evaluation import predict, pseudo_logits
from medtrain.errors import MedtrainError
from medtrain.evaluation.bias import crossfit_scores, decision_shift
from medtrain.models.heads import final_linear
from medtrain.tasks import MULTILABEL
from medtrain.training.build import class_weights
from medtrain.training.estimate import RunEstimate

#: Validation-metric lead the pilot without flips needs before flips are dropped.
FLIP_MARGIN = 0.01
#: Most training images a flip pilot trains on; a larger training split is sampled down, per class, by
#: :func:`medtrain.data.split.stratified_split` (bench/pilot_cap.py).
PILOT_MAX_IMAGES = 1500
#: Lead in cross-fitted validation accuracy the rule fitted on validation needs over the better of the
#: balanced and the prior-adjusted rule (bench/threshold_rule.py, 86 finished runs, nested cross-validation
#: of their validation splits: at 0.06 it raised 5 runs, +0.03 to +0.29, and lowered none; at 0 it raised
#: 15 and lowered 13).
FITTED_MARGIN = 0.06
_SIDE = re.compile(r"(?<![a-z])(left|right)(?![a-z])", re.IGNORECASE)


def lateral_labels(label_names: dict | None) -> list[str]:
    """The label names that name a side (``"kidney-left"``, ``"Right lesion"``)."""
    return [str(n) for n in (label_names or {}).values() if _SIDE.search(str(n))]


def _metric_name(cfg: Config) -> str:
    return "acc" if cfg.monitor == "val_acc" else "auc"


def _score(module, split, task: str, tta: str, name: str, mc_dropout: int = 0, seed: int = 0) -> float:
    scores, _ = predict(module, split, tta=tta, mc_dropout=mc_dropout, seed=seed)
    y = split.labels.numpy()
    return float(metrics.acc(y, scores, task) if name == "acc" else metrics.auc(y, scores, task))


def without_flips(cfg: Config) -> Config:
    """``cfg`` with the flip ops removed from its augmentation (:func:`decide_tta` then adds no flipped view
    unless ``tta`` is pinned)."""
    params = {k: v for k, v in cfg.augment_params.items() if k != "flip_p"}  # read by the flip ops alone
    return dataclasses.replace(cfg, augment=tuple(a for a in cfg.augment if a not in FLIP_OPS), augment_params=params)


def pilot_splits(splits: Splits, max_images: int, seed: int) -> Splits:
    """``splits`` with its training split sampled down to about ``max_images`` (each class keeps its share,
    :func:`~medtrain.data.split.stratified_split` seeded by ``seed``); unchanged when it is no larger.
    Validation is kept whole: it scores the pilots."""
    n = len(splits.train)
    if n <= max_images:
        return splits
    labels = splits.train.labels.numpy()
    strata = labels if labels.ndim == 1 else np.zeros(n, np.int64)  # multi-label rows: one stratum
    # the splitter's "train" part (code 0) is the sample; its "val" part, the rest, is left out
    part = stratified_split(strata, val_fraction=1 - max_images / n, test_fraction=0.0, seed=seed)
    keep = torch.from_numpy(np.flatnonzero(part == 0))
    return dataclasses.replace(splits, train=splits.train.subset(keep))


def tta_keeps_flips(cfg: Config, label_names: dict | None) -> dict | None:
    """The flip decision, made without pilots, of ``flip: auto`` with a pinned test-time augmentation that flips
    (:data:`~medtrain.config.flips.FLIPPED_TTA`): flips on, since ``train`` refuses ``flip: false`` with it (a
    network trained without flips would be scored on flipped test images). None where the pilots decide (and for a
    linear probe, which trains no augmentation). ``label_names``: the data's (``Splits.label_names``); the rule reads
    them, so every caller (``train``, ``tune``, ``augment search``) refuses what it refuses.

    Raises:
        MedtrainError: the labels name a side (:func:`lateral_labels`): flipped test images swap them (it had
            trained and scored a left/right task at chance, exit 0; ``tune`` had pinned ``flip: true``). Or the
            augmentation never flips an axis the TTA flips (``--tta flip`` with ``--augment flip,shift``: up-down;
            :func:`~medtrain.config.flips.check_tta_flips_trained`, the rule the
            settings typed are checked with, asked here for a run from a config file or a Config): the network
            would be scored on flipped images it never saw; ``--flip true`` flips the test images anyway.
    """
    if cfg.flip != "auto" or cfg.tta not in FLIPPED_TTA or cfg.transfer == "linear-probe":
        return None
    side = lateral_labels(label_names)
    if side:
        raise MedtrainError(f"--tta {cfg.tta} flips the test images, but the labels name a side "
                            f"({', '.join(side[:3])}): a flip swaps them; give --tta none or shift (flips then "
                            "off), or --flip true to flip anyway")
    check_tta_flips_trained(cfg)  # an axis never flipped in training: train's typed check, for settings not typed
    return {"chosen": True, "how": f"kept for --tta {cfg.tta}, which flips the test images (no pilot runs)"}


def decide_flip(cfg: Config, splits: Splits, pilot_dir: Path, fit_fn, pilots: bool = True,
                max_images: int | None = None, verbose: bool = False) -> dict:
    """Whether this run trains with flips: ``{"chosen": bool, "how": str, ...}``.

    ``fit_fn(cfg, splits, run_dir, fallen=, pilot=True)`` trains a pilot (:func:`medtrain.training.fit.fit`;
    ``fallen``: precision auto's fallback to float32 made by the pilot before, recorded as ``precision``) on at most
    ``max_images`` (default :data:`PILOT_MAX_IMAGES`) training images (:func:`pilot_splits`); pilots are
    trained in ``pilot_dir`` and removed afterwards. ``pilots=False`` (several DDP processes, where every
    process would train and remove them) keeps the flips unless the labels name a side. ``verbose`` says what
    the pilots are before they train (a fifth of a short run's time had passed without a word), and gives
    ``fit_fn`` a :class:`~medtrain.training.estimate.RunEstimate` (``callbacks=``) that says their projected time
    where it is over 10 minutes; not ``verbose``, ``fit_fn`` is given ``verbose=False``.

    A pinned TTA that flips keeps flips on without pilots (:func:`tta_keeps_flips`; its pilots had run, and where
    they chose off the network was trained without flips and scored on flipped images); with labels that name a
    side it is refused (flipped test images swap their labels: it had trained and scored a left/right task at
    chance, exit 0), and so it is where the augmentation never flips an axis the TTA flips (trained unflipped, scored
    flipped).
    """
    flips = [a for a in cfg.augment if a in FLIP_OPS]
    if cfg.transfer == "linear-probe":
        return {"chosen": False, "how": "a linear probe trains no augmentation"}
    if cfg.flip == "true" and not flips:  # "pinned (--flip)" had been recorded with nothing flipped in training
        return {"chosen": True, "how": "pinned (--flip), but no flip in the augmentation: test-time flips only"}
    if cfg.flip != "auto":
        return {"chosen": cfg.flip == "true", "how": "pinned (--flip)"}
    kept = tta_keeps_flips(cfg, splits.label_names)  # refuses a flipping TTA: labels naming a side, an axis unflipped
    side = lateral_labels(splits.label_names)
    if side:
        return {"chosen": False, "how": f"labels name a side ({', '.join(side[:3])}): flips off, no trial"}
    if kept is not None:  # (every axis the TTA flips flipped in training: it refuses the others)
        return kept
    if not flips and cfg.tta in ("auto", "none"):
        return {"chosen": False, "how": "no flip in the augmentation"}
    if not flips:  # tta shift pinned (a flipping one is tta_keeps_flips'): nothing to train twice
        return {"chosen": True, "how": "no flip in the augmentation; TTA pinned"}
    if not pilots:
        return {"chosen": True, "how": "several processes: no pilot runs, flips kept (pin with --flip)"}
    epochs = max(1, round(cfg.epochs / 10))
    name = _metric_name(cfg)
    sample = pilot_splits(splits, PILOT_MAX_IMAGES if max_images is None else max_images, cfg.seed)
    scores = {}
    if verbose:
        print(f"flips: two {epochs}-epoch pilot runs on {len(sample.train):,} training images, with and without, "
              f"scored on validation (--flip true or false skips them)", flush=True)
    # one estimate for both pilots, said from the first where they project to over 10 minutes
    said = {"callbacks": [RunEstimate("the two flip pilots", runs=2, way_on="--flip true or false skips them")]} \
        if verbose else {"verbose": False}  # a quiet run's pilots print nothing of Lightning's either
    fallen = None  # precision auto's fallback to float32 in a pilot: the other pilot and the run take it too
    try:
        for on in (True, False):
            pilot = cfg if on else without_flips(cfg)
            pilot = dataclasses.replace(pilot, epochs=epochs, progress=False, logger="none", early_stop=None,
                                        members=1, tta="none", out=str(pilot_dir / ("with" if on else "without")))
            result = fit_fn(pilot, sample, pilot_dir / ("with" if on else "without"), fallen=fallen, pilot=True,
                            **said)
            if result.interrupted:
                raise KeyboardInterrupt
            fallen = fallen or (getattr(result, "metrics", None) or {}).get("precision_fallback")
            scores["with" if on else "without"] = _score(result.module, splits.val, splits.task, "none", name)
    finally:
        shutil.rmtree(pilot_dir, ignore_errors=True)
    chosen = not scores["without"] > scores["with"] + FLIP_MARGIN
    how = (f"pilot runs of {epochs} epoch(s) on validation" if sample is splits else
           f"pilot runs of {epochs} epoch(s) on {len(sample.train):,} of {len(splits.train):,} training images, "
           "scored on validation")
    # the fallback, recorded with the choice (choices.json): the run, and its --resume, train in float32 too
    return {"chosen": chosen, "how": how, f"val_{name}": scores,
            "margin": FLIP_MARGIN, **({"precision": fallen} if fallen else {})}


def effective_config(cfg: Config, flip: dict) -> Config:
    """The settings the network is trained with once the flip choice is made."""
    return cfg if flip["chosen"] else without_flips(cfg)


def decide_tta(cfg: Config, module, splits: Splits, flip: dict) -> dict:
    """The test-time augmentation: pinned, none (no flips), or the better of none/hflip on validation.

    ``cfg``: the settings trained with (:func:`effective_config`, after the flip decision ``flip``). hflip flips the
    last axis (:data:`~medtrain.config.flips.TTA_FLIP_AXES`); it is a candidate only where the augmentation flips
    that axis too (:func:`~medtrain.config.flips.trained_flip_axes`, what the rule of a pinned flipping TTA reads:
    ``vflip,rot90`` does, a half-turn after an up-down flip; ``flip`` with ``flip_p`` 0 does not): with ``--augment
    vflip,shift`` (flips on, up-down only) it had been scored and could be kept for a network that never saw a
    left-right flip. Then ``none`` is recorded, nothing scored. ``--flip true`` where the augmentation flips nothing
    asks for test-time flips only: hflip is still tried there."""
    if cfg.tta != "auto":
        return {"chosen": cfg.tta, "how": "pinned (--tta)"}
    if not flip["chosen"]:
        return {"chosen": "none", "how": "flips are off"}
    trained = trained_flip_axes(cfg.augment, cfg.augment_params)
    test_time_only = cfg.flip == "true" and not trained  # decide_flip's "test-time flips only"
    if not test_time_only and not set(TTA_FLIP_AXES["hflip"]) <= trained:
        off = " with flip_p 0" if flips_turned_off(cfg.augment, cfg.augment_params) else ""
        return {"chosen": "none", "how": f"--augment {','.join(cfg.augment)}{off} never flips horizontally: hflip "
                                         "not tried"}
    name = _metric_name(cfg)
    # scored as the run predicts (its MC dropout passes too), as every choice made on the trained network is
    scores = {mode: _score(module, splits.val, splits.task, mode, name, cfg.mc_dropout, cfg.seed)
              for mode in ("none", "hflip")}
    chosen = "hflip" if scores["hflip"] > scores["none"] else "none"
    return {"chosen": chosen, "how": "validation", f"val_{name}": scores}


def logit_adjustment(splits: Splits) -> torch.Tensor:
    """``-log w``: the per-class logit shift that undoes the class-balanced loss's weights ``w``
    (:func:`medtrain.training.build.class_weights`; for multi-label tasks, each label's ``pos_weight``)."""
    return -torch.log(class_weights(splits).clamp_min(1e-6))


def pick_rule(val_acc: dict, crossfit_acc: float | None, margin: float = FITTED_MARGIN) -> str:
    """The decision rule kept: ``prior-adjusted`` when its validation accuracy beats ``balanced`` (a tie keeps
    the balanced rule), ``val-fitted`` when the fitted rule's cross-fitted accuracy beats the better of the two
    by more than ``margin``."""
    fixed = "prior-adjusted" if val_acc["prior-adjusted"] > val_acc["balanced"] else "balanced"
    if crossfit_acc is not None and crossfit_acc > val_acc[fixed] + margin:
        return "val-fitted"
    return fixed


def decide_class_weights(cfg: Config, module, splits: Splits, tta: str) -> dict:
    """With ``class_weights: auto``: keep the balanced-loss decision rule, fold the logit adjustment into the
    classifier's bias when it raises validation accuracy, or, when the threshold is off for another reason,
    the shift fitted on validation (:mod:`medtrain.evaluation.bias`); see :func:`pick_rule`. With
    ``prior-adjusted`` or ``val-fitted`` (``CLASS_WEIGHT_RULES``) that rule is applied without a choice, its validation
    figures recorded as auto's are. Modifies ``module``'s classifier in place."""
    pinned = cfg.class_weights in CLASS_WEIGHT_RULES
    if cfg.transfer == "linear-probe":  # before the pinned values: "true" had been recorded as balanced, unapplied
        how = "a linear probe's classifier is not trained with class weights"
        if cfg.class_weights in ("true", "false"):
            how += f" (--class-weights {cfg.class_weights} not applied)"
        return {"chosen": "plain", "how": how}
    if cfg.class_weights in ("true", "false"):
        return {"chosen": "balanced" if cfg.class_weights == "true" else "plain", "how": "pinned (--class-weights)"}
    linear = final_linear(module.model, splits.num_classes)
    if linear is None:
        return {"chosen": "balanced", "how": "the classifier ends in no linear layer to adjust"}
    prior = logit_adjustment(splits).to(linear.bias)
    if splits.task == MULTILABEL and len(prior) != linear.out_features:
        return {"chosen": "balanced", "how": "label count differs from the classifier's outputs"}
    y = splits.val.labels.numpy()
    y = y if splits.task == MULTILABEL else y.reshape(-1)

    def scores_with(shift: torch.Tensor) -> np.ndarray:
        """Validation scores with ``shift`` folded into the bias (TTA as the run predicts); left folded."""
        with torch.no_grad():
            linear.bias += shift
        return predict(module, splits.val, tta=tta, mc_dropout=cfg.mc_dropout, seed=cfg.seed)[0]

    # scored as the run predicts, MC dropout passes included: its choices had been judged on one plain pass
    scores = {"balanced": scores_with(torch.zeros_like(prior)), "prior-adjusted": scores_with(prior)}
    with torch.no_grad():
        linear.bias -= prior  # back to the balanced rule until one is chosen
    acc = {k: float(metrics.acc(y, v, splits.task)) for k, v in scores.items()}
    z = pseudo_logits(scores["balanced"], splits.task)
    held_out = crossfit_scores(z, y, splits.task, seed=cfg.seed, groups=splits.val.groups)
    crossfit = float(metrics.acc(y, held_out, splits.task)) if held_out is not None else None
    extra = {"logit_shift": [round(float(v), 6) for v in np.asarray(prior.cpu())]}
    if crossfit is not None:
        extra["val_acc_crossfit"] = {"val-fitted": crossfit, "margin": FITTED_MARGIN}
    fitted = None
    if crossfit is not None or cfg.class_weights == "val-fitted":
        fitted = torch.as_tensor(decision_shift(z, y, splits.task)).to(linear.bias)
        scores["val-fitted"] = scores_with(fitted)  # left folded until a rule is chosen
        if crossfit is not None and (metrics.calls_one_class(held_out, splits.task)
                                     or metrics.calls_one_class(scores["val-fitted"], splits.task)):
            # a shift that calls every image the majority class scores the majority's share as accuracy: a
            # prevalence guess, not a classifier (a 2-epoch BreastMNIST run had been kept so, never calling
            # "malignant" on test; found in a user walkthrough)
            extra["val_acc_crossfit"]["refused"] = "calls every validation image one class"
            crossfit = None
    chosen = cfg.class_weights if pinned else pick_rule(acc, crossfit)
    if fitted is not None and chosen != "val-fitted":
        del scores["val-fitted"]
        with torch.no_grad():
            linear.bias -= fitted  # back to the balanced rule
    if chosen == "val-fitted":
        extra["fitted_shift"] = [round(float(v), 6) for v in np.asarray(fitted.cpu())]
        acc[chosen] = float(metrics.acc(y, scores[chosen], splits.task))
    elif chosen == "prior-adjusted":
        with torch.no_grad():
            linear.bias += prior
    auc = {k: float(metrics.auc(y, v, splits.task)) for k, v in scores.items()}
    how = "pinned (--class-weights)" if pinned else "validation accuracy"
    return {"chosen": chosen, "how": how, "val_acc": acc, "val_auc": auc, **extra}
