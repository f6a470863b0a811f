"""Would a seed ensemble help? Validation AUC of finished runs, alone and as the mean of each pair's probabilities.

Issue 12 item 2 lists seed ensembles as a way to spend a time budget; this measures, on validation only, what
averaging two runs of the same recipe (different seeds, or different schedules) gives over its members. Each
run's own choices (TTA, the logit adjustment) apply, as ``medtrain predict`` would apply them; temperature
scaling is left out (it does not move a binary AUC). No test image is read.

    python bench/seed_ensemble.py --dataset vesselmnist3d runs/a runs/b runs/c

The last line of stdout is JSON: each run's and each pair's validation AUC, and per pair the gain over the
mean of its two members.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
from pathlib import Path

import numpy as np

import medtrain
from medtrain import metrics


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, help="MedMNIST file name without .npz, e.g. vesselmnist3d")
    p.add_argument("--data-dir", default=os.environ.get("MEDTRAIN_DATA", "../shared/data"))
    p.add_argument("runs", nargs="+", help="finished run directories of that dataset")
    args = p.parse_args()
    data = np.load(Path(args.data_dir) / f"{args.dataset}.npz")
    images, labels = data["val_images"], data["val_labels"]
    probs = {r: medtrain.load(r, calibrated=False).predict(images) for r in args.runs}
    task = json.loads((Path(args.runs[0]) / "metrics.json").read_text())["task"]
    single = {r: metrics.auc(labels.ravel() if labels.shape[1] == 1 else labels, p, task) for r, p in probs.items()}
    pairs = {}
    for a, b in itertools.combinations(args.runs, 2):
        auc = metrics.auc(labels.ravel() if labels.shape[1] == 1 else labels, (probs[a] + probs[b]) / 2, task)
        pairs[f"{a} + {b}"] = {"val_auc": auc, "gain_over_members": auc - (single[a] + single[b]) / 2}
    for r, v in single.items():
        print(f"{v:.4f}  {r}")
    for k, v in pairs.items():
        print(f"{v['val_auc']:.4f}  ({v['gain_over_members']:+.4f})  {k}")
    print(json.dumps({"dataset": args.dataset, "split": "val", "runs": single, "pairs": pairs}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
