"""The run directory: its file names, the one writer of a training run's outputs, and their readers
(:mod:`medtrain.runscores` writes a finished run's evaluations, ``eval_*.json`` and their predictions, beside them).

A run directory holds the resolved ``config.yaml``, ``metrics.json`` (stable keys: ``history``,
``best_epoch``, ``stop_epoch``, ``val`` and ``test`` with ``acc``, ``auc``, ``acc_ci``, ``auc_ci``, and
``wall_s``: the whole run's, over ``--resume``, of which ``wall_s_before_resume`` before it), the selected
weights ``model.safetensors`` (with their metadata), ``predictions_test.csv``, ``learning_curve.png``,
``confusion_matrix.png``, ``reliability.png``, ``roc_pr.png`` (ROC and PR curves), ``report.html`` (all of it on one
self-contained page); an unfinished run holds Lightning's ``checkpoints/`` (``last.ckpt`` for ``--resume``), which
:func:`write_run` removes once ``metrics.json`` is written (:func:`remove_checkpoints`); ``.lock`` is held by the
process training it (:func:`training_lock`). ``metrics.json`` also holds ``parameters`` (``total`` and
``trainable``, those with ``requires_grad`` when training ended: a probe's linear layer, a frozen transfer's
unfrozen stages), ``calibration`` (the temperature fitted on validation, ECE before/after on validation and
test), ``data`` (split sizes, class balance, groups), ``choices`` (flips, TTA and class weighting as decided on
validation), ``augment_settings`` (each op of ``--augment`` with every setting it read, defaults included:
:func:`augment_settings`), ``augment_policy`` where ``--augment`` named policy files (each one's ``file``, ``sha256`` and
``policy``, its sub-policies, layers... as parsed: :func:`policy_summary`) and, with an operating point, ``operating_point`` (its rule, threshold, validation rates (in-sample: chosen there) and test rates, each with its counts ``[hits, eligible images]`` and Wilson CI, clustered by patient where patients repeat; a multi-label run's: ``thresholds`` by label, ``val`` and
``test`` as ``per_label`` rates and a ``summary`` over labels, ``not_chosen``: labels kept at 0.5). ``splits.csv`` records which input went to which split (``input,split,group`` and, in cross-validation,
``fold``; ``group`` is a one-way hash of the patient, never the ID). A cross-validation fold's run also
holds ``predictions_val.csv`` and ``metrics.json["cv"]`` (``folds``, ``fold``, ``held_out``: the split its
held-out fold became), from which :mod:`medtrain.crossval` pools the out-of-fold predictions.
Every training procedure (the Lightning loop, the linear probe) hands its result to
:func:`write_run`; nothing else writes these files. ``choices.json``, the weights' metadata and ``metrics.json``'s
``provenance`` record the run format of the medtrain that started the run (:data:`medtrain._io.run_files.RUN_FORMAT`:
when it is raised and what each number means).
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import os
import time
from pathlib import Path

from medtrain import config as config_mod
from medtrain import provenance
from medtrain._io import (CHECKPOINT_DIR, CONFIG_FILE, FEATURES_FILE, METRICS_FILE, WEIGHTS_FILE,  # noqa: F401
                          csv_cell, eval_file, is_finished, path_kind, read_metrics,  # (the run's file names
                          why_not_read, write_json, write_text)  # and lowest readers, re-exported)
from medtrain._io.run_files import (CHOICES_FILE, FORMAT_0, FORMAT_KEY, RUN_FORMAT, recorded_format,  # noqa: F401
                                    remove_checkpoints, run_format)  # the run format (re-exported)
from medtrain._yaml import read_yaml_file, write_yaml
from medtrain.config import Config
from medtrain._io.cache import ARRAYS
from medtrain.data import ORIGIN_KEY
from medtrain.data.arrays import FILE as ARRAYS_FILE
from medtrain.data.folder import IMAGE_DEPTH, image_depth
from medtrain.runlock import (LOCK_FILE, UnguardedRunWarning, lock_holder, refuse_if_busy,  # noqa: F401
                              training_lock)  # (the run's lock: re-exported)
from medtrain.errors import MedtrainError
from medtrain.tasks import MULTILABEL, class_names
from medtrain._predictions_csv import (PREDICTIONS_FILE, VAL_PREDICTIONS_FILE,  # noqa: F401 (the run's file names)
                                       read_predictions, read_saved, write_predictions)
from medtrain._run_report import (CONFUSION_FILE, LEARNING_CURVE_FILE, RELIABILITY_FILE,  # noqa: F401 (the
                                  REPORT_FILE, REPORT_NOTE, ROC_PR_FILE, _calibration_plots, data_summary,  # plots'
                                  augment_settings, policy_summary, tested_metrics, write_report)  # file names and the
                                  # report-writing tail: re-exported)

__all__ = ["CONFIG_FILE", "METRICS_FILE", "WEIGHTS_FILE", "PREDICTIONS_FILE", "write_run", "read_config",
           "load_config", "read_metrics", "eval_file", "weights_meta", "default_run_dir", "is_run", "is_finished"]

SPLITS_FILE = "splits.csv"  #: input,split,group[,fold] per input
SKIPPED_FILE = "skipped.json"
LAST_CHECKPOINT = "last.ckpt"
PILOT_DIR = "pilots"  #: short pilot runs of the flip choice (removed once it is made)


def default_run_dir(cfg: Config) -> Path:
    name = cfg.dataset or Path(cfg.data).stem
    fold = f"-cv{cfg.folds}" + (f"-f{cfg.fold}" if cfg.fold is not None else "") if cfg.folds else ""
    return Path("runs") / f"{name}-{cfg.model}-s{cfg.seed}{fold}"


def out_folder(cfg: Config) -> Path:
    """The run folder of ``cfg``: its ``out``, else :func:`default_run_dir`. An empty one (``--out ""``, ``out: ''``:
    an unset shell variable) is refused: it had trained into the default folder without a word."""
    if cfg.out is not None and not str(cfg.out).strip():
        raise MedtrainError(f"--out is empty ({cfg.out!r}); name the run folder, or leave --out out for the default "
                            f"({default_run_dir(cfg)})")
    return Path(cfg.out) if cfg.out else default_run_dir(cfg)


def is_run(run_dir: str | Path) -> bool:
    """A run was started here (its config is written)."""
    return (Path(run_dir) / CONFIG_FILE).is_file()


def has_checkpoint(run_dir: str | Path) -> bool:
    return any((Path(run_dir) / CHECKPOINT_DIR).glob("*.ckpt"))


def read_config(run_dir: str | Path) -> dict:
    """The settings saved in a run directory, as written (a flat mapping), but for a relative ``data``, which is
    taken from the run folder (:func:`_data_from_run`)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise MedtrainError(f"{run_dir} is not a run directory (no {CONFIG_FILE})")
    saved = read_yaml_file(path, "run config")
    if not isinstance(saved, dict):
        raise MedtrainError(f"{path} does not hold a mapping of settings")
    data = saved.get("data")
    if isinstance(data, str) and data and not os.path.isabs(os.path.expanduser(data)):
        saved["data"] = _data_from_run(run_dir, data)
    # a run of format 0 started before 2026-12-03 records no checkpoint rule: it kept the epoch of best monitor
    # (today's default, auto, can keep the last: its resume had kept another epoch than its own version would)
    saved.setdefault("checkpoint", "best")
    # one started before 2026-11-30 (no flip: key, no choices.json) always trained with its augment list's flips:
    # today's auto would run the flip pilots on its resume and could drop them halfway through its schedule
    saved.setdefault("flip", "true")
    return saved


