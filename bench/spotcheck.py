"""Spot-check the published tables: one cell of each study in ``docs/results/`` rerun with today's code.

After a restructuring, the tables must keep their meaning. Each cell below is rerun exactly as its table
states (seed 0, same flags) and its test AUC is compared with the table's row (mean ± std of 3 seeds).
A cell "agrees" when it lies within max(3 std, 0.02) of the mean: seed noise, not a changed result.

    MEDTRAIN_DATA=../shared/data python bench/spotcheck.py            # every cell (~20 min on 2 cores)
    python bench/spotcheck.py --only augment,color                    # some of them

The last stdout line is JSON: per cell the table's mean/std, the rerun's value and ``agrees``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RETINA_E15 = dict(dataset="retinamnist", model="resnet10_28_half", epochs=15, bootstrap=0, weight_decay=0.0005,
                  class_weights=False, tta="none")
BREAST_REG = dict(dataset="breastmnist", model="resnet10_28_half", epochs=15, batch_size=32, weight_decay=1e-4,
                  batch_norm=True, patience=5, bootstrap=0, class_weights=True, tta="hflip")

#: name -> (table file, row, settings, (mean, std) of the table's test AUC over 3 seeds)
CELLS = {
    "augment": ("augmentation.md (15 epochs)", "augment=none", {**RETINA_E15, "augment": ["none"]}, (0.725, 0.002)),
    "color": ("color_spaces.md (15 epochs)", "color_space=lab", {**RETINA_E15, "color_space": "lab"}, (0.736, 0.004)),
    "regularization": ("regularization_factorial.md", "none, λ=1e-4, BN, no early stopping",
                       {**BREAST_REG, "dropout": 0.0}, (0.864, 0.015)),
    "default_breast": ("default_recipe_other.md", "BreastMNIST, default recipe", {"dataset": "breastmnist"},
                       (0.872, 0.008)),
    "transfer_scale": ("transfer.md (15 epochs)", "scale from source15",
                       {"dataset": "retinamnist", "model": "resnet10_28_half", "epochs": 15, "transfer": "scale"},
                       (0.722, 0.003)),
    "transfer_probe": ("transfer.md (15 epochs)", "linear-probe from source15",
                       {"dataset": "retinamnist", "model": "resnet10_28_half", "epochs": 15,
                        "transfer": "linear-probe"}, (0.657, 0.0)),
    "volumes_adrenal": ("volumes3d.md", "AdrenalMNIST3D, plain default (CPU seed 0: 0.875)",
                        {"dataset": "adrenalmnist3d"}, (0.883, 0.004)),
}
SOURCE = {"dataset": "pneumoniamnist", "model": "resnet10_28_half", "epochs": 15}  # transfer.md's source15: 0.971


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(CELLS), help="comma-separated cells: " + ", ".join(CELLS))
    p.add_argument("--out", default=None, help="run directories (default: a temporary folder)")
    args = p.parse_args()
    os.environ.setdefault("MEDTRAIN_DATA", str(ROOT.parent / "shared" / "data"))
    import medtrain
    from medtrain.api import train_or_reuse

    out = Path(args.out or tempfile.mkdtemp(prefix="medtrain-spotcheck-"))
    rows = []
    for name in [c.strip() for c in args.only.split(",") if c.strip()]:
        table, row, settings, (mean, std) = CELLS[name]
        settings = {**settings, "seed": 0, "progress": False, "out": str(out / name)}
        if settings.get("transfer"):
            src = out / "source15"
            m = train_or_reuse({**SOURCE, "seed": 0, "progress": False, "out": str(src)})
            print(f"source15: test AUC {m['test']['auc']:.3f} (transfer.md: 0.971)", flush=True)
            settings["pretrained"] = str(src)
        t0 = time.perf_counter()
        m = train_or_reuse(settings)
        auc = m["test"]["auc"]
        e = medtrain.evaluate(out / name, verbose=False)  # the saved run reproduces its own numbers
        agrees = abs(auc - mean) <= max(3 * std, 0.02)
        rows.append({"cell": name, "table": table, "row": row, "table_auc_mean": mean, "table_auc_std": std,
                     "rerun_auc": auc, "rerun_acc": m["test"]["acc"], "eval_auc": e["auc"], "agrees": agrees,
                     "wall_s": time.perf_counter() - t0})
        print(f"{name}: {table} [{row}] table {mean:.3f} ± {std:.3f}, rerun seed 0 {auc:.3f} "
              f"(eval {e['auc']:.3f}) -> {'agrees' if agrees else 'DIFFERS'}", flush=True)
    print(json.dumps({"cells": rows, "all_agree": all(r["agrees"] for r in rows)}))
    return 0 if all(r["agrees"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
