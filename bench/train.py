"""Benchmark: the default recipe on PneumoniaMNIST from ../shared/data, on this machine.

Prints one line per seed and, as the last line of stdout, a JSON summary: per-seed and mean test ACC/AUC
(with bootstrap 95% CIs), wall time, train images/s and peak resident memory. Also writes that JSON to
``--json-out`` (default docs/results/bench_train.json).

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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="pneumoniamnist")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (quick checks only)")
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--out", default=None, help="run directories (default: a temporary folder)")
    p.add_argument("--json-out", default=str(ROOT / "docs" / "results" / "bench_train.json"))
    args = p.parse_args()

    import torch

    import medtrain
    from medtrain._io import write_json
    from medtrain.reports.baselines import MEDMNIST_V2

    out = Path(args.out or tempfile.mkdtemp(prefix="medtrain-bench-"))
    runs = []
    for seed in range(args.seeds):
        cfg = {"dataset": args.dataset, "data_dir": args.data_dir, "seed": seed, "out": str(out / f"seed{seed}"),
               "progress": False}
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
    cfg = medtrain.config.resolve({"dataset": args.dataset})
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