def _data_from_run(run_dir: str | Path, data: str) -> str:
    """A relative ``data:`` of a run's ``config.yaml`` (one a user wrote there after moving the data: training
    records it absolutely) as a path from the run folder, so that the run works from any folder, as it does with
    an absolute one (it had been taken from the current folder). A run written before medtrain recorded it
    absolutely holds it as typed, from the folder it was trained in: where the run folder holds no such path
    and the current folder does, that one."""
    here = os.path.abspath(os.path.join(run_dir, data))
    return os.path.abspath(data) if path_kind(here) is None and path_kind(data) is not None else here


def load_config(run_dir: str | Path, *overrides: dict) -> Config:
    """The run's saved settings, resolved (``overrides`` on top)."""
    return config_mod.resolve(read_config(run_dir), *overrides)


def write_splits(path: Path, record) -> None:
    """``splits.csv``: which input went to which split (:class:`medtrain.data.split.SplitRecord`)."""
    head = ["input", "split", "group"] + (["fold"] if record.folds is not None else [])
    write_text(path, "\n".join(",".join(csv_cell(c) for c in row) for row in [head] + record.rows()) + "\n")


def run_splits(run_dir: str | Path, cfg: Config, processes: int | None = None, say: bool = False):
    """The data of a finished (or resumed) run, split as it was trained: :func:`medtrain.data.load_splits` of
    its config, refused in one line when its classes were renamed (they are numbered by sorted name, so the
    network's outputs would be swapped) or when its inputs or their splits differ from the run's
    ``splits.csv`` (a folder or CSV that gained or lost images re-splits, and its test split would then hold
    images the run trained on). A run trained before medtrain kept pixel-identical images in one split reads the
    split its ``splits.csv`` records (:func:`~medtrain.data.duplicates.as_trained_before`). ``say``: say what the loaders
    say of the data set (:mod:`medtrain.data._quiet`), as a training that resumes does; else it was said when the run
    trained."""
    from medtrain.data import load_splits
    from medtrain.data._quiet import said_when_trained
    from medtrain.data.duplicates import as_trained_before
    from medtrain.data.medmnist import file_name
    from medtrain.models.weights import read_meta

    path, source = Path(run_dir) / SPLITS_FILE, cfg.data or cfg.dataset
    if cfg.data is None and cfg.data_dir and not (Path(cfg.data_dir) / file_name(cfg.dataset, cfg.size)).is_file():
        cfg = dataclasses.replace(cfg, data_dir=None)  # the MedMNIST file moved since: where $MEDTRAIN_DATA points
    if cfg.data and path_kind(cfg.data) is None:  # load_splits had blamed a --data the user never gave
        raise MedtrainError(_data_missing(run_dir, cfg.data))
    # (processes: load_splits'.) What the loaders say of the data (a label 'none', squashed images...) is said by a
    # training that resumes (``say``); eval, export, explain... of the run do not repeat it: said when it trained
    with contextlib.nullcontext() if say else said_when_trained():
        splits = load_splits(cfg, processes)
    weights = Path(run_dir) / WEIGHTS_FILE
    classes = list(map(str, (read_meta(weights).get("label_names") or {}).values())) if weights.is_file() else []
    if classes and classes != list(map(str, splits.label_names.values())):
        raise MedtrainError(f"the classes of {source} changed since {run_dir} was trained: {', '.join(classes)} "
                            f"then, {', '.join(map(str, splits.label_names.values()))} now")
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines())) if path.is_file() else []
    except (OSError, UnicodeDecodeError):
        raise MedtrainError(f"{path} is not readable") from None
    if splits.record is None or not rows or not {"input", "split"} <= set(rows[0]):
        return splits
    i, j = rows[0].index("input"), rows[0].index("split")
    was = {r[i]: r[j] for r in rows[1:] if len(r) > max(i, j)}
    now = {r[0]: r[1] for r in splits.record.rows()}
    if was != now:
        older = as_trained_before(splits, was, run_dir)  # the same data, split as medtrain split them then
        if older is not None:
            return older
        added, gone = len(now.keys() - was.keys()), len(was.keys() - now.keys())
        moved = sum(was[k] != now[k] for k in now.keys() & was.keys())
        why = "" if added or gone else " (the same inputs: a label edited? a split drawn by medtrain follows the labels)"
        raise MedtrainError(f"the data of {run_dir} ({source}) changed since it was trained: {added} input(s) "
                            f"added, {gone} gone, {moved} in another split than {SPLITS_FILE} records{why}; its splits "
                            "would hold other images (test images it trained on). Restore the data as it was, or "
                            "train a new run")
    return splits


