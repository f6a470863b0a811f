"""A cross-validation's thresholds and per-label figures (:mod:`medtrain.crossval`'s summary, ``cv.md`` and report).

Each fold chooses its threshold (a multi-label fold one per label) on its own validation split's *calibrated*
probabilities, and each fold fitted its own temperature T: 0.105, 1.0 and 0.068 had made one label's thresholds
0.441, 0.393 and 0.647, read "0.494 ± 0.135", while on the raw (uncalibrated) scale they were 0.494, 0.393 and 0.510
(a user walk). So each fold's threshold is stated both as chosen and on the raw scale,
:func:`medtrain.operating_point.threshold_on_raw_scale` (``sigmoid(T * logit(t))``, as ``predict --no-calibration``
states it), and their spread (mean, std, range) is over the raw ones. A multi-label task's pooled out-of-fold AUC
of each label (:func:`medtrain.metrics.per_class` and :func:`medtrain.metrics.per_class_ci`, the intervals a run
gives its labels) shows what the mean over labels hides: one label at chance. :func:`label_tables` makes the
per-label tables once, and :func:`fold_table` the per-fold table (its headers, sizes, patients, epochs and times),
for ``cv.md`` and the HTML report alike.
"""
from __future__ import annotations

import numpy as np

from medtrain import metrics
from medtrain.evaluation import apply_temperature
from medtrain.operating_point import threshold_on_raw_scale
from medtrain.tasks import MULTILABEL

THRESHOLD = "threshold"  #: each fold's threshold as chosen (on its calibrated validation probabilities)
TEMPERATURE = "temperature"  #: each fold's fitted temperature (with an operating point)
THRESHOLD_RAW = "threshold_raw"  #: ... that threshold on the raw scale; the spread over the folds is of these
#: what cv.json says of its thresholds (its key ``threshold_scale``), and the report and cv.md in their words
SCALE = ("each fold's threshold as chosen on its validation split's calibrated probabilities (threshold, thresholds) "
         "and on the raw, uncalibrated scale, sigmoid(T * logit(t)) with the fold's temperature T (threshold_raw, "
         "thresholds_raw); mean, std, min and max are over the raw ones: the folds fitted their own temperatures, "
         "so their calibrated thresholds are not on one scale")
NOT_ONE_SCALE = ("each fold's calibrated probabilities are scaled by its own temperature, so the thresholds chosen on "
                 "them are not on one scale: the spread is over the raw ones")


def raw_threshold(threshold: float, temperature, task: str) -> float:
    """``threshold`` (chosen on probabilities calibrated at ``temperature``) on the raw scale, as
    :meth:`medtrain.predictor.Predictor.settings` states it uncalibrated (the calibrated probabilities of a raw 0 and
    1 bound it); itself where T is None or 1."""
    if temperature is None or not np.isfinite(float(temperature)) or float(temperature) == 1.0:
        return float(threshold)
    ends = np.array([[0.0], [1.0]]) if task == MULTILABEL else np.array([[1.0, 0.0], [0.0, 1.0]])
    lowest, highest = apply_temperature(ends, task, float(temperature))[:, -1].astype(np.float32).tolist()
    return threshold_on_raw_scale(threshold, float(temperature), lowest, highest)


def fold_thresholds(run: dict, task: str) -> dict:
    """A fold's row entries of its operating point: ``threshold`` (multi-label: ``thresholds`` by label and
    ``thresholds_not_chosen``), ``temperature`` and the raw-scale ``threshold_raw`` (``thresholds_raw``)."""
    chosen = run.get("operating_point") or {}
    t = (run.get("calibration") or {}).get(TEMPERATURE)
    temperature = float("nan") if t is None else float(t)
    if THRESHOLD in chosen:
        return {THRESHOLD: chosen[THRESHOLD], TEMPERATURE: temperature,
                THRESHOLD_RAW: raw_threshold(chosen[THRESHOLD], t, task)}
    if "thresholds" in chosen:
        return {"thresholds": chosen["thresholds"], "thresholds_not_chosen": list(chosen.get("not_chosen") or []),
                TEMPERATURE: temperature,
                "thresholds_raw": {n: raw_threshold(v, t, task) for n, v in chosen["thresholds"].items()}}
    return {}


