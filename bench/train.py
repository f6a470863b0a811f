"""Benchmark: the default recipe on PneumoniaMNIST from ../shared/data, on this machine.

Prints one line per seed and, as the last line of stdout, a JSON summary: per-seed and mean test ACC/AUC
(with bootstrap 95% CIs), wall time, train images/s and peak resident memory. Also writes that JSON to
``--json-out`` when given (the published table: ``--json-out docs/results/bench_train.json``; a quick check
must not overwrite it). The recipe recorded is the one the runs resolved (``config.yaml``: lr, batch size and
network chosen by ``auto``). The README's table is of the recipe before the validation choices:
``--recipe "class_weights=true,tta=hflip,flip=true,lr=1e-3,batch_size=128,precision=32-true,checkpoint=best"``.

    python bench/train.py                 # 3 seeds, default recipe
    python bench/train.py --seeds 1 --epochs 2   # a quick check
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _settings(spec: str) -> dict:
    """``k=v,k=v`` as a dict of strings (``medtrain.config.resolve`` reads their values)."""
    return dict(kv.split("=", 1) for kv in spec.split(",") if kv.strip())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="pneumoniamnist")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (quick checks only)")
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--out", default=None, help="run directories (default: a temporary folder)")
    p.add_argument("--json-out", default=None, help="also write the JSON summary here")
    p.add_argument("--recipe", default="", help="settings over the default, k=v,k=v (e.g. the earlier recipe)")
    args = p.parse_args()

    import torch

    import medtrain
    from medtrain._io import write_json
    from medtrain.reports.baselines import MEDMNIST_V2
    from medtrain.rundir import read_config

    out = Path(args.out or tempfile.mkdtemp(prefix="medtrain-bench-"))
    runs = []
    for seed in range(args.seeds):
        cfg = {"dataset": args.dataset, "data_dir": args.data_dir, "seed": seed, "out": str(out / f"seed{seed}"),
               "progress": False}
        cfg.update(_settings(args.recipe))
        if args.epochs:
            cfg["epochs"] = args.epochs
        t = time.perf_counter()
        m = medtrain.train(cfg, verbose=False)
        model_used = m["model"]
        r = {"seed": seed, "acc": m["test"]["acc"], "auc": m["test"]["auc"], "acc_ci": m["test"]["acc_ci"],
             "auc_ci": m["test"]["auc_ci"], "val_auc": m["val"]["auc"], "best_epoch": m["best_epoch"] + 1,
             "wall_s": time.perf_counter() - t, "train_images_per_s": m["train_images_per_s"],
             "peak_rss_mb": m["peak_rss_mb"]}
        runs.append(r)
        print(f"seed {seed}: test ACC {r['acc']:.4f} AUC {r['auc']:.4f}  val AUC {r['val_auc']:.4f}  "
              f"kept epoch {r['best_epoch']}  {r['wall_s']:.0f} s  {r['train_images_per_s']:.0f} img/s", flush=True)
    mean = lambda k: statistics.fmean(r[k] for r in runs)  # noqa: E731
    std = lambda k: statistics.stdev(r[k] for r in runs) if len(runs) > 1 else 0.0  # noqa: E731
    cfg = medtrain.config.resolve(read_config(out / "seed0"))  # as the runs resolved it, auto values included
    summary = {
        "benchmark": "default recipe", "dataset": args.dataset, "seeds": args.seeds,
        "recipe": {k: v for k, v in cfg.to_dict().items() if k in (
            "model", "optimizer", "lr", "weight_decay", "schedule", "epochs", "batch_size", "augment", "dropout",
            "class_weights", "label_smoothing", "monitor", "checkpoint", "tta")} | ({"epochs": args.epochs} if args.epochs else {})
        | {"model": model_used},
        "acc_mean": mean("acc"), "acc_std": std("acc"), "auc_mean": mean("auc"), "auc_std": std("auc"),
        "wall_s_mean": mean("wall_s"), "wall_s_max": max(r["wall_s"] for r in runs),
        "train_images_per_s_mean": mean("train_images_per_s"), "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "torch": torch.__version__,
        "published": {k: {"auc": v[0], "acc": v[1]} for k, v in MEDMNIST_V2.get(args.dataset, {}).items()},
        "runs": runs,
    }
    if args.json_out:
        write_json(args.json_out, summary)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
