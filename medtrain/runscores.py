"""A finished run's network scored on a split as the run scored its test split, and the evaluation written into
its folder (``eval_*.json``, per-image predictions): ``eval`` of the run's own splits (:func:`medtrain.evaluate`),
of external data (:mod:`medtrain.external`) and against another run (:mod:`medtrain.versus`)."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from medtrain import operating_point, rundir
from medtrain._io import WriteFailed, write_json
from medtrain._predictions_csv import write_predictions
from medtrain.data import Split
from medtrain.errors import MedtrainError
from medtrain.evaluation.evaluate import evaluate_split
from medtrain.reports.summary import auc_acc_line, operating_point_line
from medtrain.runmodel import RunModel, float32_default


def score_split(run: RunModel, split: Split) -> dict:
    """A finished run's network scored on ``split`` as the run scored its test split: its TTA, MC dropout,
    calibration temperature and operating point, all as chosen on its validation split (the per-image scores
    left out). ``eval`` of the run's own splits and of external data (:mod:`medtrain.external`) use it."""
    return score_and_keep(run, split)[0]


#: what each ``auc_ci_method`` is, for :func:`interval_rule_note` (no method: the percentile bootstrap's)
_AUC_CI_RULES = {None: "the bootstrap's", "newcombe": "Newcombe's score interval", "delong-logit":
                 "DeLong's on the logit scale", "score": "a score interval of the mean one-vs-rest AUC",
                 "label-mean": "the mean of the labels' own intervals"}


def interval_rule_note(recorded: dict, res: dict) -> str | None:
    """A line where this evaluation's AUC interval (``res``) was made by another rule than the one ``recorded`` in
    the run's ``metrics.json`` (an upgrade: a multi-label mean AUC now takes the mean of its labels' intervals where
    a label has few units), so the two files' intervals differ for a reason said, not silently (an upgraded user's
    eval had printed [0.722, 0.931] beside the report's [0.794, 0.902]); None where the rules are the same or the
    run recorded no interval."""
    before, now = recorded.get("auc_ci") or (), res.get("auc_ci") or ()
    if len(before) != 2 or any(v is None for v in before) or len(now) != 2:
        return None
    old, new = recorded.get("auc_ci_method"), res.get("auc_ci_method")
    if old == new or np.allclose(before, now, atol=5e-4, equal_nan=True):
        return None
    shown = "[{:.3f}, {:.3f}]"
    return (f"note: the AUC interval its metrics.json records, {shown.format(*before)}, is "
            f"{_AUC_CI_RULES.get(old, old)}, by the medtrain that trained it; this evaluation's, "
            f"{shown.format(*now)}, is {_AUC_CI_RULES.get(new, new)}, today's rule")


def recorded_interval_notes(recorded: dict, res: dict) -> list[str]:
    """What eval says of the intervals a run's ``metrics.json`` records (``recorded``, its split's block) beside
    this evaluation's (``res``): drawn by an older bootstrap (images freely, before ``<name>_ci_draws`` was
    recorded), or an AUC interval of another rule (:func:`interval_rule_note`)."""
    drawn = any(v is not None for v in recorded.get("auc_ci") or ())  # [None, None]: no bootstrap (--bootstrap 0)
    notes = ["note: the intervals in its metrics.json came from an older bootstrap (images drawn freely, before "
             "medtrain recorded <name>_ci_draws); these are today's (drawn within each class)"] \
        if drawn and "auc_ci_draws" not in recorded else []
    rule = interval_rule_note(recorded, res)
    return notes + ([rule] if rule else [])


def score_and_keep(run: RunModel, split: Split) -> tuple[dict, dict]:
    """:func:`score_split` and the per-image scores it leaves out (``scores``, ``scores_scaled``, ``entropy``)."""
    cfg, meta = run.cfg, run.meta
    names = {str(j): n for j, n in enumerate(run.label_names)}
    with float32_default():  # (external data and another run's images are scored here too)
        res = evaluate_split(run.module, split, names, bootstrap=cfg.bootstrap, seed=cfg.seed,
                             tta=rundir.run_tta(cfg, meta), mc_dropout=cfg.mc_dropout,
                             temperature=meta.get("temperature"), **_op_args(meta, run.label_names))
    kept = {k: res.pop(k, None) for k in ("scores", "scores_scaled", "entropy")}
    if "operating_point" in res:
        res["operating_point"] = {**operating_point_origin(meta), **res["operating_point"]}
    return res, kept


