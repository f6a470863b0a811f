"""K-fold cross-validation: K runs, each holding out another fold, and their pooled out-of-fold score.

``cross_validate({"dataset": "breastmnist", "folds": 5}, out="runs/cv")`` trains ``out/fold0`` ...
``out/fold4``: normal run directories whose config holds ``folds`` and ``fold``, so each fold is a
distinct, reproducible run, reused when finished and resumed when interrupted
(:func:`medtrain.api.train_or_reuse`, as ``compare`` does). The folds are dealt by
:func:`medtrain.data.split.fold_ids` (stratified, multi-label by rare labels; every patient in one fold):

* data with official splits (MedMNIST, a CSV with a split column): fold k of train+val is the
  validation split of run k, the official test split is the same for every run;
* data without: fold k is the test split of run k, validation a share of the other folds.

The held-out predictions of all K runs, pooled, cover every image once: their AUC (MedMNIST-exact,
:func:`medtrain.metrics.auc`) with a percentile bootstrap CI is the out-of-fold AUC (Varma & Simon,
"Bias in error estimation when using cross-validation for model selection", BMC Bioinformatics 2006,
on why a held-out fold that also selected the checkpoint, the validation fold, reads optimistic).
``cv.json`` and ``cv.md`` in ``out`` hold the per-fold metrics, their mean ± std and the pooled AUC.
``cv.json`` keys: ``folds``, ``held_out`` (``val`` or ``test``), ``task``, ``dataset``, ``model``, ``seed``,
``per_fold`` (``fold``, ``sizes``, ``best_epoch``, ``wall_s``, ``val_auc``, ``val_acc``, ``test_auc``,
``test_acc``; ``choices``: what the fold applied of flips, TTA, class weights, precision and accelerator,
:func:`fold_choices`), ``summary`` (``{metric: {"mean", "std"}}``, sample std), ``oof`` (``auc``, ``auc_ci``, ``acc``,
``acc_ci``, ``n``; multi-label: ``per_label``, each label's pooled ``auc``, ``auc_ci`` and ``positives``; with
``--operating-point`` and test folds, ``operating_point``: :mod:`medtrain._crossval_op`), ``wall_s``
(this call) and ``train_wall_s`` (the folds' own training time, summed). With ``--operating-point``, ``per_fold``
also holds each fold's threshold chosen on its validation split's calibrated probabilities (``threshold``;
multi-label: ``thresholds`` by label and ``thresholds_not_chosen``, the labels that kept 0.5), its ``temperature``
and that threshold on the raw scale (``threshold_raw``, ``thresholds_raw``: :mod:`medtrain._crossval_labels`), and
its test rates at it (multi-label: their means over labels); ``summary["threshold_raw"]`` the raw thresholds'
``mean``, ``std``, ``min`` and ``max`` over the folds (how stable the chosen threshold is: the folds' calibrated
scales differ, ``threshold_scale`` says so) and, for a multi-label task, ``operating_point_per_label`` each label's
test sensitivity and specificity at its folds' own thresholds, ``{"mean", "std", "folds"}`` over the folds where it
is defined, and its ``threshold_raw`` over the folds that chose one (``{"mean", "std", "min", "max", "folds"}``).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from medtrain import config as config_mod
from medtrain import metrics
from medtrain._crossval_labels import (SCALE, TEMPERATURE, THRESHOLD, THRESHOLD_RAW, column_label, fold_table,
                                       fold_thresholds, label_tables, markdown, mean_std as _mean_std, pooled_per_label,
                                       pooled_from, rate as _rate, spread as _spread, threshold_note)
from medtrain._crossval_labels import label_rates as _label_rates
from medtrain._crossval_choices import (  # noqa: F401  (CHOICE_NAMES, PER_FOLD: also here, where they were)
    CHOICE_NAMES, CHOICES_TITLE, PER_FOLD, VAL_DECISIONS, applied_settings, choices_table, fold_choices, val_decided, val_note)
from medtrain._crossval_op import op_cards, op_label_table, op_line, pooled_operating_point
from medtrain._compare_grid import units_code_note
from medtrain._io import write_json, write_text
from medtrain._io.run_files import read_metrics
from medtrain._predictions_csv import read_pooled
from medtrain._run_report import unread_settings
from medtrain._progress import Overall
from medtrain.reports.html import FOLDS_FILE, write_crossval_report
from medtrain.reports.summary import auc_acc_line, auc_interval_why
from medtrain.api import train_or_reuse
from medtrain.data import load_splits
from medtrain.errors import MedtrainError
from medtrain._out_checks import check_out_of_data, refuse_others_files
from medtrain.rundir import REPORT_FILE, is_finished, is_run, read_config, out_folder

CV_FILE = "cv.json"
CV_TABLE = "cv.md"
#: what a cross-validation writes in its folder beside its folds' runs (a user's files of these names are refused)
CV_WRITTEN = {CV_FILE, CV_TABLE, REPORT_FILE, FOLDS_FILE}
#: per-fold numbers summarised as mean ± std (sample std, ddof 1), with how each is read from metrics.json
FOLD_METRICS = {"val_auc": ("val", "auc"), "val_acc": ("val", "acc"), "test_auc": ("test", "auc"),
                "test_acc": ("test", "acc")}
#: with --operating-point: each fold's threshold (chosen on its validation split's calibrated probabilities), its
#: temperature, the threshold on the raw scale, and its test rates at it
OP_METRICS = ("test_sensitivity", "test_specificity")
#: ... of a multi-label task: each fold's mean over labels of the test rates at its own per-label thresholds
LABEL_OP_METRICS = ("test_mean_sensitivity", "test_mean_specificity")
#: the per-fold columns, in order (those a cross-validation has): metrics, the threshold, the rates at it
_COLUMNS = (*FOLD_METRICS, THRESHOLD, TEMPERATURE, THRESHOLD_RAW, *OP_METRICS, *LABEL_OP_METRICS)
#: per-fold columns given no mean ± std: each fold's calibrated threshold is on its own scale (the raw one's is the
#: spread), and the temperatures are what makes them differ
_UNSUMMARISED = (THRESHOLD, TEMPERATURE)


def fold_dir(out: str | Path, fold: int) -> Path:
    return Path(out) / f"fold{fold}"


def _started(out: Path) -> bool:
    """A cross-validation was started in ``out``: one of its folds' runs (of any K) is."""
    return any(is_run(d) for d in out.glob("fold*"))


