"""The ``--out`` folders a new run refuses before it writes anything: one inside (or equal to) the image folder it
trains on (or a folder its CSV's images lie in), and one that holds no run but files or folders of the user's with the
names a run writes there (:data:`WRITTEN`, :data:`WRITTEN_PATTERNS`), which training would write over.
:mod:`medtrain.api` checks a run's folder with both; :mod:`medtrain.crossval` its own folder with
:func:`refuse_others_files`."""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Optional

from medtrain._io import CHECKPOINT_DIR, CONFIG_FILE, FEATURES_FILE, METRICS_FILE, WEIGHTS_FILE
from medtrain._io.run_files import CHOICES_FILE
from medtrain._predictions_csv import PREDICTIONS_FILE, VAL_PREDICTIONS_FILE
from medtrain._run_report import (CONFUSION_FILE, LEARNING_CURVE_FILE, RELIABILITY_FILE, REPORT_FILE,
                                  ROC_PR_FILE)
from medtrain.config import Config
from medtrain.data.table import read_label_csv
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


def refuse_a_runs_file(out: str | os.PathLike) -> None:
    """Refuse an output file (predict's ``--out``) that is one of a run folder's own files (:data:`WRITTEN`,
    :data:`WRITTEN_PATTERNS`: its ``metrics.json``, ``config.yaml``, ``predictions_test.csv``, ...): ``predict
    --out runs/A/metrics.json`` had replaced the run's record by a predictions CSV without a word (a bad-input walk),
    after which eval, compare and the report read it. Another file in a run folder, or a user's file elsewhere, is
    written as before."""
    path = Path(out)
    if is_run(path.parent) and (path.name in WRITTEN or any(path.match(pattern) for pattern in WRITTEN_PATTERNS)):
        raise MedtrainError(f"--out {out} is the run {path.parent}'s own {path.name}, which this would write over; "
                            "give another file name")


def check_out_of_data(cfg: Config, run_dir: Path) -> None:
    """Refuse a run directory inside (or equal to) the image folder it trains on: the next run on that folder
    would read the run's plots as images of a class, or its folders as classes (found in a user walkthrough). A CSV
    (or a folder's ``labels.csv``) lists images that may lie elsewhere: the same for the folders those lie in
    (:func:`_listed_image_folders`); an ``--out`` of ``--data data/labels.csv`` in ``data/png/run2``, beside the
    listed ``data/png/{benign,malignant}/``, had been accepted, and the next ``--data data/png`` took ``run2`` as a
    third class (an audit walk)."""
    if not cfg.data:
        return
    out = run_dir.resolve()
    if Path(cfg.data).is_dir():
        data = Path(cfg.data).resolve()
        if out == data or data in out.parents:
            raise MedtrainError(f"--out {run_dir} is inside the data folder {cfg.data}: the run's plots and folders "
                                f"would be read as data by the next run on it; choose an --out outside it")
    held = {f for f, under in _listed_image_folders(Path(cfg.data), cfg.group_column).items()
            if out == f or (under and f in out.parents)}
    if held:
        folder = min(held, key=lambda f: len(f.parts))  # the outermost: an --out outside it is outside them all
        raise MedtrainError(f"--out {run_dir} is inside {folder}, a folder of the images {cfg.data} lists: the run's "
                            f"plots and folders would be read as data by a run on that folder; choose an --out "
                            f"outside it")


def _listed_image_folders(data: Path, group_column: Optional[str]) -> dict[Path, bool]:
    """The folders (resolved) an ``--out`` must not be for the label CSV of ``data`` (the CSV, or a folder's
    ``labels.csv``), each with whether it must not be inside it either: each folder directly holding a listed image
    (or series folder, or volume): a folder run on a class folder reads its subfolders' images too; and where every
    one of those is a subfolder of one folder, that folder (``root/<class>/``: the layout ``--data root`` reads as
    class folders, where a run's folder would be another class).

    The boundary is the images' folder, not the CSV's: the CSV's folder commonly holds the image folder and the runs
    beside it (``data/labels.csv``, ``data/png/``, ``data/runs/``), and a run folder there is read by no run on the
    images' folder. Nor are subfolders of the CSV's own folder refused where it holds listed images loose (``F/a.png``
    beside ``F/labels.csv``, runs in ``F/runs/``): loose images make no class folders, and ``--data F`` reads the CSV,
    not the folders. Images spread over unrelated folders (``/a/x/1.png``, ``/b/y/2.png``) share a common folder
    that is no data folder (``/``, ``/tmp``): not refused. The CSV is read (once more: cheaply, no image is opened)
    with its warnings held back, which the loader says; a CSV the loader refuses gives no folder here, and the
    loader's error."""
    try:
        csv = data / "labels.csv" if data.is_dir() else data
        if csv.suffix.lower() != ".csv" or not csv.is_file():
            return {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            entries = read_label_csv(csv, group_column).resolve()
        own = csv.parent.resolve()
    except (MedtrainError, OSError):
        return {}
    folders = {Path(d).resolve() for d in {os.path.dirname(os.path.abspath(e)) for e in entries}}
    held = {f: f != own for f in folders}
    common = Path(os.path.commonpath(folders)) if folders else None
    if common is not None and common.parent != common and all(f.parent == common for f in folders):
        held[common] = True
    return held
