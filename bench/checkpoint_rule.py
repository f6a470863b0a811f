"""Which epoch should a run keep? The best-validation checkpoint against two rules that select less noisily.

The default keeps the epoch of highest validation AUC (``ModelCheckpoint(monitor="val_auc")``). On a small
validation split (BreastMNIST: 78 images) that maximum is partly noise, and a maximum over 30 noisy epochs is
biased upwards on the split that picked it. Two candidates select less noisily: the **last** epoch (a one-cycle
schedule ends at a tiny rate, so the last weights are often as good) and the epoch ending the best **trailing
mean of 3** epochs' validation AUC.

A rule scored on the split it selected on looks better than it is, so each run's validation split is halved,
stratified, many times: each rule selects on one half and is scored on the other (then the halves swap), and
the held-out AUC and ACC (the balanced rule, argmax / 0.5) are averaged over the halvings. Selecting on half of
the split is noisier than selecting on all of it, which handicaps the two selecting rules against ``last``.

Each run is the default command with the test split dropped before training (``evaluate_test=False``) plus a
callback that keeps every epoch's validation scores (``val_scores.npz`` in the run directory), so no test
number is computed.

    python bench/checkpoint_rule.py --datasets breastmnist,retinamnist,pneumoniamnist --seeds 0,1,2 --out DIR

The last line of stdout is JSON: per run and per rule, the held-out validation AUC and ACC; per dataset, the
means.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import torch
import yaml
from lightning.pytorch.callbacks import Callback
from sklearn.model_selection import StratifiedKFold

from medtrain import metrics
from medtrain.tasks import MULTILABEL

RULES = ("best", "trailing-3", "last")


class ValScores(Callback):
    """Every training epoch's validation scores, computed as the validation step does (same precision
    context), saved as ``(epochs, N, K)`` to ``path`` when training ends."""

    def __init__(self, path: Path):
        self.path, self.epochs, self._batch = path, {}, []

    def on_validation_epoch_start(self, trainer, pl_module):
        self._batch = []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        with torch.no_grad(), trainer.precision_plugin.forward_context():
            self._batch.append(pl_module(batch[0]).float().cpu())

    def on_validation_epoch_end(self, trainer, pl_module):
        if not trainer.sanity_checking and self._batch:
            self.epochs[trainer.current_epoch] = metrics.scores_from_logits(torch.cat(self._batch),
                                                                            pl_module.task).numpy()

    def on_fit_end(self, trainer, pl_module):
        np.savez(self.path, scores=np.stack([self.epochs[e] for e in sorted(self.epochs)]))


def select(auc_per_epoch: np.ndarray, rule: str) -> int:
    """The epoch a rule keeps, given each epoch's validation AUC (ties: the earliest, as ModelCheckpoint)."""
    if rule == "last":
        return len(auc_per_epoch) - 1
    if rule == "best":
        return int(np.argmax(auc_per_epoch))
    k = int(rule.split("-")[1])
    trailing = np.array([auc_per_epoch[max(0, e - k + 1):e + 1].mean() for e in range(len(auc_per_epoch))])
    return int(np.argmax(trailing))


def held_out(scores: np.ndarray, y: np.ndarray, task: str, repeats: int, folds: int = 2) -> dict:
    """Per rule: mean held-out AUC and ACC over ``repeats`` stratified ``folds``-fold splits of validation (each
    rule selects on the other folds, is scored on the held-out one; a fold with one class has no AUC)."""
    out = {r: {"auc": [], "acc": []} for r in RULES}
    strata = y if task != MULTILABEL else np.zeros(len(y))
    for seed in range(repeats):
        for a, b in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), strata):
            auc_a = np.array([metrics.auc(y[a], s[a], task) for s in scores])
            for r in RULES:
                e = select(auc_a, r)
                out[r]["auc"].append(metrics.auc(y[b], scores[e][b], task))
                out[r]["acc"].append(metrics.acc(y[b], scores[e][b], task))
    return {r: {k: float(np.nanmean(v)) for k, v in d.items()} for r, d in out.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="breastmnist,retinamnist,pneumoniamnist")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--halvings", type=int, default=100)
    p.add_argument("--out", default="runs/checkpoint_rule")
    p.add_argument("--base", nargs="*", default=[], help="KEY=V settings every run shares (none: the default)")
    args = p.parse_args()

    from medtrain.api import train_or_reuse
    from medtrain.config import Config
    from medtrain.data import load_splits

    base = {k: yaml.safe_load(v) for k, _, v in (t.partition("=") for t in args.base)}

    rows = []
    for ds in args.datasets.split(","):
        y = load_splits(Config(dataset=ds)).val.labels.numpy()
        for seed in (int(s) for s in args.seeds.split(",")):
            out = Path(args.out) / f"{ds}-s{seed}"
            npz = out / "val_scores.npz"
            m = train_or_reuse({**base, "dataset": ds, "seed": seed, "progress": False, "bootstrap": 0, "out": str(out)},
                               callbacks=[ValScores(npz)], evaluate_test=False)
            task = m["task"]
            yy = y.reshape(-1) if task != MULTILABEL else y
            scores = np.load(npz)["scores"]
            per_epoch = np.array([metrics.auc(yy, s, task) for s in scores])
            logged = np.array([h["val_auc"] for h in m["history"]])
            row = {"dataset": ds, "seed": seed, "epochs": len(scores), "best_epoch": m["best_epoch"],
                   "max_abs_diff_vs_logged_auc": float(np.abs(per_epoch - logged).max()),
                   "full_val_auc": {r: float(per_epoch[select(per_epoch, r)]) for r in RULES},
                   "selected_epoch": {r: select(per_epoch, r) for r in RULES},
                   "held_out": held_out(scores, yy, task, args.halvings),
                   # selecting on 4/5 of the split: closer to selecting on all of it (the halves handicap it)
                   "held_out_5fold": held_out(scores, yy, task, max(1, args.halvings // 5), folds=5)}
            rows.append(row)
            h = row["held_out"]
            print(f"{ds:14s} s{seed}: best epoch {row['best_epoch']} (here {row['selected_epoch']['best']}, "
                  f"trailing {row['selected_epoch']['trailing-3']}), logged-AUC diff "
                  f"{row['max_abs_diff_vs_logged_auc']:.1e}; held-out AUC "
                  + ", ".join(f"{r} {h[r]['auc']:.4f}" for r in RULES) + "; ACC "
                  + ", ".join(f"{r} {h[r]['acc']:.4f}" for r in RULES), flush=True)
    summary = {}
    for key in ("held_out", "held_out_5fold"):
        summary[key] = {}
        for ds in dict.fromkeys(r["dataset"] for r in rows):
            mine = [r for r in rows if r["dataset"] == ds]
            summary[key][ds] = {rule: {k: statistics.mean(r[key][rule][k] for r in mine) for k in ("auc", "acc")}
                                for rule in RULES}
        print(f"\n{key}\n| dataset | " + " | ".join(f"{r} AUC / ACC" for r in RULES) + " |")
        print("|---|" + "---|" * len(RULES))
        for ds, s in summary[key].items():
            print(f"| {ds} | " + " | ".join(f"{s[r]['auc']:.4f} / {s[r]['acc']:.4f}" for r in RULES) + " |")
    print(json.dumps({"base": base, "rules": RULES, "halvings": args.halvings, "per_dataset": summary, "runs": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
