"""The projected time of a long run: one line early in its first epoch where the training steps still to come
would take more than 10 minutes (:class:`RunEstimate`; added by :func:`medtrain.api.train` and the flip pilots of
:mod:`medtrain.training.choices`)."""
from __future__ import annotations

import sys
import time

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping


class RunEstimate(pl.Callback):
    """One line, early in the first epoch a fit trains, where the training steps still to come are projected to
    take more than ``limit_s`` (10 minutes) in all; quiet otherwise, and in every process but the first. A default
    run on 300 RGB images of 224 px had run past 10 minutes with nothing said but its header.

    Projected once, after ``min_batches`` batches and ``min_s`` seconds, or at the epoch's last batch if that comes
    sooner (a 224-px batch of 64 takes ~30 s on the 2-core CPU): the mean seconds of the later half of the
    batches after the first (which holds the warm-up) times the batches left in this epoch and in the epochs after
    it (validation comes on top); where early stopping is on, the epochs are at most. On a shared CPU a batch's time
    swings 10-90x with the other load (0.06 s alone; 0.4-5.6 s beside 3 busy processes), and a run's first seconds
    had run slowest: the mean of batches 2-3 within the first 10 s had projected 24, 19 and 40 min for runs of
    10.5, 8.7 and 6.5 min. Half a minute of batches, and the later half of them, are the steadier pace.
    ``what`` names what trains, ``runs`` how many fits of this length it is (the two flip pilots share one instance,
    which projects both from the first and says it once), ``way_on`` how to shorten it (default: a smaller --model or
    fewer --epochs, after ``smaller``, the way to smaller images the data allow: :func:`~medtrain.training.fit.
    smaller_images`; --image-size had been said for data that refuse it). ``clock``: seconds."""

    def __init__(self, what: str = "the run", runs: int = 1, way_on: str | None = None, smaller: str | None = None,
                 limit_s: float = 600.0, min_batches: int = 2, min_s: float = 30.0, clock=time.perf_counter):
        way_on = way_on or f"{smaller + ', ' if smaller else ''}a smaller --model or fewer --epochs shortens it"
        self.what, self.runs, self.way_on, self.limit_s = what, runs, way_on, limit_s
        self.min_batches, self.min_s, self.clock = min_batches, min_s, clock
        self.done, self.started, self.ends = False, None, []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if not self.done:
            self.started, self.ends = self.clock(), []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.done or self.started is None:
            return
        now, n, per_epoch = self.clock(), batch_idx + 1, trainer.num_training_batches
        self.ends.append(now)
        if not (n >= self.min_batches and now - self.started >= self.min_s or n >= per_epoch):
            return
        self.done = True  # once, whatever it finds
        if not trainer.is_global_zero or not 0 < per_epoch < float("inf") or not (trainer.max_epochs or 0) > 0:
            return
        step = _steady_step(self.ends) if len(self.ends) > 1 else now - self.started
        epochs = trainer.max_epochs - trainer.current_epoch
        total = now - self.started + step * (epochs * per_epoch - n + (self.runs - 1) * trainer.max_epochs * per_epoch)
        if total <= self.limit_s:
            return
        most = "at most " if any(isinstance(c, EarlyStopping) for c in trainer.callbacks) else ""
        times = f", {self.runs} times" if self.runs > 1 else ""
        line = (f"medtrain: note: projected from its first {_count(n, 'batch')} ({step:.2f} s each), the training "
                f"steps of {self.what} ({most}{_count(epochs, 'epoch')} of {_count(per_epoch, 'batch')}{times}) take "
                f"about {_duration(total)} in all, validation on top; {self.way_on}")
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)  # above the epoch bar, where one is drawn (a plain line otherwise)
        sys.stderr.flush()


def _steady_step(ends: list[float]) -> float:
    """Seconds per batch at the steady pace: the mean of the later half of the batches after the first (a mean:
    the stalls a shared CPU gives recur, and a median had said 0.20 s for 1.7 s a batch), from the times ``ends``
    at which the epoch's batches ended (two at least)."""
    mid = (len(ends) - 1) // 2
    return (ends[-1] - ends[mid]) / (len(ends) - 1 - mid)


def _count(n: int, word: str) -> str:
    """``1 epoch``, ``30 epochs``, ``3 batches``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}{'es' if word == 'batch' else 's'}"


def _duration(seconds: float) -> str:
    """``12 min``, ``1 h 05 min``."""
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
