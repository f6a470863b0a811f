"""Study tables and overlaid learning curves from ``medtrain compare`` output directories.

``compare --out ROOT/GROUP`` leaves ``ROOT/GROUP/<cell>/seed<N>/metrics.json``, the cell named
``key=value,key=value``. :func:`collect` reads every such run under ``ROOT``; :func:`study_markdown`
tabulates mean ± std over seeds with, beyond ``compare``'s own summary, the train-validation loss gap
at the last epoch trained (``val_loss - train_loss``); :func:`overlay_curves` draws the train and
validation loss of two cells in one figure with the selected (best) epoch and the early-stopping point
of every seed marked.
"""
from __future__ import annotations

import csv
import io
import math
import os
import statistics
from pathlib import Path
from typing import Callable, Optional

from medtrain._io import eval_file, is_finished, read_metrics

__all__ = ["parse_cell", "collect", "row", "study_markdown", "study_csv", "marginal_markdown", "best_cell",
           "overlay_curves", "replay_early_stop"]



def parse_cell(name: str) -> dict:
    """``"weight_decay=0,batch_norm=true"`` -> ``{"weight_decay": "0", "batch_norm": "true"}``.

    A comma not followed by ``key=`` belongs to the previous value (``augment=flip,shift``).
    """
    out: dict[str, str] = {}
    if name in ("", "base"):
        return out
    last = None
    for part in name.split(","):
        if "=" in part:
            last, value = part.split("=", 1)
            out[last] = value
        elif last is not None:
            out[last] += "," + part
    return out


def collect(root: str | os.PathLike) -> list[dict]:
    """Every finished run under ``root/<group>/<cell>/seed*/``, grouped by (group, cell).

    Returns a list of ``{"group", "cell", "runs", "dirs"}`` sorted by group then cell, ``runs`` the
    metrics.json dicts in seed order. Unfinished runs (no metrics.json) are left out.
    """
    root = Path(root)
    cells: dict[tuple[str, str], dict] = {}
    if not root.is_dir():
        return []
    for seed_dir in sorted(d for d in root.glob("*/*/seed*") if is_finished(d)):
        cell_dir = seed_dir.parent
        group = cell_dir.parent.name
        key = (group, cell_dir.name)
        c = cells.setdefault(key, {"group": group, "cell": parse_cell(cell_dir.name), "runs": [], "dirs": []})
        run = read_metrics(seed_dir)  # a damaged file: one line naming it
        for split in ("val", "test"):  # written by ``medtrain eval RUN --split SPLIT``
            if (seed_dir / eval_file(split)).is_file():
                run[f"_eval_{split}"] = read_metrics(seed_dir, eval_file(split))
        c["runs"].append(run)
        c["dirs"].append(seed_dir)
    for c in cells.values():  # seed order, numerically (seed10 after seed9)
        order = sorted(range(len(c["dirs"])), key=lambda i: int(c["dirs"][i].name[4:] or 0))
        c["runs"] = [c["runs"][i] for i in order]
        c["dirs"] = [c["dirs"][i] for i in order]
    return [cells[k] for k in sorted(cells)]


def _mean_std(values: list) -> tuple[float, float]:
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def _gap(run: dict) -> Optional[float]:
    """Validation minus training loss at the last epoch trained."""
    h = run.get("history") or []
    if not h or h[-1].get("val_loss") is None or h[-1].get("train_loss") is None:
        return None
    return h[-1]["val_loss"] - h[-1]["train_loss"]


GETTERS: dict[str, Callable[[dict], object]] = {
    "test_acc": lambda r: r["test"]["acc"],
    "test_auc": lambda r: r["test"]["auc"],
    "val_auc": lambda r: r["val"]["auc"],
    "gap": _gap,
    "best_epoch": lambda r: r["best_epoch"] + 1,
    "stop_epoch": lambda r: r["stop_epoch"] + 1,
    "early_stopped": lambda r: 1.0 if r.get("early_stopped") else 0.0,
    "wall_s": lambda r: r.get("wall_s"),
    # ``medtrain eval`` of the saved weights (eval_val.json / eval_test.json), when present
    "reeval_val_auc": lambda r: (r.get("_eval_val") or {}).get("auc"),
    "reeval_test_acc": lambda r: (r.get("_eval_test") or {}).get("acc"),
    "reeval_test_auc": lambda r: (r.get("_eval_test") or {}).get("auc"),
}


