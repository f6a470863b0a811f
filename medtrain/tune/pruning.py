"""The pruning callback of every medtrain trial: Optuna's Lightning callback (the trial's monitored validation
value reported after each epoch, the trial stopped when the study's pruner says so), except at the trial's last
epoch, which is reported but never pruned.

Pruning saves the epochs a poor trial would still train; at the last one nothing is left to save. Optuna's
callback prunes there all the same: a ``MedianPruner(n_warmup_steps=1)`` study of ``--epochs 2`` paid every
trial's full training, pruned the weak ones "after epoch 2", deleted their finished run folders and recorded the
pruner's per-epoch value for them instead of their run's validation score. A trial that reaches its last epoch
(or an epoch after which training stops anyway, e.g. by early stopping) completes and is ranked by its run's
``metrics.json`` score like every other (:func:`score_of`).

The search's budget lives here too. A search with ``--budget`` gives the callback its deadline (a
``time.monotonic()`` time: :attr:`Budget.deadline` of the search's one :class:`Budget`, which its command builds and
hands to :func:`medtrain.tune.study.run_study`, and whose deadline each objective hands explicitly to
:func:`medtrain.tune.study.train_trial`): a trial still training when it passes stops at the end of that epoch
(``trainer.should_stop``, as early stopping stops a run: the run finishes with the epochs it trained; the pruner
decides first, and a trial it prunes there is pruned as any other), and ``cut_after`` names the epoch, for
:func:`medtrain.tune.study.train_trial` to record the trial pruned, :data:`CUT_ATTR` ``budget``. :class:`Budget`
starts no trial expected to end after the deadline, and :func:`best_trial` ranks a cut trial only where none
completed, by its run's score (:func:`score_of`, what every trial is ranked by: :func:`value_of`)."""
from __future__ import annotations

import math
import time

import optuna
from lightning.pytorch.callbacks import Callback
from optuna.trial import TrialState
from optuna_integration import PyTorchLightningPruningCallback as _OptunaCallback

from medtrain.errors import MedtrainError

#: The user attribute of a trial pruned by the search's budget, and its value (``trials.csv``'s ``why`` column).
CUT_ATTR, CUT = "pruned", "budget"
#: The user attribute holding a budget-cut trial's score: its run's validation score
#: (:func:`score_of`: after TTA and the class-weight rule, at the kept checkpoint), by which it
#: is ranked and reported (its Optuna value is the last the pruner saw, an epoch's number before those choices).
SCORE_ATTR = "score"
#: The user attribute of a trial of several seeds (``augment search --seeds K``) the budget cut: which seed it
#: stopped after which epoch, which it never started, and how many seeds its score is the mean of
#: (:func:`medtrain.tune.trial_runs.cut_story`). The log line, ``trials.md``'s ``why`` and a policy's comment
#: say it: the trial's ``last_step`` counts its first seed's epochs only (the one reported to the pruner).
CUT_STORY_ATTR = "budget_cut"


class PyTorchLightningPruningCallback(_OptunaCallback):
    """Optuna's ``PyTorchLightningPruningCallback`` (the name kept: it is that callback, one rule added): the
    trial's last epoch reports its value and is not pruned. medtrain's trials train in one process
    (:func:`medtrain.training.distributed.single_process_only`), whose branch of Optuna's callback this is.
    ``deadline``: the search's budget as a ``time.monotonic()`` time (None: none), see the module."""

    def __init__(self, trial, monitor: str, deadline: float | None = None):
        super().__init__(trial, monitor)
        self._stop = DeadlineStop(deadline)

    @property
    def deadline(self) -> float | None:
        return self._stop.deadline

    @property
    def cut_after(self) -> int | None:
        """The epoch after which the deadline stopped the training, if it did."""
        return self._stop.cut_after

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking and not self.is_ddp_backend and last_epoch(trainer, pl_module):
            value = trainer.callback_metrics.get(self.monitor)
            if value is not None:  # (a missing value: Optuna's callback warns, as on any other epoch)
                self._trial.report(value.item(), step=pl_module.current_epoch)
                return
        super().on_validation_end(trainer, pl_module)  # reports the value; raises TrialPruned if the pruner says so
        self._stop.on_validation_end(trainer, pl_module)  # the pruner decided first: then the deadline