def _data_missing(run_dir: str | Path, data: str) -> str:
    """Why a run's own data cannot be loaded, and the two ways on (its config.yaml records where they were)."""
    path = Path(run_dir) / CONFIG_FILE
    try:
        written = read_yaml_file(path, "run config").get("data") or data
    except (MedtrainError, AttributeError):
        written = data
    shown = str(written) + (f" = {data}" if str(written) != str(data) else "")
    kept = Path(str(written))
    if kept.name == ARRAYS_FILE and kept.parent.parent.name == ARRAYS:  # medtrain's own copy of in-memory arrays
        return (f"the arrays {run_dir} was trained on are missing: medtrain kept them as {kept} ({why_not_read(data)}; "
                "cleared from its cache?). Train again with the same arrays and settings (medtrain.train): it writes "
                "them there again and, the run being finished, does not train it again")
    has = [(Path(run_dir) / f).is_file() for f in (SPLITS_FILE, METRICS_FILE)]  # a model handed on: neither
    check = ([f"{run_dir} holds no {SPLITS_FILE} or data digests ({METRICS_FILE}) to check", f"the run's {SPLITS_FILE} "
              "then checks", f"the run's data digests ({METRICS_FILE}) then check", f"the run's {SPLITS_FILE} and its "
              "data digests then check"][has[0] + 2 * has[1]])
    return (f"the data of {run_dir} are missing: {path} records data: {shown} ({why_not_read(data)}). Move them "
            f"back there, or edit data: in {path} to their new place (absolute, or relative to {run_dir}); {check} "
            "that they are the data it was trained on")