def row(cell: dict) -> dict:
    """Mean and std over the cell's seeds of every quantity in ``GETTERS`` (epochs 1-based)."""
    r = {"technique": cell["group"], **cell["cell"], "seeds": len(cell["runs"])}
    for name, get in GETTERS.items():
        r[name], r[name + "_std"] = _mean_std([get(x) for x in cell["runs"]])
    r["early_stopped_n"] = int(round(r["early_stopped"] * len(cell["runs"]))) if cell["runs"] else 0
    return r


def study_markdown(cells: list[dict], keys: list[str]) -> str:
    """One row per cell: ``keys`` (``technique`` = group), seeds, test ACC/AUC, val AUC, gap, epochs, time."""
    reeval = any("_eval_test" in r for c in cells for r in c["runs"])
    head = keys + ["seeds", "test ACC", "test AUC", "val AUC", "val−train loss (last ep.)", "kept epoch",
                   "stop epoch", "early-stopped", "time/run (s)"]
    if reeval:
        head += ["re-eval test ACC", "re-eval test AUC", "re-eval val AUC"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        r = row(c)
        out = [str(r.get(k, "")) for k in keys] + [str(r["seeds"])]
        out += [f"{r[n]:.3f} ± {r[n + '_std']:.3f}" for n in ("test_acc", "test_auc", "val_auc", "gap")]
        out += [f"{r[n]:.1f} ± {r[n + '_std']:.1f}" for n in ("best_epoch", "stop_epoch")]
        out += [f"{r['early_stopped_n']}/{r['seeds']}", f"{r['wall_s']:.0f}"]
        if reeval:
            out += [f"{r[n]:.3f} ± {r[n + '_std']:.3f}" for n in ("reeval_test_acc", "reeval_test_auc",
                                                                  "reeval_val_auc")]
        lines.append("| " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


def study_csv(cells: list[dict], keys: list[str]) -> str:
    cols = keys + ["seeds"] + [f"{n}{s}" for n in GETTERS for s in ("", "_std")]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for c in cells:
        w.writerow(row(c))
    return buf.getvalue()


def marginal_markdown(cells: list[dict], key: str) -> str:
    """One row per value of ``key`` (``technique`` = group): every run with that value pooled.

    In a full factorial each value then averages over the same levels of every other factor, so the rows
    are comparable main effects; the std is over all pooled runs (seeds and the other factors).
    """
    pooled: dict[str, list[dict]] = {}
    for c in cells:
        value = c["group"] if key == "technique" else c["cell"].get(key, "")
        pooled.setdefault(value, []).extend(c["runs"])
    head = [key, "runs", "test ACC", "test AUC", "val AUC", "val−train loss (last ep.)", "stop epoch"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for value, runs in pooled.items():
        out = [value, str(len(runs))]
        for name in ("test_acc", "test_auc", "val_auc", "gap"):
            m, s = _mean_std([GETTERS[name](r) for r in runs])
            out.append(f"{m:.3f} ± {s:.3f}")
        m, s = _mean_std([GETTERS["stop_epoch"](r) for r in runs])
        out.append(f"{m:.1f} ± {s:.1f}")
        lines.append("| " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


def best_cell(cells: list[dict], where: Callable[[dict], bool] = lambda c: True) -> Optional[dict]:
    """The cell with the highest mean validation AUC among those ``where`` accepts (never test metrics)."""
    pool = [c for c in cells if c["runs"] and where(c)]
    if not pool:
        return None
    return max(pool, key=lambda c: _mean_std([r["val"]["auc"] for r in c["runs"]])[0])


def _label(cell: dict) -> str:
    extra = ", ".join(f"{k}={v}" for k, v in cell["cell"].items())
    return cell["group"] + (f" ({extra})" if extra else "")


def overlay_curves(a: dict, b: dict, path: str | os.PathLike, title: str = "",
                   replay_patience: Optional[int] = None) -> dict:
    """Train (dashed) and validation (solid) loss of every seed of cells ``a`` and ``b`` in one figure.

    ``a`` and ``b`` are cells as :func:`collect` returns them (``group``, ``cell``, ``runs`` with each run's
    ``history``, ``best_epoch``, ``stop_epoch`` and ``early_stopped``). The train line is each epoch's mean over
    its training steps, with augmentation and dropout on where the run uses them; its legend says so.

    ``o`` marks each seed's selected epoch (best validation AUC), ``x`` the epoch where early stopping
    ended the run (only for runs it stopped). With ``replay_patience``, runs that trained every epoch get
    a ``|`` where early stopping with that patience would have stopped them (:func:`replay_early_stop`).
    Returns what was drawn, for the caller's caption.
    """
    from medtrain.reports.plots import TRAIN_LOSS_NOTE, _save, figure  # outside pyplot: the caller's matplotlib backend stays as it is

    fig = figure(figsize=(7.5, 4.6))
    ax = fig.subplots()
    drawn = {}
    for cell, colour in ((a, "tab:blue"), (b, "tab:red")):
        label = _label(cell)
        info = []
        for i, run in enumerate(cell["runs"]):
            h = run["history"]
            ep = [e["epoch"] + 1 for e in h]
            first = i == 0
            alpha = 0.9 if first else 0.45
            ax.plot(ep, [e["train_loss"] for e in h], ls="--", color=colour, alpha=alpha, lw=1.2,
                    label=f"{label}: train ({TRAIN_LOSS_NOTE})" if first else None)
            ax.plot(ep, [e["val_loss"] for e in h], ls="-", color=colour, alpha=alpha, lw=1.6,
                    label=f"{label}: validation" if first else None)
            by_epoch = {e["epoch"]: e for e in h}
            best = by_epoch.get(run["best_epoch"])
            if best is not None:
                ax.plot(run["best_epoch"] + 1, best["val_loss"], "o", color=colour, ms=7, mfc="white", mew=1.8,
                        label="selected epoch (best val AUC)" if first and colour == "tab:blue" else None)
            if run.get("early_stopped"):
                stop = by_epoch.get(run["stop_epoch"])
                if stop is not None:
                    ax.plot(run["stop_epoch"] + 1, stop["val_loss"], "x", color="black", ms=9, mew=2,
                            label="early stop" if "early stop" not in drawn else None)
                    drawn["early stop"] = True
            entry = {"best_epoch": run["best_epoch"] + 1, "stop_epoch": run["stop_epoch"] + 1,
                     "early_stopped": bool(run.get("early_stopped"))}
            if replay_patience is not None and not run.get("early_stopped"):
                rep = replay_early_stop(h, replay_patience)
                entry["replayed_stop_epoch"] = rep["stop_epoch"] + 1 if rep["stopped"] else None
                entry["replayed_best_epoch"] = rep["best_epoch"] + 1
                if rep["stopped"]:
                    stop = by_epoch[rep["stop_epoch"]]
                    key = f"early stop would be here (patience {replay_patience})"
                    ax.plot(rep["stop_epoch"] + 1, stop["val_loss"], "|", color="black", ms=16, mew=2.5,
                            label=key if key not in drawn else None)
                    drawn[key] = True
            info.append(entry)
        drawn[label] = info
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(title or f"{_label(a)} vs {_label(b)}", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    _save(fig, path)
    return {k: v for k, v in drawn.items() if v is not True}


def replay_early_stop(history: list, patience: int, monitor: str = "val_auc", mode: str = "max",
                      min_delta: float = 0.0) -> dict:
    """Where early stopping would have ended a run that trained every epoch, read off its history.

    Same rule as Lightning's ``EarlyStopping`` (stop once ``patience`` consecutive epochs fail to beat
    the best value by more than ``min_delta``) and ``ModelCheckpoint`` (the first epoch with the best
    value is kept), applied to the curve as recorded. It says where early stopping would have cut *this*
    curve; a separate run with early stopping need not follow the same curve (CPU runs with one seed are
    not bit-reproducible here), so it is no substitute for that run. Returns 0-based ``stop_epoch``,
    ``best_epoch`` (the selection within the epochs up to the stop), ``stopped`` (before the last epoch)
    and the full curve's ``best_epoch_all``.
    """
    sign = 1.0 if mode == "max" else -1.0
    best_val, wait, stop, stopped = -math.inf, 0, None, False
    ckpt_val, ckpt_ep = -math.inf, None
    for h in history:
        v = sign * float(h[monitor])
        if v > ckpt_val:
            ckpt_val, ckpt_ep = v, h["epoch"]
        if v - min_delta > best_val:
            best_val, wait = v, 0
        else:
            wait += 1
        stop = h["epoch"]
        if wait >= patience:
            stopped = True
            break
    all_best = None
    if history:
        top = max(sign * float(h[monitor]) for h in history)
        all_best = next(h["epoch"] for h in history if sign * float(h[monitor]) == top)
    return {"stop_epoch": stop, "best_epoch": ckpt_ep, "stopped": stopped and stop != history[-1]["epoch"],
            "best_epoch_all": all_best}