def rate(v) -> float:
    return float("nan") if v is None else float(v)  # (undefined: NaN, written as null in metrics.json)


def mean_std(values) -> dict:
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}


def spread(values) -> dict:
    """:func:`mean_std` with the range: the folds' raw thresholds, whose stability a reader judges by both."""
    v = np.asarray(values, np.float64)
    return {**mean_std(v), "min": float(v.min()), "max": float(v.max())}


def label_rates(runs: list[dict], task: str = MULTILABEL) -> dict | None:
    """A multi-label task's per-label test sensitivity and specificity, each fold at its own thresholds (chosen on
    its validation split), as the binary rates are summarised: mean and std (ddof 1) over the folds, here over
    those where the label's rate is defined (``folds``: how many); and ``threshold_raw``, the spread of the label's
    raw-scale thresholds over the folds that chose one. None without per-label operating points."""
    ops = [((r.get("operating_point") or {}).get("test") or {}).get("per_label") for r in runs]
    if not ops or not all(ops):
        return None
    raws = [fold_thresholds(r, task) for r in runs]
    out = {}
    for name in ops[0]:
        out[name] = {}
        for k in ("sensitivity", "specificity"):
            v = np.array([rate((op.get(name) or {}).get(k)) for op in ops])
            v = v[np.isfinite(v)]
            out[name][k] = {**(mean_std(v) if len(v) else {"mean": float("nan"), "std": float("nan")}),
                            "folds": int(len(v))}
        chosen = [f["thresholds_raw"][name] for f in raws if name in f.get("thresholds_raw", {})
                  and name not in f["thresholds_not_chosen"]]  # a fold that kept 0.5 is left out
        out[name][THRESHOLD_RAW] = {**(spread(chosen) if chosen else dict.fromkeys(("mean", "std", "min", "max"), float(
            "nan"))), "folds": len(chosen)}
    return out


def pooled_per_label(y, s, task: str, classes, bootstrap: int, seed: int, groups) -> dict | None:
    """A multi-label task's pooled out-of-fold AUC of each label with its interval, as a run's test split gives its
    labels theirs (:func:`medtrain.metrics.per_class_ci`: the bootstrap over the same units as the pooled mean's,
    Newcombe's where a label has few units of a side or separates perfectly), and its positives. None otherwise."""
    if task != MULTILABEL:
        return None
    names = list(classes.values()) if isinstance(classes, dict) else list(classes or ())
    if len(names) != s.shape[1]:
        names = [str(i) for i in range(s.shape[1])]
    label_names = {str(i): n for i, n in enumerate(names)}
    per = metrics.per_class(y, s, task, label_names)
    cis = metrics.per_class_ci(y, s, task, label_names, bootstrap, seed, groups=groups)
    keep = ("auc_ci", "auc_ci_draws", "auc_ci_method", "auc_ci_reason")
    return {name: {"auc": c["auc"], "positives": c["support"], **{k: v for k, v in cis[name].items() if k in keep}}
            for name, c in per.items()}


def kept_one(cv: dict) -> bool:
    """Whether every fold recorded a temperature and kept it at 1: its calibrated scale is the raw one."""
    folds = cv.get("per_fold") or []
    return bool(folds) and all(f.get(TEMPERATURE) == 1 for f in folds)


#: which probabilities are pooled: a reader pooling the calibrated columns got another AUC (0.496 for 0.557)
POOLED_FROM = ("Pooled from the fold runs' uncalibrated probabilities (the p columns of predictions_*.csv): each "
               "fold fitted its own temperature, so its calibrated ones are not on one scale.")
#: ... where every fold kept T = 1 (the walk's folds): its calibrated probabilities are its uncalibrated ones
POOLED_FROM_T1 = ("Pooled from the fold runs' probabilities (the p columns of predictions_*.csv): every fold kept its "
                  "temperature at 1, so they are the calibrated ones too.")