def cross_validate(config, out: str | Path | None = None, verbose: bool = True) -> dict:
    """Train (or reuse) every fold of ``config`` (a dict of settings or a Config with ``folds`` K >= 2)
    and write ``cv.json``/``cv.md`` into ``out`` (default: ``config.out``, else ``runs/<data>-<model>-s<seed>-cvK``).

    Returns:
        the content of ``cv.json``.

    Raises:
        MedtrainError: ``folds`` is not >= 2, or (before anything is written) K exceeds the patients or
            images of the smallest class (label), some fold would leave a class out of a split it needs, or
            the group column is unknown.
    """
    t0 = time.perf_counter()
    base = config.to_dict() if isinstance(config, config_mod.Config) else dict(config or {})
    base.pop("fold", None)
    cfg = config_mod.resolve(base)
    if cfg.folds < 2:
        raise MedtrainError(f"cross-validation needs folds >= 2, got {cfg.folds}")
    # out, else the config's, else the default; an empty one refused (it had trained into the default folder)
    out = out_folder(cfg if out is None else dataclasses.replace(cfg, out=str(out)))
    # a folder of the user's holding files the summary writes (report.html, cv.json), or one inside the data: refused
    # before any fold trains (a fold had been refused, naming its own folder, after the first fold's line)
    refuse_others_files(out, CV_WRITTEN, (), own=_started, holds="no cross-validation (no fold run started)")
    check_out_of_data(cfg, out)
    runs = []
    finished = sum(is_finished(fold_dir(out, k)) for k in range(cfg.folds))
    if not finished:  # before any line is printed: a bad K, group column or fold (fold 0's load checks every
        # fold's splits) is one error line, not a failure after earlier folds trained
        load_splits(config_mod.resolve(base, {"fold": 0}))
    created = not out.exists()
    try:
        with Overall(cfg.folds, "cross-validation", done=finished, enabled=verbose and cfg.progress) as bar:
            for k in range(cfg.folds):
                run_dir = fold_dir(out, k)
                fold_cfg = config_mod.resolve(base, {"fold": k, "out": str(run_dir)})
                reused = is_finished(run_dir)
                if verbose:
                    bar.write(f"cross-validation: fold {k} ({k + 1} of {cfg.folds}) -> {run_dir}"
                              + (" finished, reused" if reused else ""))
                # (a reused fold: said above)
                runs.append(train_or_reuse(fold_cfg, verbose=verbose and not reused, idle_settings=False))
                if not reused:
                    bar.advance()
    except BaseException:  # a fold refused or failed before anything was kept: no empty folder left (a user walk)
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise
    summary = summarise(runs, [fold_dir(out, k) for k in range(cfg.folds)], cfg.bootstrap, cfg.seed)
    summary.update({"dataset": runs[0]["dataset"], "model": runs[0]["model"], "seed": cfg.seed,
                    "wall_s": time.perf_counter() - t0,
                    "train_wall_s": float(sum(r["wall_s"] for r in runs))})
    write_text(out / CV_TABLE, to_markdown(summary))
    dirs = [fold_dir(out, k) for k in range(cfg.folds)]
    write_crossval_report(out, report_data(summary, fold_settings(dirs, runs), fold_split_origin(runs),
                                           (runs[0].get("data") or {}).get("shape")))
    write_json(out / CV_FILE, summary)  # last: a cv.json says the whole summary is written (an interrupt walk)
    if verbose:
        print("\n" + to_markdown(summary))
    return summary