def write_config(run_dir: Path, cfg: Config) -> None:
    d = cfg.to_dict()
    d["out"] = str(run_dir)
    write_yaml(Path(run_dir) / CONFIG_FILE, d)


def read_choices(run_dir: str | Path) -> dict | None:
    """The choices recorded before training (``choices.json``), or None."""
    p = Path(run_dir) / CHOICES_FILE
    return read_metrics(run_dir, CHOICES_FILE) if p.is_file() else None  # a damaged file: one line, not a traceback


def write_choices(run_dir: Path, choices: dict) -> None:
    """``choices.json`` as a run starts, with the run's format (:data:`RUN_FORMAT`): 0 where it is written for a
    run an older medtrain started (one with a checkpoint or cached codes to resume, which recorded none)."""
    older = has_checkpoint(run_dir) or (Path(run_dir) / FEATURES_FILE).is_file()
    write_json(Path(run_dir) / CHOICES_FILE, {**choices, FORMAT_KEY: 0 if older else RUN_FORMAT})


def started_format(run_dir: str | Path) -> int:
    """The format of the medtrain that started the run in ``run_dir`` (its ``choices.json``), or this one's."""
    made = read_choices(run_dir)
    return RUN_FORMAT if made is None else recorded_format(made)


def run_tta(cfg: Config, meta: dict) -> str:
    """The test-time augmentation a run is evaluated with: its pinned ``tta``, or the one chosen on validation
    (stored in the weights' metadata) when it was ``auto``."""
    return meta.get("tta", "none") if cfg.tta == "auto" else cfg.tta


#: The weights' metadata key of a run trained with ``batch_norm: false`` that says which rule removed the norms, and
#: its value: the BatchNorms alone (since 2026-12-07; timm's norm+activation layers keep their activation, other norm
#: layers stay). A run without it was trained by the older rule, which on a timm network outside the zoo also removed
#: the other norm layers (:func:`medtrain.runmodel.refuse_old_no_batch_norm`); the version number did not change.
BATCH_NORM_REMOVED, BATCHNORM_ONLY = "batch_norm_removed", "batchnorm-only"


def weights_meta(cfg: Config, splits, module, **extra) -> dict:
    """What ``model.safetensors`` says about itself: network, data shape, classes, normalisation, and the bit depth
    of the training images (``image_depth``, as ``metrics.json``'s provenance records it; None where none is held to:
    volumes, DICOM), which predict, ``eval --data`` and explain hold image files to: the weights and ``config.yaml``
    are all a model handed on needs (:func:`medtrain.runmodel.received_model`), and had lost the check. A run
    without batch norm records the rule that removed them (:data:`BATCH_NORM_REMOVED`)."""
    rule = {} if cfg.batch_norm else {BATCH_NORM_REMOVED: BATCHNORM_ONLY}
    return {**rule, "medtrain_version": provenance.medtrain_version(), "model": cfg.model, "in_chans": splits.in_chans,
            "num_classes": splits.num_classes,
            "input_size": int(splits.spatial_shape[-1]), "spatial_dims": len(splits.spatial_shape),
            "task": splits.task, "label_names": splits.label_names, "mean": module.mean.flatten().tolist(),
            "std": module.std.flatten().tolist(), IMAGE_DEPTH: image_depth(splits), **extra}