def pooled_from(cv: dict) -> str:
    """:data:`POOLED_FROM`, or :data:`POOLED_FROM_T1` where every fold kept T = 1 (cv.md had said each fold "fitted
    its own temperature" beside a temperature column of 1.000 in every row: an evidence walk)."""
    return POOLED_FROM_T1 if kept_one(cv) else POOLED_FROM


def threshold_note(cv: dict) -> str | None:
    """The sentence under a binary task's per-fold table (cv.md and the report): the raw thresholds' spread."""
    t = (cv.get("summary") or {}).get(THRESHOLD_RAW)
    if not t:
        return None
    folds = cv["per_fold"]
    chosen = ", ".join(f"{f[THRESHOLD]:.4f} (T {_num(f.get(TEMPERATURE), 3)})" for f in folds)
    return (f"Threshold chosen on each fold's validation split, on its calibrated probabilities: {chosen}; on the raw "
            f"(uncalibrated) scale, sigmoid(T·logit(t)) with the fold's temperature T: mean {t['mean']:.4f} ± "
            f"{t['std']:.4f}, range {t['min']:.4f} to {t['max']:.4f} over {len(folds)} folds (each fold's in the "
            f"columns above; its test rates are at its own). " + (
                "Every fold kept its temperature at 1, so its calibrated and raw thresholds are the same."
                if kept_one(cv) else NOT_ONE_SCALE[0].upper() + NOT_ONE_SCALE[1:] + "."))


def _num(v, digits: int = 4) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def _interval(r: dict) -> str:
    ci = r.get("auc_ci")
    if ci is None or any(v is None or not np.isfinite(v) for v in ci):
        return "–"
    how = {"newcombe": " (Newcombe)"}.get(r.get("auc_ci_method"), f" ({r['auc_ci_method']})" if r.get(
        "auc_ci_method") else "")
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]{how}"


def _over_folds(r: dict) -> str:
    """A label's rate over the folds where it is defined: mean ± std from 2 folds, the one fold's value marked as
    such (a std of one value had read "± 0.000", a spread of none), "–" where no fold defines it."""
    folds = r.get("folds", 0)
    return f"{r['mean']:.3f} ± {r['std']:.3f}" if folds >= 2 else f"{r['mean']:.3f} (1 fold)" if folds == 1 else "–"


def label_tables(cv: dict) -> list[dict]:
    """A multi-label cross-validation's per-label tables, each ``{"title", "head", "rows"}`` (cells as text), which
    cv.md and the report both show: the pooled out-of-fold AUC per label, the test rates at each fold's own
    thresholds, and the thresholds (as chosen and on the raw scale, their spread over the raw ones)."""
    tables = []
    o = cv["oof"]
    if o.get("per_label"):
        unit = f"over {o['patients']} patients" if o.get("patients") else "over images"
        tables.append({"title": f"Pooled out-of-fold AUC per label ({cv['held_out']} folds, {o['n']} images; 95% "
                                f"bootstrap intervals {unit} unless marked; their mean is the pooled AUC)",
                       "head": ["label", "AUC", "95% CI", "positives"],
                       "rows": [[name, _num(r["auc"], 3), _interval(r), str(r["positives"])]
                                for name, r in o["per_label"].items()]})
    per_label = cv.get("operating_point_per_label")
    if not per_label:
        return tables
    tables.append({"title": "Operating point per label (test; each fold at its own thresholds, chosen on its "
                            "validation split; mean ± std over the folds where defined)",
                   "head": ["label", "sensitivity", "specificity"],
                   "rows": [[name, _over_folds(r["sensitivity"]), _over_folds(r["specificity"])]
                            for name, r in per_label.items()]})
    folds = cv["per_fold"]
    if not folds or not all("thresholds" in f for f in folds):
        return tables
    scaled = [f.get(TEMPERATURE) is not None and np.isfinite(f[TEMPERATURE]) and f[TEMPERATURE] != 1 for f in folds]
    rows = []
    for name, r in per_label.items():
        t = r.get(THRESHOLD_RAW) or {"folds": 0}
        cells = []
        for f, s in zip(folds, scaled):
            raw = f.get("thresholds_raw", {}).get(name)
            cells.append(f"{f['thresholds'][name]:g} (kept)" if name in f.get("thresholds_not_chosen", ()) else
                         "–" if name not in f["thresholds"] else f"{f['thresholds'][name]:.4f}" + (
                             f" (raw {raw:.4f})" if s and raw is not None else ""))
        over = ("–", "–") if not t["folds"] else (f"{t['mean']:.4f} (1 fold)", f"{t['min']:.4f}") if t["folds"] == 1 \
            else (f"{t['mean']:.4f} ± {t['std']:.4f}", f"{t['min']:.4f} to {t['max']:.4f}")
        rows.append([name, *cells, *over])
    tables.append({"title": "Thresholds per label, each fold's chosen on its validation split's calibrated "
                            "probabilities and (raw ...) on the raw scale, sigmoid(T·logit(t)) with the fold's "
                            "temperature T; mean ± std and range over the raw ones of the folds that chose one ("
                            + NOT_ONE_SCALE.split(", so")[0] + ")",
                   "head": ["label", *(f"fold {f['fold']} (T {_num(f.get(TEMPERATURE), 3)})" if TEMPERATURE in f
                                       else f"fold {f['fold']}" for f in folds), "mean ± std (raw)", "range (raw)"],
                   "rows": rows})
    return tables