def fold_settings(run_dirs: list[Path], runs: list[dict] | None = None) -> dict:
    """The folds' settings as they trained (``auto`` resolved to the lr, batch and network each fold used; each
    fold's flips and autos as it applied them, :func:`applied_settings`): a value all folds share, else ``per fold:
    a, b, ...``, but an ``auto`` the folds decided differently, :data:`PER_FOLD`. (The report showed the command's
    unresolved settings: lr and batch size as blanks, ``augment = ['flip', 'shift']`` where no fold flipped.)"""
    given = [read_config(d) for d in run_dirs]
    runs = runs if runs is not None else [read_metrics(d) for d in run_dirs]  # (the folds' metrics, where read)
    configs = [applied_settings(c, r) for c, r in zip(given, runs)]
    out = {}
    for key in configs[0]:
        if key in ("fold", "out"):
            continue
        values = [c.get(key) for c in configs]
        out[key] = values[0] if all(v == values[0] for v in values) else PER_FOLD if all(
            c.get(key) == "auto" for c in given) else "per fold: " + ", ".join(map(str, values))
    return out


def fold_split_origin(runs: list[dict]) -> str | None:
    """Where the folds' val and test came from, as each fold's loader recorded it (its ``metrics.json``'s data
    summary ``split_origin``, e.g. ``own test, fold val``: ``runs``, the folds' metrics as trained or reused, held
    here, not read again); None where the folds differ or a fold (written before it was recorded) has none: the
    report then guesses from the data's path."""
    origins = {(r.get("data") or {}).get("split_origin") for r in runs}
    return origins.pop() if len(origins) == 1 else None