def _op_args(meta: dict, names) -> dict:
    """:func:`evaluate_split`'s operating-point arguments from the run's weights' metadata."""
    op = operating_point.from_meta(meta, names)
    if op is None:
        return {}
    return {"thresholds": list(op.threshold)} if op.per_label else {"threshold": op.threshold, "positive": op.positive}


def operating_point_origin(meta: dict) -> dict:
    """How a run's threshold was chosen, as ``metrics.json`` records it: ``rule`` (``youden``,
    ``sensitivity=0.95``, ...; from the weights' metadata, so a model handed on without ``metrics.json`` says it
    too) and ``chosen_on`` (training chooses it on the run's validation split: :func:`medtrain.rundir.write_run`).
    An ``eval_*.json`` had held the threshold alone: a reader of an external evaluation could not tell which
    operating point its rates were at. A multi-label run's also names the labels that kept 0.5 (``not_chosen``:
    its validation split held no positive or no negative image of them)."""
    op = operating_point.from_meta(meta, [])  # (the positive class is not needed here)
    if op is None or not op.rule:
        return {}
    return {"rule": op.rule, "chosen_on": "val", **({"not_chosen": list(op.not_chosen)} if op.per_label else {})}


def _operating_point_name(op: dict) -> str:
    """The printed line's name of the operating point: its rule and where it was chosen, where known."""
    if not op.get("rule"):
        return "operating point"
    where = {"val": "the run's validation split"}.get(op.get("chosen_on"), op.get("chosen_on"))
    return f"operating point {op['rule']}" + (f", chosen on {where}" if where else "")


def write_eval_predictions(run_dir: Path, name: str, run: RunModel, split: Split, kept: dict) -> None:
    """An evaluation's per-image predictions as ``run_dir / name``, in the format of the run's own
    ``predictions_test.csv`` (input, true label, probabilities, prediction, correct)."""
    meta = run.meta
    names = {str(j): n for j, n in enumerate(run.label_names)}
    entropy = kept.get("entropy")
    with _naming_the_file(run_dir / name, shown=False):
        write_predictions(run_dir / name, split.labels.numpy(), kept["scores"],
                          None if entropy is None else np.asarray(entropy), names, meta["task"],
                          kept.get("scores_scaled"), split.sources,
                          op.decision if (op := operating_point.from_meta(meta, run.label_names)) else None,
                          split.groups)


def write_scores(run_dir: Path, where: str, res: dict, name: str, verbose: bool = True) -> None:
    """Print ``res`` (:func:`score_split`) as scored on ``where`` and write it to ``run_dir / name``."""
    if verbose:  # before the file: a run folder that cannot be written (an archive, a colleague's) still shows it
        print(f"{run_dir} on {where}: {auc_acc_line(res)}")
        if "calibration" in res:
            c = res["calibration"]
            print(f"  ECE {c['ece']:.4f} -> {c['ece_scaled']:.4f} at temperature {c['temperature']:.3f}")
        if "operating_point" in res:
            op = res["operating_point"]
            # on the split it was chosen on: said as the report says it (eval --split val had printed them bare)
            own = "; in-sample: the threshold was chosen on these images, so these rates read optimistic" \
                if op.get("chosen_on") and op.get("chosen_on") == where else ""
            print("  " + operating_point_line(op, _operating_point_name(op)) + own)
    write_eval_file(run_dir, name, res, verbose)


def write_eval_file(run_dir: Path, name: str, res: dict, verbose: bool = True) -> None:
    """The one writer of a run's ``eval_*.json`` files (its own splits, external data, another run)."""
    with _naming_the_file(run_dir / name, shown=verbose):
        write_json(run_dir / name, res)
    if verbose:
        print(f"  written to {run_dir / name}")


@contextmanager
def _naming_the_file(path: Path, shown: bool) -> Iterator[None]:
    """A file of an evaluation that cannot be written (a read-only run folder: an archive, a colleague's) named
    in the error line, and, where the evaluation was printed (``shown``), said to be the whole of it: "cannot write
    in RUN (Permission denied)" after the printed numbers, exit 2, had named neither the file nor what was lost."""
    try:
        yield
    except MedtrainError as e:
        refused = e.__context__ if isinstance(e.__context__, OSError) else None  # (the folder's OSError)
        if not isinstance(e, WriteFailed) and refused is None:  # not a write the storage refused
            raise
        reason = getattr(e, "reason", "") or refused.strerror or str(e)
        said = "; the evaluation printed above is complete: only this file of it is missing" if shown else ""
        message = f"cannot write {path} ({reason}){said}"
        raise (WriteFailed(message, path, e.reason) if isinstance(e, WriteFailed) else MedtrainError(message)) \
            from None
