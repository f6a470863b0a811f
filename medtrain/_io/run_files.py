"""A run folder's file names and its lowest readers.

They are defined here, at the bottom layer, because model sources (models.pretrained) and study reports
(reports.curves) read run directories too; medtrain.rundir (which with medtrain.runscores writes a run's files)
re-exports them with the layout's description.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from medtrain.errors import MedtrainError

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
WEIGHTS_FILE = "model.safetensors"
CHECKPOINT_DIR = "checkpoints"  #: an unfinished run's Lightning checkpoints (what --resume continues from)
FEATURES_FILE = "features.npz"  #: the linear probe's cached CNN codes


def eval_file(split: str) -> str:
    """``medtrain eval``'s output for a split."""
    return f"eval_{split}.json"


def is_finished(run_dir: str | os.PathLike) -> bool:
    """Every output of the run is written: ``metrics.json``, the last file ``rundir.write_run`` writes."""
    return (Path(run_dir) / METRICS_FILE).is_file()


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
