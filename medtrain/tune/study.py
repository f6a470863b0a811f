"""The one place Optuna studies are opened, stored and run, for ``medtrain tune`` and for the
AutoAugment-style policy search of ``medtrain augment search --method autoaugment``.

A study lives in a real database (Optuna's ``RDBStorage``: any SQLAlchemy URL; by default a SQLite file in the output
folder), so a search stopped by Ctrl-C, a crash or its budget keeps every finished trial, and running the same command
again continues it; several machines given the same ``--storage`` URL share one study. Sampling is TPE (Bergstra et
al., "Algorithms for Hyper-Parameter Optimization", NeurIPS 2011) and trials that fall behind the median of earlier
trials at the same epoch are stopped early (Optuna's ``MedianPruner``, fed each epoch by Optuna's Lightning pruning
callback), never at their last epoch (:mod:`medtrain.tune.pruning`).

Each trial is a normal run directory trained with :func:`medtrain.api.train_or_reuse` *without the test
split* (``evaluate_test=False``): a trial's score is its validation metric, and nothing a search decides
can depend on test images.

A trial whose process died without a word (``kill -9``, a lost machine) would stay RUNNING in the study forever: the
storage keeps Optuna's heartbeat (each running trial records one every :data:`HEARTBEAT_S` seconds), and a running
trial whose last heartbeat is older than :data:`GRACE_S` is marked failed by the next run or worker
(:func:`fail_stale_trials`), which removes its unfinished run folder. A trial alive on another machine of a shared
study keeps beating, so it is never failed. Each trial's draws are seeded by ``(seed, trial number)``
(:class:`medtrain.tune.sampler.TrialSeededTPE`): one worker with one seed is reproducible, and workers sharing a study
draw different parameters.

A budget (``--budget MINUTES``) is a deadline for the whole search from the command's start (flip pilots
included): a trial starts only where the time left holds the longest trial this run completed (the first always
starts), and one training at the deadline stops at that epoch's end, keeps its finished run and is pruned
(:mod:`medtrain.tune.pruning`). The best trial's test evaluation and the reports come after the deadline.
"""
from __future__ import annotations

import datetime
import math
import os
import re
import time
import warnings
from pathlib import Path
from typing import Callable

import optuna
from optuna.trial import TrialState

from medtrain._progress import Overall
from medtrain.tune._interrupt_gate import InterruptGate
from medtrain.config import Config
from medtrain.errors import MedtrainError
from medtrain.tune.pruning import (  # score_of: also medtrain.tune.study's, where it was
    CUT, CUT_ATTR, CUT_STORY_ATTR, SCORE_ATTR, Budget, budget_said, clock as _clock, score_of, value_of,
)  # fmt: skip
from medtrain.tune.sampler import TrialSeededTPE
from medtrain.tune.storage_errors import unusable
from medtrain.tune.trial_runs import discard_trial_files, trained_run  # discard_trial_files: also here, where it was

STUDY_FILE = "study.db"
TRIALS_DIR = "trials"
#: Consecutive failed trials after which a search with --trials stops (each failed one is retried, not counted).
MAX_FAILED_IN_A_ROW = 10
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
#: Optuna's heartbeat (``RDBStorage(heartbeat_interval=, grace_period=)``): a running trial records one every
#: HEARTBEAT_S seconds (one row update: ~1 ms of a trial's minutes), and is taken for dead, and failed, once
#: its last is GRACE_S seconds old (three beats missed: a busy machine or database delays one, not three).
HEARTBEAT_S = 10
GRACE_S = 30
DIRECTIONS = {"val_auc": "maximize", "val_acc": "maximize", "val_loss": "minimize"}

optuna.logging.set_verbosity(optuna.logging.ERROR)  # medtrain prints one line per trial (failed ones too)


def counted(n: int, noun: str = "finished trial", plural: str | None = None) -> str:
    """``1 finished trial``, ``3 finished trials`` (the log had said "1 finished trials are kept")."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def default_storage(out: str | Path) -> str:
    """``sqlite:///OUT/study.db`` (absolute, so the URL means the same file from any working directory)."""
    return f"sqlite:///{(Path(out) / STUDY_FILE).resolve()}"