def report_data(cv: dict, config: dict, split_origin: str | None = None, shape=None) -> dict:
    """What :func:`medtrain.reports.html.write_crossval_report` renders: per-fold metrics (the fold runs'
    own), the pooled out-of-fold line, ``split_origin`` (:func:`fold_split_origin`), ``shape`` (the folds' images,
    their data summary's: a 2D shape leaves ``volume_size`` out, as a run's report does), ``unread``
    (:func:`medtrain._run_report.unread_settings`) for its settings table, ``threshold_note`` (the raw thresholds'
    spread) and ``label_tables`` (:func:`medtrain._crossval_labels.label_tables`, cv.md's per-label tables; the
    report had none of them)."""
    folds = [{"fold": f["fold"], **{k: f[k] for k in _COLUMNS if k in f}}
             for f in cv["per_fold"]]
    pooled = {f"oof_{k}": v for k, v in cv["oof"].items() if k not in ("n", "patients") and not isinstance(v, dict) and not k.endswith(
        ("_ci_method", "_ci_reason", "_ci_draws"))}  # how an interval was made is said in the note, not a card
    o = cv["oof"]  # "bootstrap" unless every interval given is another (Wilson's ACC, Newcombe's AUC, ...)
    given = [k for k in ("acc", "auc") if _finite(o.get(f"{k}_ci"))]
    kind = "" if given and all(o.get(f"{k}_ci_method") for k in given) else "bootstrap "
    note = f"brackets are 95% {kind}intervals" + (f" over {o['patients']} patients" + (
        " (each drawn patient brings all their images)" if kind else "") if o.get("patients") else "")
    if cv["oof"].get("acc_ci_method") == "wilson":
        reason = cv["oof"].get("acc_ci_reason")
        note += ("; ACC's is Wilson's score interval (" + (
            "too few images or patients per class to resample within classes" if reason == "few units per class"
            else "the models call every image one class, so resamples barely vary"
            if reason == "every image called one class" else "a bootstrap interval would be a point") + ")")
    why = auc_interval_why(o)  # few images, or patients, of a class; or a perfect separation
    if o.get("auc_ci_method") == "newcombe":
        note += f"; AUC's is Newcombe's score interval ({why})"
    elif o.get("auc_ci_method") == "delong-logit":
        note += f"; AUC's is DeLong's on the logit scale ({why})"
    elif o.get("auc_ci_method") == "score":
        note += f"; AUC's is a score interval of the mean one-vs-rest AUC ({why})"
    elif o.get("auc_ci_method") == "label-mean":
        note += f"; AUC's is the mean of the ends of the labels' own intervals ({why})"
    source = pooled_from(cv)
    note += op_cards(cv)[1] + "; " + source[0].lower() + source[1:].rstrip(".")  # (op: its intervals)
    if cv.get("code_note"):  # folds of another medtrain (cv.md says it too)
        note += "; " + cv["code_note"][0].lower() + cv["code_note"][1:]
    spread = _test_spread(cv)
    if spread:  # cv.md said so; the report had not
        note += "; " + spread
    note += val_note(cv, "these pooled figures")  # cv.md said so; the report had dropped it (a statistician's audit)
    unsummarised = [k for k in _UNSUMMARISED if folds and k in folds[0]]  # "–": not on one scale (cv.md's too)
    return {"folds": folds, "pooled": {**pooled, **op_cards(cv)[0]}, "pooled_note": note, "config": config, "split_origin": split_origin, "shape": shape,
            "mean": dict.fromkeys(unsummarised), "std": dict.fromkeys(unsummarised),
            "threshold_note": threshold_note(cv), "label_tables": label_tables(cv) + op_label_table(cv),  # as cv.md has them
            "labels": {k: column_label(k) for k in _COLUMNS},  # folds.png's names: the table's headers, not raw keys
            "fold_table": fold_table(cv, _COLUMNS),  # cv.md's per-fold table: its headers, sizes, epochs and times
            "choices": choices_table(cv), "choices_note": _choices_note(config),
            "unread": unread_settings(config),  # a linear probe's: left out of its settings table, as a run's report does
            "title": f"{cv.get('dataset', '')} · {cv['folds']}-fold cross-validation (held out: {cv['held_out']}; "
                     f"pooled over {cv['oof']['n']} out-of-fold predictions)"}


def _choices_note(config: dict) -> str:
    """The settings table's word on its autos: each fold decided its own (the table showed ``class_weights = auto``
    of folds that kept two rules)."""
    autos = sorted(k for k in CHOICE_NAMES if str(config.get(k, "")).startswith("auto"))
    return (f"Settings at auto ({', '.join(autos)}) were decided by each fold for itself: {CHOICES_TITLE}, above, "
            "gives what each applied.") if autos else ""


def _finite(ci) -> bool:
    """Whether ``ci`` is an interval (not ``[nan, nan]``, nor ``null`` read back from JSON)."""
    return ci is not None and all(v is not None and np.isfinite(v) for v in ci)


