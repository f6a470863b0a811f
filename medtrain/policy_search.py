"""Searching augmentation policies with real training runs (``medtrain augment search``): the ``train_fn``
that :mod:`medtrain.augment.search`'s RandAugment grid calls for each candidate, and the AutoAugment-style
policy search run as an Optuna study by :mod:`medtrain.tune.study`.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from medtrain import config as config_mod, rundir
from medtrain.api import train_or_reuse
from medtrain.augment.policies import randaugment_policy, save_policy
from medtrain.errors import MedtrainError

DEFAULT_STUDY = "autoaugment"


def _val_auc(result: dict) -> float:
    """Validation AUC of the selected checkpoint: ``result["val"]["auc"]`` of ``medtrain.train``'s result.

    (``metrics.json`` has no ``best`` mapping: ``best_epoch`` is an int and the selected checkpoint's
    validation metrics are under ``val``.) A missing or non-numeric value is an error, not a silent NaN,
    so a changed result layout cannot turn every candidate into "failed".
    """
    val = result.get("val") if isinstance(result, dict) else None
    auc = val.get("auc") if isinstance(val, dict) else None
    if isinstance(auc, bool) or not isinstance(auc, (int, float)):
        raise MedtrainError("the training result holds no validation AUC (expected a number at val.auc)")
    return float(auc)


def flips_off(cfg, pin: dict) -> bool:
    """Whether the candidates train without flips: ``flip: false`` given, or decided once for the search (``pin``,
    :func:`grid_flips` or :func:`medtrain.tune.flips.study_flip`)."""
    return (pin.get("flip") or cfg.flip) == "false"


def trained_base(base_augment, off: bool) -> list:
    """``base_augment`` as the candidates train it: without its flip ops where flips are ``off`` (``flip: false``
    removes them in training, so a policy's record of ``flip, shift`` had named a flip no candidate saw)."""
    from medtrain.config.flips import FLIP_OPS

    return [a for a in base_augment if not (off and a in FLIP_OPS)]


def described_base(base_augment, cfg, pin: dict) -> str:
    """The base augmentation a policy's comment names: the ops applied, and why a flip is not among them or how
    each candidate decided it."""
    from medtrain.config.flips import FLIP_OPS

    off, flips = flips_off(cfg, pin), [a for a in base_augment if a in FLIP_OPS]
    ops = ", ".join(trained_base(base_augment, off)) or "none"
    if flips and off:
        return f"{ops} ({', '.join(flips)} off: flip false{', decided once by pilot runs' if pin else ''})"
    if flips and cfg.flip == "auto" and not pin:
        return f"{ops} (with or without {', '.join(flips)}, as each candidate's pilot runs decided: flip auto)"
    return ops


def grid_flips(cfg, base_augment: list, budget_epochs: int, work_dir: Path, log: Callable[[str], None],
               splits=None) -> dict:
    """The flips of the RandAugment grid's candidates decided once, as :func:`medtrain.tune.flips.study_flip` does
    for a study (each candidate had run two pilot runs of its own): ``flip: auto`` is decided by ``train``'s pilots
    on the base settings (``base_augment``, ``budget_epochs``), kept in ``WORK_DIR/flip.json`` for a rerun, and
    returned as the layer every candidate trains with (``{}`` where nothing is pinned: flips given, no pilot
    needed, or a work folder whose earlier candidates each decided). ``splits``: ``cfg``'s data where the caller
    has loaded it already (``augment search`` has, to check it before any folder exists; it had been read a second
    time here); None: read here, where the pilots need it."""
    import json

    from medtrain._io import write_json
    from medtrain.data import load_splits
    from medtrain.rundir import is_run
    from medtrain.tune.flips import decide_once, said

    if cfg.flip != "auto":
        return {}
    record = Path(work_dir) / "flip.json"
    if record.is_file():
        made = json.loads(record.read_text(encoding="utf-8"))
    elif any(is_run(p) for p in Path(work_dir).iterdir()):
        log("augment search: flips: decided by each candidate with its own pilot runs (flip: auto), as this work "
            "folder's earlier candidates were")
        return {}
    else:
        pilot = config_mod.resolve({k: v for k, v in cfg.to_dict().items() if k != "out"},
                                   {"augment": list(base_augment) or ["none"], "epochs": budget_epochs})
        made = decide_once(pilot, load_splits(pilot) if splits is None else splits, Path(work_dir) / "flip-pilots")
        write_json(record, made)
    if not made.get("pinned"):
        return {}
    if made.get("no_pilots"):  # its "how" is train's record (tta_keeps_flips'), which says no pilots ran, as tune's
        log(f"augment search: flips on for every candidate (flip: true), {made['how']}")
        return {"flip": "true"}
    log(f"augment search: flips {'on' if made['chosen'] else 'off'} for every candidate (flip: "
        f"{'true' if made['chosen'] else 'false'}), decided once by {said(made)}; flip: true or false in the "
        f"config skips the pilots")
    return {"flip": "true" if made["chosen"] else "false"}


def make_train_fn(base_cfg, work_dir: Path, verbose: bool = False, pin: dict | None = None,
                  say: Callable[[str], None] | None = None) -> Callable[[list, dict], float]:
    """A ``train_fn`` for :func:`medtrain.augment.search.randaugment_grid_search` built on ``medtrain.train``.

    RandAugment reaches training as a policy file (``--augment ...,ra-n2-m9.yaml``), so training needs no
    setting of its own for N and M. A candidate whose run directory already holds results is not trained
    again, and an interrupted one is resumed, so a stopped search continues where it was; a directory
    trained with other settings (another budget, model, base augmentation, ...) is refused, not reused
    (:func:`medtrain.api.train_or_reuse`).
    The score is the validation AUC of the checkpoint training selected (``metrics.json``'s ``val.auc``).
    ``pin``: settings every candidate trains with over ``base_cfg`` (the flips :func:`grid_flips` decided).
    ``say``: told of a candidate reused or resumed from an earlier search, before its score is logged (a rerun had
    listed reused candidates' scores as if they had just trained).
    """
    def train_fn(spec: list, params: dict) -> float:
        aug = list(spec)
        name = "baseline"
        if "randaugment" in aug:
            n, m = params["ra_n"], params["ra_m"]
            name = f"ra-n{n}-m{m:g}"
            policy_path = work_dir / f"{name}.yaml"
            save_policy(randaugment_policy(n, m), policy_path)
            aug[aug.index("randaugment")] = str(policy_path)
        run_dir = work_dir / name
        overrides = {"augment": aug, "out": str(run_dir), "progress": False, "bootstrap": 0}
        if "epochs" in params:
            overrides["epochs"] = params["epochs"]
        earlier = ("finished earlier, reused" if rundir.is_finished(run_dir) else "interrupted earlier, resumed"
                   ) if rundir.is_run(run_dir) else None
        # without the test split, as tune's trials: the grid is ranked on validation and the test split is
        # for the final report only (every candidate was scored on it; found in a user walkthrough)
        metrics = train_or_reuse(config_mod.resolve(base_cfg.to_dict(), pin, overrides), verbose=verbose,
                                 evaluate_test=False)
        if say is not None and earlier:
            say(f"{name}: {earlier} ({run_dir})")
        return _val_auc(metrics)

    return train_fn


def autoaugment_search(base_cfg, work_dir: Path, out: Path, *, base_augment: list, budget_epochs: int,
                       trials: int | None = None, budget_minutes: float | None = None, storage: str | None = None,
                       study_name: str = DEFAULT_STUDY, sub_policies: int = 5, log: Callable[[str], None] = print,
                       splits=None, started: float | None = None, seeds: int = 1,
                       folds: int | None = None):
    """Search an AutoAugment-style policy (:func:`medtrain.augment.search.suggest_autoaugment_policy`) with
    the Optuna study machinery of ``medtrain tune`` (:mod:`medtrain.tune.study`: TPE, median pruning on the
    validation metric, a resumable study in ``storage``, default ``WORK/study.db``).

    Trial ``k`` writes its policy to ``TRIALS/NNN.yaml`` and trains ``TRIALS/NNN`` for
    ``budget_epochs`` epochs with ``--augment [*base_augment, that file]``, without the test split; it is
    scored on validation. ``seeds`` K > 1: each trial trains its policy with the seeds ``seed .. seed + K - 1``
    (the config's first, in ``TRIALS/NNN``; the others in ``TRIALS/NNN-seedS``) and is scored by the mean of their
    validation scores (:func:`medtrain.tune.trial_runs.mean_over_repeats`): one seed's moves by ~0.01, as much as the
    differences the search ranks. ``folds`` K >= 2: each trial trains its policy K times, with ``{"folds": K,
    "fold": k}`` (:mod:`medtrain.crossval`'s: fold k of train + val held out as validation, the data's own test
    split untouched; data without one, and a K they cannot fill, are refused first:
    :func:`~medtrain.tune.trial_runs.check_folds_fit`), fold 0 in ``TRIALS/NNN``, fold k in ``TRIALS/NNN-foldK``,
    scored by the mean of the K validation scores (:func:`medtrain.tune.trial_runs.mean_over_repeats`): every image
    of train + val validated once (not with ``seeds``; a base config holding ``folds`` is refused). The first trial
    of a new study is the policy that applies nothing, so the search can answer "no policy" (enqueued again by a
    rerun if that trial failed, e.g. stopped by Ctrl-C). The best
    trial's policy is written to ``out`` with every trial's score.
    ``TRIALS`` is ``WORK/trials`` for the default study and ``WORK/trials-NAME`` for any other, so two
    studies in one work folder never share (and silently reuse) run directories.
    ``splits``: ``base_cfg``'s data where the caller has loaded it already (``augment search`` has; the flip
    pilots had read it a second time); None: read where the pilots need it.
    ``budget_minutes``: a deadline from ``started`` (a ``time.monotonic()`` time; default: this call), as
    ``medtrain tune``'s (:func:`medtrain.tune.study.run_study`: the flip pilots count, no trial starts that the
    longest so far says would end after it, a trial training at the deadline stops at that epoch's end, pruned);
    a trial it cut is the best only where none completed, and the policy's comment says so.

    Returns:
        the written :class:`medtrain.augment.policies.Policy`.
    """
    import time

    import optuna

    from medtrain.augment.search import no_op_params, suggest_autoaugment_policy
    from medtrain.data import load_splits
    from medtrain.tune.flips import pin_of, study_flip
    from medtrain.tune import prepare_storage
    from medtrain.tune.pruning import CUT, CUT_ATTR, CUT_STORY_ATTR, SCORE_ATTR, Budget, best_trial, value_of
    from medtrain.tune.trial_runs import (FOLDS_ATTR, REPEATS, SEEDS_ATTR, check_folds, check_folds_fit,
                                          check_repeats_of, cut_story, mean_over_repeats, repeat_run_dir)
    from medtrain.tune.report import write_trials
    from medtrain.tune.storage_errors import shown_url
    from medtrain.training.distributed import check_devices, single_process_only
    from medtrain.tune.study import (
        check_limits, check_study_name, counted, finished_trials, open_study, reports_dir, run_study,
        running_note, score_of_repeat, train_trial, trials_dir,
    )  # fmt: skip

    started = time.monotonic() if started is None else started
    if isinstance(budget_epochs, bool) or not isinstance(budget_epochs, int) or budget_epochs < 1:
        raise MedtrainError(f"budget epochs must be an integer >= 1, got {budget_epochs!r}")
    check_limits(trials, budget_minutes)
    check_study_name(study_name)
    base = {k: v for k, v in base_cfg.to_dict().items() if k not in ("out", "progress", "data_dir")}
    base.update(epochs=budget_epochs)
    single_process_only(config_mod.resolve(base), "augment search")
    check_devices(config_mod.resolve(base))  # as train refuses them, before the study or a flip pilot exists
    if isinstance(sub_policies, bool) or not isinstance(sub_policies, int) or sub_policies < 1:
        raise MedtrainError(f"--sub-policies must be an integer >= 1, got {sub_policies!r}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise MedtrainError(f"--seeds must be an integer >= 1 (the seeds each trial trains), got {seeds!r}")
    check_folds(folds, seeds, base_cfg)
    check_folds_fit(base_cfg, folds)
    word = "fold" if folds else "seed"  # what a trial's repeats differ in, and their settings (the first's first)
    each = [{"folds": folds, "fold": k} for k in range(folds)] if folds else \
        [{"seed": base_cfg.seed + k} for k in range(seeds)]
    labels, (values_attr, _) = [e[word] for e in each], REPEATS[word]
    work_dir = Path(work_dir)
    folder = trials_dir(work_dir, study_name, DEFAULT_STUDY)
    created = not work_dir.exists()
    db, url = prepare_storage(work_dir, storage)
    settings = {"command": "augment search --method autoaugment", "monitor": base_cfg.monitor,
                "sub_policies": sub_policies, "base_augment": list(base_augment), "base": base,
                **({"seeds": seeds} if seeds > 1 else {}),  # a study of one seed records none, as before --seeds
                **({"folds": folds} if folds else {})}
    check_repeats_of(db, study_name, seeds, folds)
    study = open_study(db, study_name, base_cfg.monitor, base_cfg.seed, settings)
    if trials is None or len(finished_trials(study)) < trials:  # flips decided once for the study, as tune does
        decided = {**base, "augment": list(base_augment) or ["none"]}  # the base: without the searched policy
        try:
            pin = study_flip(study, decided, set(),
                             lambda: load_splits(config_mod.resolve(decided)) if splits is None else splits,
                             folder / "flip-pilots", log, command="augment search", hint="")
        except MedtrainError:  # refused (a flipping TTA on labels naming a side): no study left to block a rerun
            if created and not finished_trials(study):
                shutil.rmtree(work_dir, ignore_errors=True)
            raise
    else:
        pin = pin_of(study)
    if not _no_op_scored_or_pending(study, no_op_params(sub_policies)):
        study.enqueue_trial(no_op_params(sub_policies))
    log(f"augment search: study {study_name!r} in {shown_url(url)} ({counted(len(finished_trials(study)))} so far)")
    if note := running_note(study):
        log(f"augment search: {note}")

    budget = Budget.of(budget_minutes, started, trials)  # the search's one deadline: run_study's and the trials'

    def objective(trial) -> float:
        policy = suggest_autoaugment_policy(trial, sub_policies)
        same = score_of_repeat(study, trial)
        if same is not None:  # the policy of a finished trial drawn again (or enqueued): its score, not a retraining
            earlier = study.get_trials(deepcopy=False)[trial.user_attrs["repeat_of"]]
            for attr in (SEEDS_ATTR, FOLDS_ATTR):  # its seeds' or folds' scores, by which it is that score
                if earlier.user_attrs.get(attr):
                    trial.set_user_attr(attr, earlier.user_attrs[attr])
            return same
        run_dir = folder / f"{trial.number:03d}"
        if not run_dir.exists():  # the file is this trial's to write, and to remove if its run never finishes
            trial.set_user_attr("policy_file", os.path.abspath(run_dir.with_suffix(".yaml")))
        policy_file = _write_trial_policy(policy, run_dir)
        cfg = config_mod.resolve(base, pin, each[0], {"augment": [*base_augment, str(policy_file)],
                                                      "out": str(run_dir), "progress": False})
        deadline = None if budget is None else budget.deadline
        # which removes a failed trial's files, its policy file too
        try:
            first = train_trial(trial, cfg, deadline=deadline)  # reported to the pruner, each epoch
        except optuna.TrialPruned:
            if len(each) > 1 and trial.user_attrs.get(CUT_ATTR) == CUT:  # the budget cut its first seed or fold
                trial.set_user_attr(values_attr, [trial.user_attrs[SCORE_ATTR]])
                epochs = study.get_trials(deepcopy=False)[trial.number].last_step + 1  # the epochs it reported
                trial.set_user_attr(CUT_STORY_ATTR, cut_story(labels, (labels[0], epochs), 1, word))
            raise
        others = [config_mod.resolve(base, pin, e, {"augment": [*base_augment, str(policy_file)], "progress": False,
                                                    "out": str(repeat_run_dir(run_dir, e[word], word))})
                  for e in each[1:]]
        return mean_over_repeats(trial, first, others, deadline, word, labels[0]) if others else first

    reports = reports_dir(work_dir, study_name, DEFAULT_STUDY)
    try:
        run_study(study, objective, trials, log=log, budget=budget, progress=base_cfg.progress)
    finally:
        table = write_trials(study, reports)
    try:
        best, cut = best_trial(study)  # one the budget cut only where no trial completed
    except ValueError:
        raise MedtrainError(f"no trial of the search finished (see {reports / 'trials.md'})") from None
    policy = suggest_autoaugment_policy(optuna.trial.FixedTrial(best.params), sub_policies)
    done = finished_trials(study)
    policy.metadata = {"search": {
        "method": "autoaugment-tpe", "selected_on": f"{base_cfg.monitor} ({'held-out folds of train + val' if folds else 'validation split'})",
        "budget_epochs": budget_epochs, "best_trial": best.number,
        "base_augment": trained_base(base_augment, flips_off(base_cfg, pin)), "flip": pin.get("flip", base_cfg.flip),
        "best_value": round(value_of(best), 6), "finished_trials": len(done), "storage": shown_url(url),
        "study": study_name, "seeds": seeds, **({"folds": folds} if folds else {}),
        **({"best_cut_by_budget": True} if cut else {}),
        "results": [{"trial": t.number, "state": t.state.name.lower(),
                     "value": None if value_of(t) is None else round(value_of(t), 6),
                     **({"seed_values": [round(v, 6) for v in t.user_attrs[SEEDS_ATTR]]}
                        if t.user_attrs.get(SEEDS_ATTR) else {}),
                     **({"fold_values": [round(v, 6) for v in t.user_attrs[FOLDS_ATTR]]}
                        if t.user_attrs.get(FOLDS_ATTR) else {})} for t in done],
    }}
    applies = any(op.prob > 0 for sub in policy.sub_policies for op in sub)
    note = (f"Learned by `medtrain augment search --method autoaugment`: {counted(len(done), 'trial')} (TPE), "
            f"{counted(sub_policies, 'sub-policy', 'sub-policies')} of 2 ops, {counted(budget_epochs, 'epoch')} "
            f"per trial, ranked on validation {base_cfg.monitor}"
            + (f" (mean over {seeds} seeds, {base_cfg.seed} to {base_cfg.seed + seeds - 1})" if seeds > 1 else "")
            + (f" (mean over {folds} folds of train + val)" if folds else "")
            + f".\nBest: trial #{best.number}, {value_of(best):.4f}"
            + ("" if applies else " (the policy that applies nothing won)")
            + (_cut_said(best, best.user_attrs.get(CUT_STORY_ATTR)) if cut else "")
            + "\nBase augmentation applied before the policy during the search: "
            + described_base(base_augment, base_cfg, pin))
    save_policy(policy, out, comment=note)
    log(table.rstrip())
    return policy


def _cut_said(trial, story: str | None) -> str:
    """`` (cut by the budget ...: no trial completed within it)`` for the best trial ``trial`` the budget cut: after
    which epoch (a trial of one seed: its ``last_step``), or, for a trial of several seeds, its ``story``
    (:data:`medtrain.tune.pruning.CUT_STORY_ATTR`: which seed stopped, which never started, how many it averages)."""
    where = f": {story};" if story else f" after epoch {trial.last_step + 1}:"
    return f" (cut by the budget{where} no trial completed within it)"


def _no_op_scored_or_pending(study, no_op: dict) -> bool:
    """Whether ``study`` holds a scored trial of the policy that applies nothing (``no_op``: its probabilities,
    all 0), or one waiting or running. Hand-written, as ``enqueue_trial(skip_if_exists=True)`` skips on a
    trial of any state, a failed one too: a first trial stopped by Ctrl-C or killed had left a study that never
    scored that policy, so the search could no longer answer "no policy"."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.WAITING, TrialState.RUNNING)
    for t in study.get_trials(deepcopy=False, states=states):
        params = {**t.system_attrs.get("fixed_params", {}), **t.params}  # a waiting trial's are only enqueued
        if all(params.get(k) == v for k, v in no_op.items()):
            return True
    return False


def _write_trial_policy(policy, run_dir: Path) -> Path:
    """Write a trial's policy to ``RUN_DIR.yaml``, the file its run trains with. A run directory already there
    (another study or ``--storage`` that used this work folder) must have trained this very policy: writing
    another over its file would make :func:`medtrain.api.train_or_reuse` reuse that run's score for the new
    policy, and rewrite the record of what the old run trained."""
    from medtrain.augment.policies import load_policy

    path = run_dir.with_suffix(".yaml")
    if run_dir.exists():
        try:
            same = load_policy(path).to_dict() == policy.to_dict()
        except (MedtrainError, OSError):
            same = False
        if not same:
            raise MedtrainError(f"{run_dir} holds a run of another policy (another study or --storage used this "
                                f"work folder); use another --work-dir or --study-name")
        return path
    return save_policy(policy, path)
