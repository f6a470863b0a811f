"""Ctrl-C (or SIGTERM) held while Optuna books a trial, so that an interrupted search leaves no trial half-booked.

``study.optimize`` creates each trial in the storage (``study.ask``), starts its heartbeat, runs the objective,
then stores its result (``tell``). An interrupt inside the objective is Optuna's to handle: it fails the trial and
raises again. One that landed in the bookkeeping around it was not (a walk, 3 of 3 tries at +0.02-0.05 s after a
trial's line): a trial created but not yet running its objective stayed RUNNING without a heartbeat, so no later
run ever failed it ("1 trial(s) running", forever, in every rerun's note and in trials.csv); one whose ``tell``
was cut could leave Optuna's own ``tell`` of FAIL waiting on the storage's lock, then ``AssertionError: Should not
reach.``, a traceback and exit 1.

:class:`InterruptGate` holds the signal while the bookkeeping runs and raises it at the next safe point: the
start of the objective (the trial then fails as any interrupted trial does, user attribute ``failed:
interrupted``) or a callback after ``tell`` (the trial is booked as it ended). A second signal while one is held
acts at once (a storage that does not answer must not hold Ctrl-C for ever). Only Python-level handlers
are wrapped (Ctrl-C's ``KeyboardInterrupt``, the command line's SIGTERM-as-Ctrl-C); a signal left at the
system's default keeps it. Signals can only be handled in the main thread: elsewhere the gate does nothing.
Optuna has no hook for this (its ``optimize`` catches an interrupt only inside the objective), hence by hand.
"""
from __future__ import annotations

import signal
import threading
from typing import Callable

import optuna


class InterruptGate:
    """Holds Ctrl-C and SIGTERM outside the objective of a ``study.optimize`` it wraps::

        with InterruptGate() as gate:
            study.optimize(gate.objective(objective), callbacks=[gate.after_tell, ...])
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.held = False  # a signal came while the bookkeeping ran
        self.signalled = False  # a signal came at all (what a storage error after it is the effect of)
        self._open = False  # inside the objective: signals act at once
        self._previous: dict = {}

    def __enter__(self) -> "InterruptGate":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                previous = signal.getsignal(sig)
                if callable(previous):
                    self._previous[sig] = previous
                    signal.signal(sig, self._handler(previous))
        return self

    def __exit__(self, kind, error, tb) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        if self.held and kind is None:  # held past the last trial's bookkeeping: raised now
            self.held = False
            raise KeyboardInterrupt

    def _handler(self, previous: Callable) -> Callable:
        def handle(signum, frame):
            self.signalled = True
            if self._open or self.held:  # a second Ctrl-C while one is held: at once (a storage that hangs)
                return previous(signum, frame)
            self.held = True
        return handle

    def objective(self, objective: Callable[[optuna.Trial], float]) -> Callable[[optuna.Trial], float]:
        """``objective``, run with signals acting at once; one held since the trial was created fails it here."""
        def run(trial: optuna.Trial) -> float:
            if self.held:
                self.held = False
                trial.set_user_attr("failed", "interrupted")  # as trial_runs.trained_run says an interrupted trial
                raise KeyboardInterrupt
            self._open = True
            try:
                return objective(trial)
            finally:
                self._open = False
        return run

    def after_tell(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """An Optuna callback, first and last of the study's: a signal held while the trial's result was stored (or
        while the other callbacks ran) is raised now, the trial booked, before another trial is created."""
        if self.held:
            self.held = False
            raise KeyboardInterrupt