def summarise(runs: list[dict], run_dirs: list[Path], bootstrap: int = 1000, seed: int = 0) -> dict:
    """Per-fold metrics, their mean and std, and the pooled out-of-fold AUC/ACC with bootstrap CIs."""
    held_out = {r["cv"]["held_out"] for r in runs}
    if len(held_out) != 1:
        raise MedtrainError(f"the folds held out different splits ({sorted(map(str, held_out))})")
    held_out = held_out.pop()
    task = runs[0]["task"]
    per_fold = []
    for r in runs:
        row = {"fold": r["cv"]["fold"], "sizes": r["sizes"], "best_epoch": r["best_epoch"], "wall_s": r["wall_s"],
               **({"patients": g} if (g := (r.get("data") or {}).get("groups")) else {}),  # grouped data's
               **({"choices": c} if (c := fold_choices(r)) else {})}
        for name, (split, key) in FOLD_METRICS.items():
            if key in r.get(split, {}):
                row[name] = r[split][key]
        # each fold's own, chosen on its validation split (how stable it is), as chosen and on the raw scale
        row.update(fold_thresholds(r, task))
        op = (r.get("operating_point") or {}).get("test")
        if op and "per_label" in op:  # a multi-label run's: the means over labels of its per-label rates
            row.update({k: _rate(op["summary"][k[len("test_"):]]) for k in LABEL_OP_METRICS})
        elif op:  # the cross-validation report left the operating point out (a user walkthrough)
            row["test_sensitivity"], row["test_specificity"] = op["sensitivity"], op["specificity"]
        per_fold.append(row)
    summary = {name: (_spread if name == THRESHOLD_RAW else _mean_std)([f[name] for f in per_fold]) for name in _COLUMNS
               if name in per_fold[0] and name not in _UNSUMMARISED}
    pooled_saved = read_pooled(run_dirs, held_out)  # each fold's file read once
    y, s, groups = pooled_saved.labels, pooled_saved.scores, pooled_saved.groups
    oof = {"auc": metrics.auc(y, s, task), "acc": metrics.acc(y, s, task), "n": int(len(y))}
    if metrics.repeated(groups):
        oof["patients"] = len(set(groups))  # the intervals resample patients
    oof.update(metrics.acc_auc_ci(y, s, task, bootstrap, seed, groups, oof["acc"]))
    labels = pooled_per_label(y, s, task, (runs[0].get("data") or {}).get("classes"), bootstrap, seed, groups)
    if labels:  # the mean over labels had hidden a label at chance (a user walk)
        oof["per_label"] = labels
    oof.update({"operating_point": op} if (op := pooled_operating_point(runs, run_dirs, held_out, task, y, groups)) else {})
    per_label = _label_rates(runs, task)
    decided = [val_decided(r) for r in runs]
    return {"folds": len(runs), "held_out": held_out, "task": task, "per_fold": per_fold, "summary": summary,
            "val_decided": [d for d in VAL_DECISIONS if any(d in f for f in decided)],  # in one order
            "oof": oof, **({"operating_point_per_label": per_label} if per_label else {}),
            **({"threshold_scale": SCALE} if TEMPERATURE in per_fold[0] else {}),
            # folds an older medtrain trained, reused by a rerun after an upgrade: named, as compare names cells
            **({"code_note": note} if (note := units_code_note(
                [(f"fold {r['cv']['fold']}", r) for r in runs], "folds")) else {})}


def to_markdown(cv: dict) -> str:
    """The per-fold table, mean ± std, the pooled out-of-fold line and, per label, the tables of the report."""
    table = fold_table(cv, _COLUMNS)  # the report's per-fold table too
    lines = ["| " + " | ".join(table["head"]) + " |", "|" + "---|" * len(table["head"])]
    lines += ["| " + " | ".join(row) + " |" for row in (*table["rows"], table["mean"])]
    o = cv["oof"]
    lines.append("")
    lines.append(f"Pooled out-of-fold ({cv['held_out']} folds, {o['n']} images): {auc_acc_line(o, digits=3)}"
                 + val_note(cv, "these figures"))
    lines += ["", op_line(cv)] if op_line(cv) else []  # the pooled operating point beside the pooled AUC
    note = threshold_note(cv)
    if note:
        lines += ["", note]
    choices = choices_table(cv)
    if choices and "line" in choices:
        lines += ["", f"{choices['title']}: {choices['line']}."]
    elif choices:
        lines += markdown([choices])
    lines += markdown(label_tables(cv) + op_label_table(cv))
    lines.append("")
    lines.append(pooled_from(cv))
    spread = _test_spread(cv)
    if spread:
        lines.append(spread[0].upper() + spread[1:] + ".")
    if cv.get("code_note"):
        lines += ["", cv["code_note"] + "."]
    return "\n".join(lines) + "\n"


def _test_spread(cv: dict) -> str | None:
    """What the official test columns' ± is where every fold scores one test set."""
    test_n = {f["sizes"]["test"] for f in cv["per_fold"]}
    if cv["held_out"] != "val" or len(test_n) != 1 or not any(k.startswith("test") for k in cv["summary"]):
        return None
    return (f"the test columns score each of the {len(cv['per_fold'])} fold models on the same {test_n.pop()} test "
            "images: their ± is the spread between the models, not a sampling interval of the test set")