def column_label(name: str) -> str:
    """A per-fold column's header, cv.md's and the report's: ``val_auc`` -> ``val AUC``."""
    return name.replace("_", " ").replace("auc", "AUC").replace("acc", "ACC")


def cell(v, name: str) -> str:
    """A per-fold value as cv.md and the report show it: a threshold to the digits the run's report shows, the
    rest (a temperature as the run's summary line gives it) to 3; "–" where undefined."""
    return _num(v, 4 if name in (THRESHOLD, THRESHOLD_RAW) else 3)


def fold_table(cv: dict, columns) -> dict:
    """The per-fold table cv.md and the report both show, cells as text: ``{"head", "rows", "mean"}`` (``mean``:
    the mean ± std row). Columns: the fold, its train/val/test images, its patients where the folds' data name
    patients (``per_fold[i]["patients"]``), each of ``columns`` the folds have, the kept epoch and the time."""
    folds, summary = cv["per_fold"], cv.get("summary") or {}
    names = [n for n in columns if n in summary or (folds and all(n in f for f in folds))]
    grouped = bool(folds) and all(f.get("patients") for f in folds)
    parts = ("train", "val", "test")
    head = ["fold", "train/val/test", *(["patients train/val/test"] if grouped else []),
            *map(column_label, names), "kept epoch", "time (s)"]
    rows = [[str(f["fold"]), "/".join(str((f.get("sizes") or {}).get(k, "–")) for k in parts),
             *(["/".join(str(f["patients"].get(k, "–")) for k in parts)] if grouped else []),
             *(cell(f[n], n) for n in names), str(f["best_epoch"] + 1) if "best_epoch" in f else "–",
             "–" if f.get("wall_s") is None else f"{f['wall_s']:.0f}"] for f in folds]
    ms = [f"{cell(summary[n]['mean'], n)} ± {cell(summary[n]['std'], n)}" if n in summary
          else "–" for n in names]  # a calibrated threshold is on its fold's own scale: no mean of them
    return {"head": head, "rows": rows, "mean": ["mean ± std", "", *([""] if grouped else []), *ms, "", ""]}


def markdown(tables: list[dict]) -> list[str]:
    """:func:`label_tables` as cv.md's lines."""
    lines = []
    for t in tables:
        lines += ["", t["title"] + ":", "", "| " + " | ".join(t["head"]) + " |", "|" + "---|" * len(t["head"])]
        lines += ["| " + " | ".join(row) + " |" for row in t["rows"]]
    return lines
