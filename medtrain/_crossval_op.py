"""A cross-validation's pooled out-of-fold operating point (:mod:`medtrain.crossval`'s summary, ``cv.md``, report).

With ``--operating-point`` each fold decides its held-out images at its own threshold (chosen on its validation
split): the ``prediction_at_operating_point`` column of its held-out predictions file. Pooled over the folds, those
decisions give one sensitivity and one specificity over every held-out image, with the Wilson intervals a single
run gives its test rates (:func:`medtrain.operating_point.rates_at`: clustered over patients where patients have
several images), where the folds had only given a mean ± std over K values (walk 'clinic', finding 6: 0.536 ±
0.153 for a pooled 88/164). Multi-label: each label's, from the labels the column names. Left out where the held-out
folds are validation folds (the thresholds were chosen on those very images: their rates there are the rule met
in-sample, not an estimate) or a fold's file has no such column.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from medtrain.operating_point import rates_at
from medtrain.tasks import BINARY, MULTILABEL

COLUMN = "prediction_at_operating_point"
RATES = ("sensitivity", "specificity")
#: how the pooled rates were made, in cv.json (``oof.operating_point.rule``'s companion ``pooled``)
POOLED = "each fold's decisions at its own threshold (its held-out prediction_at_operating_point), pooled"


def _decisions(run_dir: Path, held_out: str) -> list[str] | None:
    """The fold's ``prediction_at_operating_point`` cells, in its file's row order; None where it has none."""
    try:
        with open(Path(run_dir) / f"predictions_{held_out}.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        i = rows[0].index(COLUMN)
        return [r[i] for r in rows[1:]]
    except (OSError, IndexError, ValueError):
        return None


def _names(classes) -> list[str]:
    return [str(n) for n in (classes.values() if isinstance(classes, dict) else classes or ())]


def _rates(y, called, groups) -> dict:
    """Sensitivity and specificity of the 0/1 decisions ``called`` against the 0/1 labels ``y``, as a run's test
    rates (:func:`rates_at` at 0.5 on the decisions: the same counts and Wilson, or clustered Wilson, intervals)."""
    r = rates_at(np.asarray(y, int), np.asarray(called, np.float64), 0.5, 1, groups)
    out = {}
    for k in RATES:
        out.update({k: r[k], f"{k}_ci": r[f"{k}_ci"], f"{k}_counts": r[f"{k}_counts"]})
    out.update(n_pos=r["sensitivity_counts"][1], n_neg=r["specificity_counts"][1])
    return {**out, **({"patients": r["patients"]} if "patients" in r else {})}


def pooled_operating_point(runs: list[dict], run_dirs: list[Path], held_out: str, task: str, y, groups) -> dict | None:
    """``oof.operating_point`` of cv.json: ``rule``, ``pooled`` (:data:`POOLED`) and, binary, ``positive_class``,
    ``sensitivity``, ``specificity``, their ``_ci`` and ``_counts`` (``[hits, of]``), ``n_pos``, ``n_neg`` and
    (patients with several images) ``patients``; multi-label, ``per_label`` ``{name: those rates}``. ``y``: the pooled
    labels (the folds' files concatenated in order), ``groups``: their patients or None. None where the folds have
    no operating point, the held-out folds are validation folds, or a fold's file lacks the column."""
    ops = [r.get("operating_point") or {} for r in runs]
    rules = {op.get("rule") for op in ops}
    if held_out != "test" or len(rules) != 1 or None in rules:
        return None
    decided = [_decisions(d, held_out) for d in run_dirs]
    if any(c is None for c in decided):
        return None
    cells = [c for fold in decided for c in fold]
    if len(cells) != len(y):
        return None
    names = _names((runs[0].get("data") or {}).get("classes"))
    head = {"rule": rules.pop(), "pooled": POOLED}
    if task == BINARY:
        positive = {op.get("positive_class") for op in ops}
        if len(positive) != 1 or (pos := positive.pop()) not in names:
            return None
        is_pos = np.asarray(y).reshape(-1) == names.index(pos)
        return {**head, "positive_class": pos, **_rates(is_pos, [c == pos for c in cells], groups)}
    if task == MULTILABEL and names and not any(";" in n for n in names):
        y = np.asarray(y).reshape(len(cells), -1)
        called = [set(c.split(";")) if c else set() for c in cells]
        return {**head, "per_label": {n: _rates(y[:, j], [n in c for c in called], groups)
                                      for j, n in enumerate(names)}}
    return None


def _ci(ci) -> str:
    return "" if ci is None or any(v is None or not np.isfinite(v) for v in ci) else f" [{ci[0]:.3f}, {ci[1]:.3f}]"


def _rate(r: dict, k: str) -> str:
    v, (a, n) = r[k], r[f"{k}_counts"]
    return ("–" if v is None or not np.isfinite(v) else f"{v:.3f}{_ci(r.get(f'{k}_ci'))}") + f" ({a}/{n})"


def _over(op: dict) -> str:
    patients = op.get("patients") or next((r.get("patients") for r in (op.get("per_label") or {}).values()), None)
    return f"over {patients} patients" if patients else "over images"


def _unit(op: dict) -> str:
    return "95% Wilson intervals " + _over(op)


def op_line(cv: dict) -> str | None:
    """cv.md's (and the printed summary's) line of the binary pooled operating point, beside the pooled AUC."""
    op = (cv.get("oof") or {}).get("operating_point")
    if not op or "per_label" in op:
        return None
    return (f"Pooled out-of-fold operating point ({op['rule']}, positive {op['positive_class']}; each fold's decisions "
            f"at its own threshold): sensitivity {_rate(op, 'sensitivity')}, specificity {_rate(op, 'specificity')} "
            f"({_unit(op)})")


def op_cards(cv: dict) -> tuple[dict, str]:
    """The report's pooled cards of the binary operating point (``oof_sensitivity``, ``oof_specificity`` and their
    ``_ci``) and the clause its note adds (``"; ..."``); ``({}, "")`` without one."""
    op = (cv.get("oof") or {}).get("operating_point")
    if not op or "per_label" in op:
        return {}, ""
    cards = {f"oof_{k}{s}": op[f"{k}{s}"] for k in RATES for s in ("", "_ci")}
    (a, n), (b, m) = op["sensitivity_counts"], op["specificity_counts"]
    return cards, (f"; sensitivity's and specificity's are Wilson's score intervals ({_over(op)}): each fold's "
                   f"decisions at its own threshold ({op['rule']}, positive {op['positive_class']}), pooled, "
                   f"{a}/{n} and {b}/{m}")


def op_label_table(cv: dict) -> list[dict]:
    """A multi-label task's pooled operating point per label, as a table of cv.md and the report (``[]`` without)."""
    op = (cv.get("oof") or {}).get("operating_point")
    if not op or "per_label" not in op:
        return []
    return [{"title": f"Pooled out-of-fold operating point per label ({op['rule']}; each fold's decisions at its own "
                      f"thresholds, pooled; {_unit(op)})",
             "head": ["label", "sensitivity", "specificity"],
             "rows": [[n, _rate(r, "sensitivity"), _rate(r, "specificity")] for n, r in op["per_label"].items()]}]