def check_study_name(name: str) -> None:
    """``--study-name`` names a folder of trial runs too: letters, digits, ``.``, ``_`` and ``-`` only."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise MedtrainError(f"--study-name must be letters, digits, '.', '_' or '-' (it names the folder of the "
                            f"study's trials), got {name!r}")


def trials_dir(out: str | Path, study_name: str, default: str) -> Path:
    """The folder of a study's trial runs: ``OUT/trials`` for the command's default study (the layout of
    earlier versions, so their studies continue), ``OUT/trials-NAME`` for any other, so two studies in one
    output folder never share (and silently reuse) each other's ``NNN`` run directories."""
    return Path(out) / (TRIALS_DIR if study_name == default else f"{TRIALS_DIR}-{study_name}")


def reports_dir(out: str | Path, study_name: str, default: str) -> Path:
    """Where a study's reports go (best config, trials table, plots): ``OUT`` for the command's default study,
    its own trials folder for any other, so studies sharing ``OUT`` keep their own."""
    return Path(out) if study_name == default else trials_dir(out, study_name, default)


def check_limits(trials: int | None, budget_minutes: float | None) -> None:
    """``--trials`` and ``--budget``: at least one, each positive."""
    if trials is None and budget_minutes is None:
        raise MedtrainError("give --trials N and/or --budget MINUTES (when to stop the search)")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise MedtrainError(f"--trials must be an integer >= 1, got {trials!r}")
    if budget_minutes is not None and not (isinstance(budget_minutes, (int, float)) and budget_minutes > 0
                                           and math.isfinite(budget_minutes)):
        raise MedtrainError(f"--budget must be a number of minutes > 0, got {budget_minutes!r}")


def connect(url: str) -> optuna.storages.RDBStorage:
    """Open (and create the tables of) the study database at SQLAlchemy ``url``.

    Raises:
        MedtrainError: the database cannot be reached or the URL is not one SQLAlchemy can use.
    """
    try:
        with warnings.catch_warnings():  # Optuna marks its heartbeat arguments experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                              heartbeat_stale_trial_callback=_stale_trial_failed)
    except Exception as e:  # noqa: BLE001  (SQLAlchemy and each database driver raise their own error types)
        raise unusable(url, "open", e) from None


def study_exists(url: str, name: str) -> bool:
    """Whether the database at ``url`` holds study ``name``, read without writing anything (Optuna's
    ``get_all_study_names``, as :func:`connect`, creates a missing SQLite file and an empty database's tables):
    a missing SQLite file or a database without Optuna's ``studies`` table holds none. Raises MedtrainError, one
    line, where it cannot be read (a file that is not a database, a server not reached, a driver not installed)."""
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.engine import make_url

    try:
        u = make_url(url)
        if u.get_backend_name() == "sqlite" and not (u.database not in (None, "", ":memory:")
                                                     and Path(u.database).is_file()):
            return False
        engine = create_engine(u)
        try:
            with engine.connect() as conn:
                return inspect(conn).has_table("studies") and conn.execute(
                    text("SELECT 1 FROM studies WHERE study_name = :name"), {"name": name}).first() is not None
        finally:
            engine.dispose()
    except Exception as e:  # noqa: BLE001  (as in connect)
        raise unusable(url, "read", e) from None