def write_run(cfg: Config, splits, run_dir: Path, result, t0: float, verbose: bool, choices: dict | None = None) -> dict:
    """Write every output of a finished run from a training procedure's result
    (:class:`medtrain.training.fit.FitResult`): weights, validation and test scores, predictions,
    ``metrics.json``, plots; print the summary. Returns the content of ``metrics.json``.

    ``cfg`` holds the settings as trained (choices made: ``tta`` is the chosen one); ``choices`` records
    what was tried and chosen on validation (:mod:`medtrain.training.choices`)."""
    from medtrain import metrics, operating_point
    from medtrain.evaluation import add_calibration, choose_temperature, evaluate_split
    from medtrain.evaluation.calibration import at_bound
    from medtrain.models.cost import count_parameters
    from medtrain.models.weights import save_weights
    from medtrain.reports import plots, summary

    run_dir = Path(run_dir)
    module = result.module
    # Temperature scaling: one scalar fitted on the validation predictions (medtrain.evaluation.calibration),
    # scored as test is (MC dropout's mean of T passes: T fitted on one network's scores went to another's).
    val = evaluate_split(module, splits.val, splits.label_names, bootstrap=0, tta=cfg.tta, mc_dropout=cfg.mc_dropout,
                         seed=cfg.seed)
    val_entropy = val.pop("entropy", None)  # (MC dropout) for predictions_val.csv, as test's for its file
    temperature, temperature_rule = choose_temperature(val["scores"], splits.val.labels.numpy(), splits.task)
    add_calibration(val, splits.val.labels.numpy(), splits.task, temperature)
    threshold, positive = None, operating_point.positive_index(cfg.positive_class, splits.label_names)
    thresholds, not_chosen = None, []  # multi-label: one per label (0.5 kept for a label val cannot choose one for)
    names = class_names(splits.label_names, splits.num_classes)
    if cfg.operating_point is not None and splits.task == MULTILABEL:  # on each label's calibrated val probability
        thresholds, not_chosen = operating_point.choose_label_thresholds(splits.val.labels.numpy(), val["scores_scaled"],
                                                                         cfg.operating_point, names)
    elif cfg.operating_point is not None:  # chosen on the calibrated validation probabilities
        threshold = operating_point.choose_threshold(splits.val.labels.numpy(), val["scores_scaled"], cfg.operating_point,
                                             positive)
    fmt = started_format(run_dir)  # a resumed run keeps the format it was started with
    extra = {"temperature": temperature, "tta": cfg.tta, FORMAT_KEY: fmt,
             **({"threshold": threshold, "operating_point": cfg.operating_point, "positive_class": positive}
                if threshold is not None else {}),
             **({"thresholds": thresholds, "thresholds_not_chosen": not_chosen, "operating_point": cfg.operating_point}
                if thresholds is not None else {})}
    op = operating_point.from_meta(extra, names)  # as the weights record it, as eval and predict read it
    save_weights(module.model, run_dir / WEIGHTS_FILE, weights_meta(cfg, splits, module, **result.weights_meta,
                                                                    **extra))
    test = evaluate_split(module, splits.test, splits.label_names, bootstrap=cfg.bootstrap, seed=cfg.seed,
                          tta=cfg.tta, mc_dropout=cfg.mc_dropout, temperature=temperature,
                          threshold=threshold, positive=positive, thresholds=thresholds) if len(splits.test) else {}
    entropy = test.pop("entropy", None)
    test_cal, test_op, test_scaled = test.pop("calibration", None), test.pop("operating_point", None), \
        test.pop("scores_scaled", None)
    test_scores = test.pop("scores", None)
    if test:
        write_predictions(run_dir / PREDICTIONS_FILE, splits.test.labels.numpy(), test_scores, entropy,
                          splits.label_names, splits.task, test_scaled, splits.test.sources,
                          op.decision if op is not None else None, splits.test.groups)
    if splits.extra.get("skipped"):
        write_json(run_dir / SKIPPED_FILE, splits.extra["skipped"])
        if verbose:
            print(f"{len(splits.extra['skipped'])} unreadable input(s) left out (--skip-bad): {run_dir / SKIPPED_FILE}")
    if splits.record is not None:
        write_splits(run_dir / SPLITS_FILE, splits.record)
    if cfg.folds:  # the held-out fold may be val (out-of-fold predictions): test's columns, calibrated as chosen on
        write_predictions(run_dir / VAL_PREDICTIONS_FILE, splits.val.labels.numpy(), val["scores"], val_entropy,
                          splits.label_names, splits.task, val["scores_scaled"], splits.val.sources,
                          op.decision if op is not None else None, splits.val.groups)
    out = {
        "dataset": splits.name, "task": splits.task, "model": cfg.model, "seed": cfg.seed,
        "parameters": count_parameters(module.model),  # {total, trainable}: the network as saved, as trained
        "history": result.history, "best_epoch": result.best_epoch, "stop_epoch": result.stop_epoch,
        "early_stopped": result.stopped_early, "monitor": cfg.monitor, "checkpoint": result.checkpoint,
        "val": {k: val[k] for k in ("acc", "auc")},
        "test": test,
        "wall_s": time.perf_counter() - t0 + (result.metrics.get("wall_s_before_resume") or 0.0),  # see WallTime
        "train_images_per_s": result.train_images_per_s,
        "peak_rss_mb": provenance.peak_rss_mb(),
        **provenance.device_memory(),
        "sizes": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)},
        "data": {**data_summary(splits), **({ORIGIN_KEY: splits.record.origin}  # where val and test came from
                                            if splits.record is not None and splits.record.origin else {})},
        "provenance": provenance.record(splits),  # versions, machine, threads, each split's digest (eval checks)
    }
    out["calibration"] = {"temperature": temperature, "rule": temperature_rule, "bins": metrics.ECE_BINS,
                          "at_bound": at_bound(temperature),  # an end of T_RANGE: stopped there, not found
                          "val": {k: v for k, v in val["calibration"].items() if k != "temperature"},
                          **({"test": {k: v for k, v in test_cal.items() if k != "temperature"}} if test_cal else {})}
    if threshold is not None:
        out["operating_point"] = {"rule": cfg.operating_point, "chosen_on": "val", "threshold": threshold,
                                  "positive_class": splits.label_names[str(positive)],
                                  "val": operating_point.rates_at(splits.val.labels.numpy(), val["scores_scaled"], threshold,
                                                                  positive, splits.val.groups),
                                  **({"test": test_op} if test_op else {})}
    if thresholds is not None:
        out["operating_point"] = {"rule": cfg.operating_point, "chosen_on": "val", "thresholds": dict(zip(names, thresholds)),
                                  "val": operating_point.label_rates(splits.val.labels.numpy(), val["scores_scaled"],
                                                                     thresholds, names, splits.val.groups),
                                  **({"test": test_op} if test_op else {}), "not_chosen": not_chosen}
    if choices:
        out["choices"] = choices
    if ops := augment_settings(cfg.to_dict(), grey=splits.in_chans == 1):
        out["augment_settings"] = ops  # each op's settings as it was built, the defaults included
    if policies := policy_summary(cfg.to_dict(), (read_choices(run_dir) or {}).get("policies")):
        out["augment_policy"] = policies  # each policy file's content as parsed and sha256: the run says what trained it
    if cfg.folds:
        held_out = splits.record.held_out if splits.record is not None else None
        out["cv"] = {"folds": cfg.folds, "fold": cfg.fold, "held_out": held_out}
    if result.transfer is not None:  # what transfer copied/froze/re-drew
        out["transfer"] = result.transfer.to_dict()
    out.update(result.metrics)
    out.update(provenance.processes_peak(out))  # several processes: the sum of their peaks (ProcessPeaks)
    out["provenance"][FORMAT_KEY] = fmt
    if "first_call" in out:  # a resumed run: the command and threads it started with
        out["provenance"]["first_call"] = out.pop("first_call")
    title = f"{splits.name} · {cfg.model} · seed {cfg.seed}"
    if result.history:
        plots.learning_curve(result.history, result.best_epoch, result.stop_epoch, run_dir / LEARNING_CURVE_FILE,
                             title, early_stopped=result.stopped_early, checkpoint=result.checkpoint,
                             monitor=cfg.monitor, early_stop=cfg.early_stop, patience=cfg.patience)
    if test:
        plots.confusion_matrix(test["confusion"], splits.label_names, run_dir / CONFUSION_FILE, title)
    _calibration_plots(splits, run_dir, title, val, test_scores, test_scaled, out, threshold, cfg.operating_point,
                       positive)
    write_report(run_dir, cfg.to_dict(), out)
    # last: metrics.json is what marks a run finished (is_finished), so a run stopped while writing its plots
    # or report is resumed, not taken for finished without them (found in a user walkthrough)
    write_json(run_dir / METRICS_FILE, out)
    # finished: nothing reads its checkpoints now (an interruption just before leaves them, the run finished all the
    # same; the next train call on it removes them: reuse._already_finished)
    remove_checkpoints(run_dir)
    if verbose and test:
        print("\n" + summary.run_summary(out, splits.name, cfg.monitor, cfg.operating_point, result.summary))
    return out
