"""The ``--out`` folders a new run refuses before it writes anything: one inside (or equal to) the image folder it
trains on, and one that holds no run but files or folders of the user's with the names a run writes there
(:data:`WRITTEN`, :data:`WRITTEN_PATTERNS`), which training would write over. :mod:`medtrain.api` checks a run's
folder with both; :mod:`medtrain.crossval` its own folder with :func:`refuse_others_files`."""
from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

from medtrain._io import CHECKPOINT_DIR, CONFIG_FILE, FEATURES_FILE, METRICS_FILE, WEIGHTS_FILE
from medtrain._io.run_files import CHOICES_FILE
from medtrain._predictions_csv import PREDICTIONS_FILE, VAL_PREDICTIONS_FILE
from medtrain._run_report import (CONFUSION_FILE, LEARNING_CURVE_FILE, RELIABILITY_FILE, REPORT_FILE,
                                  ROC_PR_FILE)
from medtrain.config import Config
from medtrain.errors import MedtrainError
from medtrain.rundir import PILOT_DIR, SKIPPED_FILE, SPLITS_FILE, is_run


#: What a run writes in its folder beside these names (:data:`WRITTEN_PATTERNS`): files of the user's with these names
#: in an ``--out`` folder that holds no run are refused (:func:`refuse_others_files`), not written over.
WRITTEN = {CONFIG_FILE, METRICS_FILE, WEIGHTS_FILE, CHECKPOINT_DIR, FEATURES_FILE, CHOICES_FILE, SPLITS_FILE,
           SKIPPED_FILE, PILOT_DIR, "logs", PREDICTIONS_FILE, VAL_PREDICTIONS_FILE, LEARNING_CURVE_FILE,
           CONFUSION_FILE, RELIABILITY_FILE, ROC_PR_FILE, REPORT_FILE}
#: medtrain eval's files (:func:`eval_file`), their predictions and an external site's figures (eval --data)
WRITTEN_PATTERNS = ("eval_*.json", "predictions_*.csv", "*_external_*.png")


def refuse_others_files(run_dir: Path, names: Collection[str] = WRITTEN, patterns: tuple = WRITTEN_PATTERNS,
                        own: Callable[[Path], bool] = is_run, holds: str = f"no run (no {CONFIG_FILE})") -> None:
    """Refuse an ``--out`` folder that is not the writer's own (``own``: a run's, its ``config.yaml``; ``holds`` says
    what it lacks) but holds files or folders it writes there (``names``, ``patterns``; a run's: :data:`WRITTEN`): a
    user's ``metrics.json``, ``report.html`` or ``model.safetensors`` had been written over without a word (a
    bad-input walk), and a cross-validation's ``report.html``, ``cv.json`` (:mod:`medtrain.crossval`). An empty folder,
    or one holding other files (a user's notes), is written into, and a call refused before training removes what it
    wrote there (``medtrain.api``)."""
    if not run_dir.is_dir() or own(run_dir):
        return
    clash = sorted(p.name for p in run_dir.iterdir()
                   if p.name in names or any(p.match(pattern) for pattern in patterns))
    if clash:
        shown = ", ".join(clash[:3]) + (f" and {len(clash) - 3} more" if len(clash) > 3 else "")
        raise MedtrainError(f"--out {run_dir} holds {holds} but {shown}, which training there would write over; "
                            "give another --out (out= in Python): a new or empty folder")


def check_out_of_data(cfg: Config, run_dir: Path) -> None:
    """Refuse a run directory inside (or equal to) the image folder it trains on: the next run on that folder
    would read the run's plots as images of a class, or its folders as classes (found in a user walkthrough)."""
    if cfg.data and Path(cfg.data).is_dir():
        data, out = Path(cfg.data).resolve(), run_dir.resolve()
        if out == data or data in out.parents:
            raise MedtrainError(f"--out {run_dir} is inside the data folder {cfg.data}: the run's plots and folders "
                                f"would be read as data by the next run on it; choose an --out outside it")
