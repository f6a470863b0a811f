"""Comparison tables: mean ± std over each cell's runs (its seeds; a cross-validated cell's fold runs), as
Markdown and CSV."""
from __future__ import annotations

import csv
import io
import math
import statistics


def _mean_std(values: list[float]) -> tuple[float, float]:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0


def summarise(cells: list[dict]) -> list[dict]:
    """``cells``: ``{"cell": {key: value}, "runs": [metrics.json dicts]}`` -> one row per cell."""
    rows = []
    for c in cells:
        runs = c["runs"]
        row = dict(c["cell"])
        # a cross-validated cell's runs are its fold runs: counted as folds, not as seeds (a statistician's
        # audit found "seeds 3" for one seed of 3 folds, its std a between-fold spread)
        folds = {r["cv"]["fold"] for r in runs if r.get("cv")}
        row["seeds"], row["runs"] = len({r.get("seed") for r in runs}), len(runs)
        if folds:
            row["fold_runs"] = len(folds)  # not "folds": a grid may vary folds itself (its cell key)
        for name, get in (("test_acc", lambda r: r["test"]["acc"]), ("test_auc", lambda r: r["test"]["auc"]),
                          ("val_auc", lambda r: r["val"]["auc"]), ("best_epoch", lambda r: r["best_epoch"] + 1),
                          ("stop_epoch", lambda r: r["stop_epoch"] + 1), ("wall_s", lambda r: r["wall_s"])):
            m, s = _mean_std([get(r) for r in runs])
            row[name], row[name + "_std"] = m, s
        rows.append(row)
    return rows


def to_markdown(rows: list[dict], keys: list[str]) -> str:
    head = keys + ["seeds", "test ACC", "test AUC", "val AUC", "kept epoch", "stop epoch", "time (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r[k]) for k in keys] + [str(r["seeds"]) + (f" × {r['fold_runs']} folds" if r.get("fold_runs") else "")]
        one = r["runs"] < 2  # a std of one run is undefined, not 0: the mean alone
        cells += [f"{r[n]:.3f}" + ("" if one else f" ± {r[n + '_std']:.3f}") for n in ("test_acc", "test_auc", "val_auc")]
        cells += [f"{r[n]:.1f}" + ("" if one else f" ± {r[n + '_std']:.1f}") for n in ("best_epoch", "stop_epoch")]
        cells += [f"{r['wall_s']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict], keys: list[str]) -> str:
    cols = keys + ["seeds", "runs"] + [f"{n}{s}" for n in ("test_acc", "test_auc", "val_auc", "best_epoch", "stop_epoch",
                                                  "wall_s") for s in ("", "_std")]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:  # a std of one run is undefined: left empty, not 0
        w.writerow({k: ("" if k.endswith("_std") and r["runs"] < 2 else v) for k, v in r.items()})
    return buf.getvalue()
