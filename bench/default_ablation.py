"""Ablation of the default recipe on validation: a grid of settings over several datasets and seeds.

Issue 12 asks that every addition to the default (a higher learning rate, an average of the weights, a
longer schedule...) be kept only if validation shows it, on data the recipe was not tuned on. Each cell is
one ``medtrain train`` run with the test split dropped before training (``evaluate_test=False``), so no
test number is computed, let alone read; a finished run is reused, so an interrupted ablation continues.

    python bench/default_ablation.py --datasets breastmnist,retinamnist --seeds 0,1 \\
        --grid lr=0.001,0.003,0.01 ema=0,1 --base flip=true
    python bench/default_ablation.py --grid "augment=flip,shift;flip,shift,mixup" --base accelerator=gpu

The last line of stdout is JSON: per setting, the mean validation AUC and ACC over every dataset and seed,
the per-dataset means, and the mean wall time.
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

import yaml


def _values(text: str) -> tuple[str, list]:
    """``KEY=V1,V2``; values that hold commas themselves are separated by ';' (``augment=flip,shift;flip``)."""
    key, _, vals = text.partition("=")
    parts = vals.split(";") if ";" in vals else vals.split(",")
    return key, [yaml.safe_load(v) for v in parts if v]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="breastmnist,retinamnist")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--grid", nargs="+", default=["lr=0.001,0.003,0.01", "ema=0,1"], help="KEY=V1,V2 ...")
    p.add_argument("--base", nargs="*", default=["flip=true"], help="KEY=V settings every run shares")
    p.add_argument("--out", default="runs/ablation")
    args = p.parse_args()

    from medtrain.api import train_or_reuse

    base = {k: v[0] for k, v in map(_values, args.base)}
    grid = dict(map(_values, args.grid))
    datasets, seeds = args.datasets.split(","), [int(s) for s in args.seeds.split(",")]
    rows = []
    for combo in itertools.product(*grid.values()):
        setting = dict(zip(grid, combo))
        name = ",".join(f"{k}={v}" for k, v in setting.items())
        for ds, seed in itertools.product(datasets, seeds):
            out = Path(args.out) / ds / f"{name.replace('=', '').replace(',', '_')}-s{seed}"
            m = train_or_reuse({**base, **setting, "dataset": ds, "seed": seed, "progress": False, "bootstrap": 0,
                                "out": str(out)}, evaluate_test=False)
            rows.append({"setting": name, "dataset": ds, "seed": seed, "val_auc": m["val"]["auc"],
                         "val_acc": m["val"]["acc"], "wall_s": m["wall_s"], "best_epoch": m["best_epoch"]})
            r = rows[-1]
            print(f"{name:28s} {ds:14s} s{seed}: val AUC {r['val_auc']:.4f} ACC {r['val_acc']:.4f} "
                  f"best epoch {r['best_epoch']} wall {r['wall_s']:.0f} s", flush=True)
    summary = {}
    for name in dict.fromkeys(r["setting"] for r in rows):
        mine = [r for r in rows if r["setting"] == name]
        summary[name] = {
            "val_auc": statistics.mean(r["val_auc"] for r in mine),
            "val_acc": statistics.mean(r["val_acc"] for r in mine),
            "wall_s": statistics.mean(r["wall_s"] for r in mine),
            "per_dataset": {ds: {"val_auc": statistics.mean(r["val_auc"] for r in mine if r["dataset"] == ds),
                                 "val_acc": statistics.mean(r["val_acc"] for r in mine if r["dataset"] == ds)}
                            for ds in datasets}}
    print("\n| setting | mean val AUC | mean val ACC | " + " | ".join(f"{d} AUC / ACC" for d in datasets)
          + " | wall |")
    print("|---|---|---|" + "---|" * len(datasets) + "---|")
    for name, s in summary.items():
        cells = " | ".join(f"{s['per_dataset'][d]['val_auc']:.4f} / {s['per_dataset'][d]['val_acc']:.4f}"
                           for d in datasets)
        print(f"| {name} | {s['val_auc']:.4f} | {s['val_acc']:.4f} | {cells} | {s['wall_s']:.0f} s |")
    print(json.dumps({"base": base, "datasets": datasets, "seeds": seeds, "settings": summary, "runs": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
