"""A run folder's file names and its lowest readers.

They are defined here, at the bottom layer, because model sources (models.pretrained) and study reports
(reports.curves) read run directories too; medtrain.rundir (which with medtrain.runscores writes a run's files)
re-exports them with the layout's description.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from medtrain.errors import MedtrainError

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
WEIGHTS_FILE = "model.safetensors"
CHECKPOINT_DIR = "checkpoints"  #: an unfinished run's Lightning checkpoints (what --resume continues from)
#: Lightning's own checkpoints on SLURM's warning signal, in the run folder: an older medtrain's (its auto-requeue is
#: off now: training.fit.cluster_plugins), never read by --resume
HPC_CHECKPOINTS = "hpc_ckpt_*.ckpt"
FEATURES_FILE = "features.npz"  #: the linear probe's cached CNN codes
CHOICES_FILE = "choices.json"  #: written as a run starts: the flip choice (so --resume trains the same way), its format

#: The run format: what a run folder's saved settings and records mean. Raise it whenever a change makes an older
#: run's saved settings or records mean something else (a default or a rule that a recorded value, or its absence,
#: stood for; how a recorded setting is applied), and say here what the new number means. Every run records the
#: format of the medtrain that started it, under :data:`FORMAT_KEY`: in ``choices.json`` as it starts (what
#: ``--resume`` reads before ``metrics.json`` exists), in ``model.safetensors``'s metadata (a model handed on) and
#: in ``metrics.json``'s ``provenance``; a resumed run keeps the format it was started with. ``config.yaml`` holds no
#: such key (``medtrain train --config RUN/config.yaml`` takes it as settings).
#:
#: * 0: written by a medtrain from before the run format was recorded (before 2026-12-06), read as its own version
#:   meant it: a ``config.yaml`` without ``checkpoint`` (before 2026-12-03) kept the epoch of best ``monitor``
#:   (today's ``auto`` can keep the last); MC-dropout masks were drawn per batch where ``metrics.json`` has no
#:   ``provenance`` (before 2026-12-04; per image since); ``precision`` defaulted to ``32-true`` (now ``auto``),
#:   ``tta`` to ``hflip`` and ``class_weights`` to ``true`` (now ``auto``).
#: * 1: the format is recorded; ``checkpoint`` names the rule the run keeps its weights by (``auto`` resolved to
#:   ``best`` or ``last`` as it started); MC-dropout masks are drawn per image from the run's seed and the image;
#:   the defaults are today's (``precision``, ``tta``, ``class_weights``: ``auto``).
#: * 2 (2026-12-07): ``dropout`` 0 is no dropout for every network; AlexNet, SqueezeNet and GoogLeNet had kept
#:   torchvision's 0.5 / 0.5 / 0.2 at ``dropout`` 0 (recorded 0.0), so their runs of format 1 trained with it.
RUN_FORMAT = 2
FORMAT_KEY = "run_format"
#: How a run of format 0 is named to its user.
FORMAT_0 = "written by a medtrain from before the run format was recorded"


def eval_file(split: str) -> str:
    """``medtrain eval``'s output for a split."""
    return f"eval_{split}.json"


def is_finished(run_dir: str | os.PathLike) -> bool:
    """Every output of the run is written: ``metrics.json``, the last file ``rundir.write_run`` writes."""
    return (Path(run_dir) / METRICS_FILE).is_file()


def remove_checkpoints(run_dir: str | os.PathLike) -> None:
    """Remove a finished run's Lightning checkpoints (``*.ckpt`` in :data:`CHECKPOINT_DIR`, their save's temporary
    files, then the folder where nothing else is left in it; :data:`HPC_CHECKPOINTS`): once ``metrics.json`` is
    written nothing reads them (the kept weights are ``model.safetensors``), and they were most of its folder (2 x 34
    MB for the default ResNet-18-half: 79 MB of a run on 16-px images, 11 MB without them). An unfinished run's are
    kept for ``--resume``. Called by the one writer of the run (rank 0) after ``metrics.json``, and again where a
    finished run is returned (an interruption in between leaves them: harmless, the run is finished all the same).
    A user's other files, links and what cannot be removed (a read-only copy) stay."""
    run_dir = Path(run_dir)
    if not is_finished(run_dir):
        return
    folder = run_dir / CHECKPOINT_DIR
    linked = folder.is_symlink()  # another disk's folder: left as it is
    # (.*.ckpt.*.tmp: a save's temporary file, training.fit.PARTIAL_CHECKPOINTS)
    checkpoints = [] if linked else [*folder.glob("*.ckpt"), *folder.glob(".*.ckpt.*.tmp")]
    for path in [*checkpoints, *run_dir.glob(HPC_CHECKPOINTS)]:
        if path.is_file() and not path.is_symlink():
            with contextlib.suppress(OSError):
                path.unlink()
    with contextlib.suppress(OSError):  # not there, or not empty: a user's file in it
        if not linked:
            folder.rmdir()


def read_metrics(run_dir: str | os.PathLike, name: str = METRICS_FILE) -> dict:
    """``metrics.json`` of a run (or its ``name``, e.g. :func:`eval_file`) as a dict; a missing, damaged (cut
    short) or non-mapping file is one :class:`MedtrainError` line naming it, not a JSONDecodeError traceback."""
    path = Path(run_dir) / name
    try:
        out = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise MedtrainError(f"{path} is missing or not valid JSON") from None
    if not isinstance(out, dict):
        raise MedtrainError(f"{path} does not hold a JSON object")
    return out


def recorded_format(record: dict | None) -> int:
    """The run format a run's record says (``metrics.json``'s ``provenance`` or the content of ``choices.json``,
    of ``model.safetensors``'s metadata): 0 where it says none (:data:`RUN_FORMAT`)."""
    value = (record or {}).get(FORMAT_KEY)
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def run_format(run_dir: str | os.PathLike) -> int:
    """The run format of the medtrain that started the run in ``run_dir``: recorded in its ``metrics.json`` once
    finished, in its ``choices.json`` before; 0 where neither records it (:data:`RUN_FORMAT`)."""
    for name in (METRICS_FILE, CHOICES_FILE):
        if (Path(run_dir) / name).is_file():
            record = read_metrics(run_dir, name)
            return recorded_format(record.get("provenance") if name == METRICS_FILE else record)
    return 0
