"""A trial's run folders: training one without losing what a failed trial leaves (:func:`trained_run`), removing
what a failed trial left unfinished (:func:`discard_trial_files`), and a trial scored over several seeds
(:func:`mean_over_repeats`, ``medtrain augment search --method autoaugment --seeds K`` or ``--folds K``), and the
checks of those flags before a search writes anything (:func:`check_folds`, :func:`check_folds_fit`,
:func:`check_repeats_of`).

A trial of K seeds trains its first seed as every trial does (:func:`medtrain.tune.study.train_trial`: folder
``TRIALS/NNN``, each epoch reported to the pruner) and its other seeds ``seed + 1 .. seed + K - 1`` in
``TRIALS/NNN-seedS`` (``S`` the seed), without the pruner, stopped by the search's deadline by the rule that stops
the first (:class:`medtrain.tune.pruning.DeadlineStop`); its value is the mean of their validation scores, each kept
in user attribute :data:`SEEDS_ATTR`. One seed's validation AUC moves by about 0.01 from seed to seed
(RetinaMNIST), as much as the differences a search ranks.

A trial of K folds (``--folds K``) is the same path (:func:`mean_over_repeats`) with other settings per repeat:
``{"folds": K, "fold": k}`` (:mod:`medtrain.crossval`'s: fold k of train + val held out as validation, the
data's own test split untouched; data without one are refused: :func:`check_folds_fit`), fold 0 in ``TRIALS/NNN``
(reported to the pruner), fold k in ``TRIALS/NNN-foldK``,
their scores in :data:`FOLDS_ATTR`."""
from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

import optuna

from medtrain.api import train_or_reuse
from medtrain.errors import MedtrainError, TrainingDiverged
from medtrain.rundir import is_finished
from medtrain.tune.pruning import CUT, CUT_ATTR, CUT_STORY_ATTR, SCORE_ATTR, DeadlineStop, score_of

#: User attributes of a trial of several seeds: each seed's validation score, in seed order (the first seed's
#: first), and the run folders of its seeds after the first (``run_dir`` names the first's).
SEEDS_ATTR, SEED_DIRS_ATTR = "seed_values", "seed_run_dirs"
#: ... of a trial of several folds: each fold's validation score, in fold order, and the folds' run folders after
#: the first
FOLDS_ATTR, FOLD_DIRS_ATTR = "fold_values", "fold_run_dirs"
#: a trial's repeats by what differs between them: the setting named in folder suffixes and stories, and the user
#: attributes of their scores and of their run folders after the first
REPEATS = {"seed": (SEEDS_ATTR, SEED_DIRS_ATTR), "fold": (FOLDS_ATTR, FOLD_DIRS_ATTR)}


def repeat_run_dir(run_dir: str | os.PathLike, label: int, word: str) -> Path:
    """``TRIALS/NNN-seedS`` (``word`` "seed") or ``TRIALS/NNN-foldF`` ("fold"): the run folder of the repeat
    ``label`` of the trial whose first repeat trains ``TRIALS/NNN``."""
    return Path(run_dir).with_name(f"{Path(run_dir).name}-{word}{label}")