def _stale_trial_failed(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Optuna's ``heartbeat_stale_trial_callback``: a trial whose process died (its heartbeat stopped) was just
    marked failed; its unfinished files go, as those of a trial stopped by Ctrl-C do."""
    discard_trial_files(trial)


def fail_stale_trials(study: optuna.Study) -> None:
    """Mark failed the running trials of ``study`` whose heartbeat stopped (:data:`GRACE_S`), removing their unfinished
    folders. ``study.optimize`` does it before each trial; a run does it too when it opens a study and before it lists
    the trials, so a rerun that trains nothing (or little) does not count or list a dead trial as running."""
    with warnings.catch_warnings():  # Optuna marks fail_stale_trials experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    # Optuna's rule fails trials whose heartbeat stopped; a process killed between creating a trial and its first
    # heartbeat (an older medtrain's Ctrl-C there, a kill -9) left one with none, RUNNING forever. Every trial draws
    # its values within milliseconds of its creation: one without any, older than the grace period, never ran.
    now = datetime.datetime.now()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not t.params and t.datetime_start is not None and (now - t.datetime_start).total_seconds() > GRACE_S:
            study.tell(t.number, state=TrialState.FAIL)  # its reason on the study (a trial's own attributes are set
            # only through its live Trial, or the storage's private setter, which had written it): :func:`failed_why`
            study.set_user_attr(NEVER_BEGAN_ATTR, sorted({*study.user_attrs.get(NEVER_BEGAN_ATTR, ()), t.number}))


#: why a trial :func:`fail_stale_trials` failed: it never ran; the study's attribute listing such trials' numbers
NEVER_BEGAN, NEVER_BEGAN_ATTR = "interrupted before it began", "trials_never_began"


def failed_why(trial: optuna.trial.FrozenTrial, study: optuna.Study) -> str | None:
    """Why the failed ``trial`` of ``study`` failed: the reason its run recorded (``failed``), or :data:`NEVER_BEGAN`
    where :func:`fail_stale_trials` failed it (a trial failed otherwise before drawing a value is not said to be)."""
    never = trial.number in study.user_attrs.get(NEVER_BEGAN_ATTR, ())
    return trial.user_attrs.get("failed") or (NEVER_BEGAN if never else None)


def running_note(study: optuna.Study) -> str | None:
    """A line on the trials of ``study`` still running once its dead trials are failed (or None): trials of
    another worker, or of a process that died less than :data:`GRACE_S` seconds after its last heartbeat (a
    rerun right after ``kill -9``), which a later run fails."""
    running = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
    if not running:
        return None
    return (f"{len(running)} trial(s) running ({', '.join(f'#{n}' for n in running)}): elsewhere, or killed "
            f"less than {GRACE_S} s ago; a run that finds them {GRACE_S} s without a heartbeat marks them failed")


def open_study(storage, name: str, monitor: str, seed: int, settings: dict) -> optuna.Study:
    """Create study ``name`` in ``storage``, or load it to continue.

    ``settings`` (the search space and the fixed settings, JSON-able) are stored with a new study; a study
    that was started with other settings is refused rather than mixed with them.
    """
    study = optuna.create_study(storage=storage, study_name=name, direction=DIRECTIONS[monitor],
                                load_if_exists=True, pruner=optuna.pruners.MedianPruner(n_startup_trials=4,
                                                                                        n_warmup_steps=1))
    saved = study.user_attrs.get("medtrain")
    if saved is None:
        study.set_user_attr("medtrain", settings)
    else:
        diff = _differences(saved, settings)
        if diff:
            raise MedtrainError(f"study {name!r} in this storage was started with other settings "
                                f"({'; '.join(diff[:3])}); use another --study-name or output folder")
    fail_stale_trials(study)  # a trial whose process was killed is failed, not counted or listed as running
    study.sampler = TrialSeededTPE(seed)
    return study


def _differences(saved: dict, settings: dict) -> list[str]:
    """``"key: then, now"`` for each setting of a study that changed, naming the settings of ``base`` and
    ``space`` one by one. A setting a later medtrain added at its default (absent from the saved study) is no
    difference: the study was run with that default (an update otherwise stopped every study continuing). Nor
    is a setting the study recorded that the current medtrain no longer records at all (absent from
    ``settings``, as ``store`` once it became resumable: a study an older medtrain started had been refused,
    "base store: 'auto', now None"); a recorded setting whose value is now None is still compared."""
    defaults = Config().to_dict()
    out = []
    for part in sorted(set(saved) | set(settings)):
        if part not in settings:
            continue
        was, now = saved.get(part), settings[part]
        if isinstance(was, dict) and isinstance(now, dict):
            for k in sorted(set(was) | set(now)):
                # ``base`` records every setting but the resumable ones: a key absent now is one no longer
                # recorded. ``space`` records only the user's parameters: one absent now was removed, a change.
                if part == "base" and (k not in now or (k not in was and now[k] == defaults.get(k))):
                    continue
                if was.get(k) != now.get(k):
                    out.append(f"{part} {k}: {was.get(k)!r}, now {now.get(k)!r}")
        elif was != now:
            out.append(f"{part}: {was!r}, now {now!r}")
    return out


def repeat_of(study: optuna.Study, trial: optuna.Trial):
    """A completed trial of ``study`` with exactly ``trial``'s parameters, or None."""
    return next((t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                 if t.number != trial.number and t.params == trial.params), None)


def score_of_repeat(study: optuna.Study, trial: optuna.Trial) -> float | None:
    """The score of the completed trial whose parameters ``trial`` drew again (:func:`repeat_of`), recorded in
    ``trial`` as its ``repeat_of`` and ``run_dir``, or None when it is no repeat: an objective returns that score
    rather than train the same setting twice. Call it before the trial writes anything of its own."""
    same = repeat_of(study, trial)
    if same is None:
        return None
    trial.set_user_attr("repeat_of", same.number)
    trial.set_user_attr("run_dir", same.user_attrs.get("run_dir", ""))
    return same.value


def finished_trials(study: optuna.Study) -> list:
    return [t for t in study.get_trials(deepcopy=False) if t.state in FINISHED]


def train_trial(trial: optuna.Trial, cfg: Config, deadline: float | None = None) -> float:
    """Train (or reuse) the run ``cfg`` describes as trial ``trial``, without its test split, reporting
    ``cfg.monitor`` after every epoch so the pruner can stop it; return its validation score. ``deadline``: the
    search's budget, a ``time.monotonic()`` time (the :class:`~medtrain.tune.pruning.Budget`'s ``deadline``, the one
    :func:`run_study` is given, handed by the objective; None: none). A trial the deadline stopped
    (:mod:`medtrain.tune.pruning`) keeps its finished run and is pruned, user attribute ``pruned: budget``, its
    Optuna value the last it reported (Optuna's rule for a pruned trial), and its run's score in user attribute
    ``score`` (:data:`~medtrain.tune.pruning.SCORE_ATTR`), by which it is ranked and reported."""
    from medtrain.tune.pruning import PyTorchLightningPruningCallback  # Optuna's, never pruning the last epoch

    # absolute: a rerun from another working directory must still find the run (finish reads its metrics)
    trial.set_user_attr("run_dir", os.path.abspath(cfg.out))
    pruning = PyTorchLightningPruningCallback(trial, monitor=cfg.monitor, deadline=deadline)
    result = trained_run(trial, cfg, [pruning])  # Ctrl-C or an error: the trial's unfinished files removed, raised
    if result is None:  # diverged (e.g. a sampled lr too high for its network): this trial fails, the search goes on
        return float("nan")  # Optuna records a NaN objective as a failed trial
    if pruning.cut_after is not None:
        trial.set_user_attr(CUT_ATTR, CUT)
        trial.set_user_attr(SCORE_ATTR, score_of(result, cfg.monitor))  # what it is ranked and reported by
        raise optuna.TrialPruned(f"the search's budget ran out; stopped after epoch {pruning.cut_after + 1}")
    return score_of(result, cfg.monitor)


def run_study(study: optuna.Study, objective: Callable[[optuna.Trial], float], trials: int | None,
              budget_minutes: float | None = None, log: Callable[[str], None] = print, started: float | None = None,
              *, budget: Budget | None = None, progress: bool = True) -> dict:
    """Run trials until the study holds ``trials`` finished (complete or pruned) ones, or the budget ends,
    whichever comes first. One line per finished trial, and one on the budget.

    ``budget``: the search's :class:`~medtrain.tune.pruning.Budget` (see the module), built once by the caller,
    whose ``objective`` hands its ``deadline`` to :func:`train_trial` so that a trial training past it stops: the
    one deadline the trials and the study's stop see. Or ``budget_minutes`` (not both), from which the Budget is
    built here, from ``started`` (``time.monotonic()``, default now), for an objective that needs no deadline.
    Trials are timed on that clock. ``progress``: the study's bar of finished trials (drawn on a terminal only);
    False (``--no-progress``) draws none.

    A failed trial (e.g. a diverged one) does not count: another is run in its place, until
    :data:`MAX_FAILED_IN_A_ROW` (or ``trials``, if fewer) fail in a row, which stops the search with a line
    saying so. Workers sharing a study each stop when they see ``trials`` finished, so together they may
    finish a few more. Ctrl-C marks the running trial failed and re-raises; every finished trial stays.

    Returns:
        where a budget was given, how it was spent: ``budget_s``, ``used_s`` (from ``started`` to the last
        trial's end), ``cut`` (the trials of this run the deadline stopped) and ``stopped`` (why no further
        trial started, or None); else ``{}``.
    """
    if budget is not None and (budget_minutes is not None or started is not None):
        raise TypeError("run_study: give budget, or budget_minutes and started, not both")
    check_limits(trials, budget_minutes if budget is None else budget.minutes)
    before = len(finished_trials(study))
    if trials is not None and trials - before <= 0:
        log(f"the study already holds {counted(before)} (--trials {trials}); nothing to run")
        return {}
    t0 = time.monotonic()
    metric = study.user_attrs.get("medtrain", {}).get("monitor", "value")
    failed = _FailureGuard(min(trials or MAX_FAILED_IN_A_ROW, MAX_FAILED_IN_A_ROW), log)
    if budget is None:
        budget = Budget.of(budget_minutes, t0 if started is None else started, trials)

    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        done = len(finished_trials(study))
        elapsed = time.monotonic() - t0
        ran = max(1, done - before)
        # clamped: workers sharing a study may finish more than --trials together (a negative ETA was printed)
        eta = [elapsed / ran * max(0, trials - done)] if trials is not None else []
        if budget is not None:
            eta.append(max(0.0, budget.left()))
        if trial.state in FINISHED:
            bar.advance()
        # beyond --trials only in a shared study, whose workers together finish a few more ("trial 5/4" had said it)
        count = (f"{done}/{trials if trials is not None else '?'}" if trials is None or done <= trials else
                 f"{done} ({trials} asked; workers sharing the study finish a few more)")
        (bar.write if log is print else log)(
            f"trial {count} #{trial.number}: {_outcome(trial, metric)}; "
            f"{_best(study)}; elapsed {_clock(elapsed)}, ETA {_clock(min(eta)) if eta else '-'}")

    gate = InterruptGate()  # Ctrl-C held while Optuna books a trial (created, told): none is left half-booked
    callbacks = [gate.after_tell, report, failed]
    if trials is not None:  # counts every machine's finished trials in a shared study
        callbacks.append(optuna.study.MaxTrialsCallback(trials, states=FINISHED))
    if budget is not None:
        callbacks.append(budget)
    callbacks.append(gate.after_tell)  # (and last: a signal held while the callbacks above ran)
    # The overall bar (drawn on a terminal only) counts the study's finished trials; lines go above it.
    with Overall(trials, "tune", done=before, enabled=progress) as bar, gate:
        # No n_trials: it would count failed trials, and --trials N promises N finished ones. With --trials,
        # MaxTrialsCallback stops the study; the failure guard stops a study whose every trial fails; the
        # budget stops starting trials (no Optuna timeout: it started a trial at any time before it).
        try:
            study.optimize(gate.objective(objective if budget is None else budget.timed(objective)),
                           callbacks=callbacks)
        except (AssertionError, optuna.exceptions.StorageInternalError):
            if not gate.signalled:
                raise
            # the interrupt cut a storage write inside the objective and Optuna's own tell of FAIL met its lock
            # ("Should not reach."): the interrupt, said as one; the trial's heartbeat stops, the next run fails it
            raise KeyboardInterrupt from None
    if budget is None:
        return {}
    spent = budget.spent()
    log(f"budget: {budget_said(spent)}")
    return spent


class _FailureGuard:
    """An Optuna callback that stops the study after ``limit`` failed trials in a row (a space or settings
    whose every trial diverges would otherwise retry forever)."""

    def __init__(self, limit: int, log: Callable[[str], None]):
        self.limit, self.log, self.in_a_row = limit, log, 0

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.in_a_row = self.in_a_row + 1 if trial.state == TrialState.FAIL else 0
        if self.in_a_row >= self.limit:
            self.log(f"{self.in_a_row} trials in a row failed; stopping the search with "
                     f"{counted(len(finished_trials(study)))} (check the space and the settings)")
            study.stop()


def _outcome(trial: optuna.trial.FrozenTrial, metric: str) -> str:
    """``val_auc 0.8123``, ``failed (why)`` or ``... (pruned after epoch E)``: a trial's line in the log."""
    value = "failed" if trial.value is None else f"{metric} {value_of(trial):.4f}"
    if trial.value is None and trial.user_attrs.get("failed"):
        value += f" ({trial.user_attrs['failed']})"
    if trial.state == TrialState.PRUNED and trial.user_attrs.get(CUT_STORY_ATTR):  # a trial of several seeds
        value += f" (pruned by the budget: {trial.user_attrs[CUT_STORY_ATTR]})"  # (last_step: its first seed's)
    elif trial.state == TrialState.PRUNED:
        by = " by the budget" if trial.user_attrs.get(CUT_ATTR) == CUT else ""
        value += f" (pruned{by} after epoch {trial.last_step + 1})" if trial.last_step is not None else f" (pruned{by})"
    return value


def _best(study: optuna.Study) -> str:
    try:
        return f"best {study.best_value:.4f} (#{study.best_trial.number})"
    except ValueError:  # no complete trial yet
        return "best -"