class DeadlineStop(Callback):
    """The search's budget's stop rule, its one owner: stops a training at the end of the epoch during which
    ``deadline`` (a ``time.monotonic()`` time; None: never) passed, never at its last epoch (:func:`last_epoch`);
    ``cut_after``: that epoch. The pruning callback applies it to a trial's first seed (after the pruner), and
    :func:`medtrain.tune.trial_runs.mean_over_repeats` alone to its later seeds, which train without the pruner."""

    def __init__(self, deadline: float | None):
        self.deadline, self.cut_after = deadline, None

    def on_validation_end(self, trainer, pl_module) -> None:
        if (not trainer.sanity_checking and self.deadline is not None and time.monotonic() >= self.deadline
                and not last_epoch(trainer, pl_module)):
            trainer.should_stop = True
            self.cut_after = int(pl_module.current_epoch)


def last_epoch(trainer, pl_module) -> bool:
    """Whether the epoch just validated is the last this training runs: its ``max_epochs``-th, or one after
    which it stops anyway (``trainer.should_stop``: early stopping decided before this callback)."""
    final = trainer.max_epochs is not None and trainer.max_epochs >= 0 \
        and pl_module.current_epoch >= trainer.max_epochs - 1
    return bool(final or trainer.should_stop)


def clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def budget_said(spent: dict) -> str:
    """``used 0m52s of 0m45s (from the start: flip pilots and trials); trial #3 cut by it; ...`` (one line)."""
    used, total = spent["used_s"], spent["budget_s"]
    parts = [f"used {clock(used)} of {clock(total)} (from the start: flip pilots and trials)"]
    if spent["cut"]:
        parts.append(f"trial {', '.join(f'#{n}' for n in spent['cut'])} cut by it (stopped at an epoch's end, "
                     f"pruned)")
    if spent["stopped"]:
        parts.append(spent["stopped"])
    return "; ".join(parts)


def deadline_of(started: float, budget_minutes: float | None) -> float | None:
    """The search's deadline, a ``time.monotonic()`` time: ``started`` plus ``budget_minutes`` (None: no budget).
    Computed once, by :class:`Budget`, which holds it: the objectives hand :attr:`Budget.deadline` to
    :func:`medtrain.tune.study.train_trial` (``deadline=``), the value by which the Budget stops the study."""
    return None if budget_minutes is None else started + budget_minutes * 60


