"""``precision: auto``'s fallback to float32, and the warning of a run that finished with skipped steps.

``auto`` trains in ``bf16-mixed`` where bfloat16 is native (:func:`~medtrain.training.build.trainer_precision`).
A step whose gradients are not finite is skipped (:class:`~medtrain.training.callbacks.SkipNonFiniteSteps`); a few
such steps cost nothing, but a fresh 3D network on small volumes can get them on most steps (measured on the 2-core
CPU: 11 of 15 steps of a 16^3 CT run, probabilities 0.497-0.502 at its end, where float32 skipped none). Under
``auto``, a training whose first epoch skips more than :data:`FALLBACK_SHARE` of its steps is stopped there, before
its validation and its first checkpoint (:class:`PrecisionWatch` raises :class:`Bf16Unstable`), and
:func:`medtrain.training.fit.fit` trains it again from scratch in float32, said in one line
(:class:`PrecisionFallback`) and recorded in ``metrics.json`` (``precision``, ``precision_fallback``). A flip
pilot's fallback holds for the other pilot and the run too (:func:`medtrain.training.choices.decide_flip`), said
once. A pinned ``--precision bf16-mixed`` never falls back; like any run that finished with skipped steps, it
warns (:class:`SkippedSteps`, :func:`warn_skipped`).
"""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch

from medtrain import rundir
from medtrain.config import Config
from medtrain.training.build import default_members

#: Share of the first epoch's optimiser steps that, skipped under auto's bf16, makes the run train in float32.
FALLBACK_SHARE = 0.5
FLOAT32 = "32-true"


class PrecisionFallback(UserWarning):
    """``precision: auto`` gave up bf16 for float32 (one line: what was skipped, where)."""


class SkippedSteps(UserWarning):
    """A finished run skipped optimiser steps whose gradients were not finite."""


class Bf16Unstable(Exception):
    """Raised by :class:`PrecisionWatch` inside Lightning's loop, caught where the Trainer is built
    (:func:`medtrain.training.fit.fit`), which trains the run again in float32. ``record``: what
    ``metrics.json`` keeps under ``precision_fallback``."""

    def __init__(self, record: dict):
        super().__init__(fallback_line(record))
        self.record = record


def fallback_line(record: dict) -> str:
    """The one line said of a fallback: ``bf16-mixed skipped 11 of 15 steps of epoch 1 ...: trained again in
    float32``."""
    where = " of a flip pilot" if record.get("in") == "flip pilot" else ""
    again = "the pilots and the run train in float32" if where else "trained again in float32"
    return (f"{record['from']} skipped {record['skipped']} of {record['steps']} optimiser steps of epoch 1{where} "
            f"(gradients not finite, more than {FALLBACK_SHARE:.0%}): {again} (32-true, slower); "
            f"--precision {record['from']} keeps it")


class PrecisionWatch(pl.Callback):
    """Stops a training under auto's bf16 (``watch``) at the end of its first epoch's steps when more than
    :data:`FALLBACK_SHARE` of them were skipped (``skip``: the run's
    :class:`~medtrain.training.callbacks.SkipNonFiniteSteps`), raising :class:`Bf16Unstable` before the epoch's
    validation and checkpoint (``on_train_epoch_end`` where no validation runs; Lightning calls checkpoint callbacks
    last). One process only: a multi-process run warns at its end instead. Its ``state_dict`` (the checkpoints')
    holds ``record``, a fallback the run trains under, so that ``--resume`` goes on in float32
    (:func:`recorded_fallback`)."""

    def __init__(self, skip, precision: str, watch: bool, record: dict | None = None, pilot: bool = False):
        self.skip, self.precision, self.watch, self.record, self.pilot = skip, precision, watch, record, pilot
        self.checked = False

    def _check(self, trainer) -> None:
        if self.checked or not self.watch or trainer.sanity_checking or trainer.current_epoch != 0:
            return
        self.checked = True
        steps = int(trainer.global_step)
        if trainer.world_size == 1 and steps and self.skip.skipped > FALLBACK_SHARE * steps:
            raise Bf16Unstable({"precision": FLOAT32, "from": self.precision, "skipped": self.skip.skipped,
                                "steps": steps, "epoch": 1, "in": "flip pilot" if self.pilot else "run"})

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._check(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._check(trainer)

    def state_dict(self) -> dict:
        return dict(self.record or {})

    def load_state_dict(self, state_dict: dict) -> None:
        pass  # read before the Trainer is built (recorded_fallback): the precision is the Trainer's


def recorded_fallback(last: Path) -> dict | None:
    """The fallback a run's ``last.ckpt`` was trained under (:class:`PrecisionWatch`'s state), or None."""
    try:
        state = torch.load(last, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001  (fit's own check refuses a damaged checkpoint in one line)
        return None
    record = (state.get("callbacks") or {}).get(PrecisionWatch.__qualname__) or {}
    return dict(record) if record.get("precision") else None


def float32_config(cfg: Config, spatial_dims: int, members_auto: bool, run_dir: Path) -> Config:
    """``cfg`` as a run that falls back trains it: ``members: auto`` (``members_auto``) follows the float32 rule
    (:func:`~medtrain.training.build.default_members`: two networks only in bf16). Where that changes the run's
    network, the run folder's ``config.yaml`` (a run's, not a pilot's) is written again at once, so that
    ``--resume`` and a finished run's loaders rebuild the network trained. ``precision`` stays as asked (auto): the
    same command given again is the same run."""
    if not members_auto:
        return cfg
    members = default_members(dataclasses.replace(cfg, precision=FLOAT32), spatial_dims)
    if members == cfg.members:
        return cfg
    cfg = dataclasses.replace(cfg, members=members)
    if rundir.is_run(run_dir):  # its own settings (the flips asked, not the flip choice made) with this one changed
        rundir.write_config(run_dir, dataclasses.replace(rundir.load_config(run_dir), members=members))
    return cfg


def warn_skipped(skipped: int, steps: int, precision: str) -> None:
    """The warning of a finished run that skipped optimiser steps (a run none of whose steps was taken is refused
    instead), naming the way on."""
    way = "lower --lr" if precision == FLOAT32 else "train in float32 with --precision 32-true"
    warnings.warn(SkippedSteps(f"{skipped} of {steps} optimiser step(s) skipped: their gradients were not finite "
                               f"({precision}); the run trained on the others; {way}"), stacklevel=3)