def discard_trial_files(trial) -> None:
    """Remove what a failed ``trial`` (an ``optuna.Trial`` or ``FrozenTrial``) left unfinished: its run folders
    (user attributes ``run_dir``, :data:`SEED_DIRS_ATTR` and :data:`FOLD_DIRS_ATTR`) unless they hold a finished run, and the policy file
    it wrote for them (``policy_file``, ``medtrain augment search``) once its first run folder is gone. Nothing
    else: a repeat trial's ``run_dir`` is another trial's (only a folder named after this trial's number, or one of
    its seeds or folds, is its own), a file the trial did not write has no ``policy_file``, and a run it left beside its
    file (e.g. a diverged one) stays with it. Paths are as the machine that ran the trial recorded them: a dead
    trial of a shared study failed by another machine leaves its folders where it ran."""
    attrs, own = trial.user_attrs, f"{trial.number:03d}"
    for run_dir in [attrs.get("run_dir"), *attrs.get(SEED_DIRS_ATTR, []), *attrs.get(FOLD_DIRS_ATTR, [])]:
        name = Path(run_dir).name if run_dir else ""
        if (name == own or name.startswith((f"{own}-seed", f"{own}-fold"))) and not is_finished(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
    policy = attrs.get("policy_file")
    if policy and not Path(policy).with_suffix("").exists():
        Path(policy).unlink(missing_ok=True)


def trained_run(trial: optuna.Trial, cfg, callbacks: list) -> dict | None:
    """``train_or_reuse(cfg)`` without the test split, as trial ``trial``: its result, or None where the training
    diverged (user attribute ``failed`` says so; its run stays). Ctrl-C (user attribute ``failed: interrupted``) and
    any other error remove the trial's unfinished files (:func:`discard_trial_files`) and are raised."""
    try:
        result = train_or_reuse(cfg, callbacks=callbacks, evaluate_test=False)
    except KeyboardInterrupt:  # Ctrl-C (TrainingInterrupted where Lightning caught it, else raw): the trial is lost,
        trial.set_user_attr("failed", "interrupted")  # said in trials.md (a bare 'fail' had read as an error)
        discard_trial_files(trial)  # the study kept; its unfinished folder is no one's to resume (a rerun runs
        raise KeyboardInterrupt from None  # new trial numbers), so it is not left behind, nor its policy file
    except TrainingDiverged as e:  # e.g. a sampled lr too high for its network: this trial fails, the search goes on
        trial.set_user_attr("failed", str(e))
        return None
    except Exception:  # any other failure: its unfinished files go as well
        discard_trial_files(trial)
        raise
    if result.get("test"):  # a reused directory trained with its test split: its numbers must not steer
        raise MedtrainError(f"{cfg.out} holds test results; a search's trials are trained without the test split")
    return result


def cut_story(seeds: list[int], stopped: tuple[int, int] | None, averaged: int, word: str = "seed") -> str:
    """What the budget did to a trial of the seeds ``seeds`` (:data:`CUT_STORY_ATTR`): ``stopped`` (a seed, the
    epoch after which it stopped; None: none stopped), the seeds after the ``averaged`` it trained not started,
    e.g. ``seed 1 stopped after epoch 1, seed 2 not started; the mean of 2 of its 3 seeds`` (``word`` "fold": of
    its folds)."""
    said = [f"{word} {stopped[0]} stopped after epoch {stopped[1]}"] if stopped else []
    unstarted = seeds[averaged:]
    if unstarted:
        said.append(f"{word} {unstarted[0]} not started" if len(unstarted) == 1 else
                    f"{word}s {unstarted[0]} to {unstarted[-1]} not started")
    scored = f"the score of 1 of its {len(seeds)} {word}s" if averaged == 1 else \
        f"the mean of {averaged} of its {len(seeds)} {word}s"
    return f"{', '.join(said)}; {scored}"


def mean_over_repeats(trial: optuna.Trial, first: float, others: list, deadline: float | None, word: str,
                      first_label: int) -> float:
    """The value of trial ``trial`` over its repeats (``word``: "seed" or "fold", the setting they differ in,
    :data:`REPEATS`): ``first``, the first repeat's score (:func:`medtrain.tune.study.train_trial`'s), and the runs
    ``others`` (configs of the later repeats, each its own ``out``) trained here without the pruner, stopped by
    ``deadline`` (None: none). Each repeat's score is kept in the user attribute ``REPEATS[word][0]``
    (:data:`SEEDS_ATTR`, :data:`FOLDS_ATTR`), its folder in ``REPEATS[word][1]``; the value is their mean. A repeat
    that diverges fails the trial (NaN). A repeat the deadline stopped, or not started because it had passed, makes
    the trial one the budget cut (pruned, ``pruned: budget``), its score (:data:`SCORE_ATTR`) the mean of the
    repeats it trained, and what the budget did in :data:`CUT_STORY_ATTR` (``first_label``: the first repeat's
    seed or fold)."""
    values_attr, dirs_attr = REPEATS[word]
    values, stopped, cut = [first], None, False
    for cfg in others:
        if math.isnan(values[-1]):
            break
        if deadline is not None and time.monotonic() >= deadline:
            cut = True
            break
        trial.set_user_attr(dirs_attr, [*trial.user_attrs.get(dirs_attr, []), os.path.abspath(cfg.out)])
        stop = DeadlineStop(deadline) if deadline is not None else None
        result = trained_run(trial, cfg, [stop] if stop else [])
        values.append(float("nan") if result is None else score_of(result, cfg.monitor))
        if stop is not None and stop.cut_after is not None:
            stopped, cut = (getattr(cfg, word), stop.cut_after + 1), True
            break
    trial.set_user_attr(values_attr, values)
    mean = sum(values) / len(values)
    if cut and not math.isnan(mean):
        story = cut_story([first_label, *(getattr(c, word) for c in others)], stopped, len(values), word)
        trial.set_user_attr(CUT_ATTR, CUT)
        trial.set_user_attr(SCORE_ATTR, mean)  # what it is ranked and reported by: the repeats it trained
        trial.set_user_attr(CUT_STORY_ATTR, story)
        raise optuna.TrialPruned(f"the search's budget ran out; {story}")
    return mean


def check_folds(folds, seeds: int, base_cfg) -> None:
    """Refuse ``--folds`` (``folds``; None: not given) other than an integer >= 2, given with ``--seeds`` K > 1, or
    a base config that holds ``folds`` (a cross-validation's fold: the search chooses on one split, or on
    ``--folds``' own), before anything is written."""
    if folds is not None and (isinstance(folds, bool) or not isinstance(folds, int) or folds < 2):
        raise MedtrainError(f"--folds must be an integer >= 2 (the folds of train + val each trial trains, one "
                            f"held out as validation by each), got {folds!r}")
    if folds is not None and seeds > 1:
        raise MedtrainError(f"--seeds {seeds} and --folds {folds} together: give one (each trial trains its policy "
                            f"once per seed, or once per fold)")
    if base_cfg.folds:
        raise MedtrainError(f"the config holds folds: {base_cfg.folds} (a cross-validation's setting); remove folds "
                            f"and fold from it, and give --folds K to score each trial over K folds of train + val")


def check_folds_fit(base_cfg, folds: int | None) -> None:
    """Refuse ``--folds`` K, before the flip pilots or the study exist, where the data cannot be dealt into K folds
    of train + val (a class with fewer patients or images than K: it had been refused by the first fold's training,
    after the study recorded K, whose rerun with a K that fits was then refused), or where the data hold no test
    split of their own (a folder, a CSV without a split column): there the splitter's folds are cross-validation's,
    fold k held out as test, so every image, the chosen policy's test images too, would be trained on by the
    search. Fold 0 is loaded, which deals and checks every fold (:func:`medtrain.data.split.assign_splits`)."""
    if not folds:
        return
    import dataclasses

    from medtrain.data import FOLD, load_splits, origin_parts

    held = load_splits(dataclasses.replace(base_cfg, folds=folds, fold=0))
    parts = origin_parts(held.record.origin) if held.record is not None else None
    if parts is not None and parts["test"] == FOLD:
        data = base_cfg.data or base_cfg.dataset
        raise MedtrainError(f"--folds {folds} scores each policy over folds of train + val beside the data's own "
                            f"test split, and {data} has none (medtrain draws its splits: each fold would be held "
                            f"out as test, and the search would train on the images the chosen policy's run is "
                            f"tested on): give the data a test split of its own (a CSV's split column), or score "
                            f"each policy over seeds with --seeds K")


def check_repeats_of(storage, study_name: str, seeds: int, folds: int | None = None) -> None:
    """Refuse a rerun of study ``study_name`` with another ``--seeds`` than it was started with (one seed where it
    recorded none: a study from before ``--seeds``, whose trials each trained one), or another ``--folds`` (none
    where it recorded none), before the study is opened: its trials' values are means over that many seeds or
    folds, which other trials' could not be ranked with."""
    try:
        saved = optuna.load_study(study_name=study_name, storage=storage).user_attrs.get("medtrain") or {}
    except KeyError:  # no such study yet
        return
    was = saved.get("seeds", 1)
    if was != seeds:
        each = f"means over {was} seeds" if was > 1 else "of one seed each"
        raise MedtrainError(f"study {study_name!r} in this storage was started with --seeds {was}, now {seeds} (its "
                            f"trials' values are {each}); rerun with --seeds {was}, or use another --study-name or "
                            f"--work-dir")
    was = saved.get("folds")
    if was != folds:
        said = lambda k: f"with --folds {k}" if k else "without --folds"  # noqa: E731
        each = f"means over {was} folds of train + val" if was else "scored on the validation split"
        raise MedtrainError(f"study {study_name!r} in this storage was started {said(was)}, now {said(folds)} (its "
                            f"trials' values are {each}); rerun {said(was)}, or use another --study-name or "
                            f"--work-dir")