class Budget:
    """An Optuna callback that stops the study where the next trial is expected not to end by the deadline
    (:func:`deadline_of` ``started`` and ``minutes``, ``time.monotonic()``): its expected length is the longest trial
    this run completed (pruned ones where none completed: they stop early, so they are a floor; a repeat, which
    trains nothing, is not counted), and a trial ending at or after the deadline stops the study too. ``trials``: the
    study's ``--trials``, which, once reached, is why the search stops (the budget's line does not claim it).

    Trials are timed on the deadline's clock, ``time.monotonic()``, by the objective :meth:`timed` wraps (Optuna's
    wall-clock ``datetime_start``/``datetime_complete`` had timed them: two clocks for one comparison).

    The one owner of the search's deadline: a command builds its Budget once (:meth:`of`), hands it to
    :func:`medtrain.tune.study.run_study` and :attr:`deadline` to its trials (each command had derived the deadline
    again from the same start and minutes, a value that had to agree with this one)."""

    def __init__(self, minutes: float, started: float, trials: int | None = None):
        self.minutes, self.seconds, self.started, self.trials = minutes, minutes * 60, started, trials
        self.deadline: float = deadline_of(started, minutes)  # the value the objectives hand their trials
        self.ended = started
        self.ran: list[optuna.trial.FrozenTrial] = []
        self.took: dict[int, float] = {}  #: trial number -> seconds its objective ran, time.monotonic()
        self.stopped: str | None = None

    @classmethod
    def of(cls, minutes: float | None, started: float, trials: int | None = None) -> Budget | None:
        """The Budget of a search with ``--budget minutes`` from ``started``, or None where it has no budget."""
        return None if minutes is None else cls(minutes, started, trials)

    def timed(self, objective):
        """``objective`` timing each trial on ``time.monotonic()`` (into :attr:`took`), whatever it returns or
        raises (a pruned trial raises)."""
        def run(trial):
            t0 = time.monotonic()
            try:
                return objective(trial)
            finally:
                self.took[trial.number] = time.monotonic() - t0
        return run

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def expected(self) -> float:
        timed = [t for t in self.ran if t.number in self.took and "repeat_of" not in t.user_attrs]
        complete = [self.took[t.number] for t in timed if t.state == TrialState.COMPLETE]
        pruned = [self.took[t.number] for t in timed if t.state == TrialState.PRUNED]
        return max(complete or pruned or [0.0])

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.ran.append(trial)
        self.ended = time.monotonic()
        left, need = self.left(), self.expected()
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if self.trials is not None and len(finished) >= self.trials:
            return
        if left <= 0:
            self.stopped = "no time left for another trial"
        elif need > left:
            self.stopped = (f"no trial started after trial #{trial.number}: {clock(left)} left, and the longest "
                            f"trial of this run took {clock(need)}")
        if self.stopped:
            study.stop()

    def spent(self) -> dict:
        return {"budget_s": round(self.seconds, 1), "used_s": round(self.ended - self.started, 1),
                "cut": [t.number for t in self.ran if t.user_attrs.get(CUT_ATTR) == CUT], "stopped": self.stopped}


def score_of(result: dict, monitor: str) -> float:
    """The validation ``monitor`` value of the model a trial hands over: ``metrics.json``'s ``val`` block,
    measured after the run's choices on validation (class-weight rule, TTA) in float32, as ``compare`` ranks.
    The history entry of ``best_epoch`` (the number the pruner saw, before those choices and, in bf16, from
    rounded logits) had ranked a RetinaMNIST trial first at 0.733 whose saved model scores 0.713, below
    another's 0.761. A monitor the block lacks (``val_loss``) is read from that history entry."""
    val = (result.get("val") or {}).get(monitor.removeprefix("val_"))
    if isinstance(val, (int, float)) and math.isfinite(val):
        return float(val)
    for h in result.get("history") or []:
        if h.get("epoch") == result.get("best_epoch") and monitor in h:
            return float(h[monitor])
    raise MedtrainError(f"the trial's run holds no validation {monitor}")


def value_of(trial: optuna.trial.FrozenTrial) -> float | None:
    """The score a trial is ranked and reported by: a budget-cut trial's run score (:data:`SCORE_ATTR`; a study
    recorded before it was kept: its last reported value), else its Optuna value."""
    if trial.state == TrialState.PRUNED and trial.user_attrs.get(CUT_ATTR) == CUT:
        return trial.user_attrs.get(SCORE_ATTR, trial.value)
    return trial.value


def best_trial(study: optuna.Study) -> tuple[optuna.trial.FrozenTrial, bool]:
    """The study's best trial and whether it is one the budget cut: Optuna's best complete trial, or, where no
    trial completed, the best of those the budget cut (pruned, :data:`CUT_ATTR`) by their runs' scores
    (:func:`value_of`), runs finished with the epochs they trained. Raises ValueError where there is neither, as
    ``study.best_trial`` does."""
    try:
        return study.best_trial, False
    except ValueError:
        cut = [t for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
               if t.user_attrs.get(CUT_ATTR) == CUT and value_of(t) is not None]
        if not cut:
            raise
        pick = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
        return pick(cut, key=value_of), True
