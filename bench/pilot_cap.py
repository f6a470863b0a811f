"""Flip pilots on a sample of the training split: the same decision for less time?

``flip: auto`` trains two pilots (a tenth of the epochs, with and without flips) before the run and drops the
flips only if the pilot without them leads on validation by more than ``FLIP_MARGIN``. On PneumoniaMNIST
(4,708 training images) the two pilots take ~90 s of a run's 600 s budget, and on a user's larger data they
take a fifth of the training time whatever the data's size. ``PILOT_MAX_IMAGES`` caps the images a pilot
trains on (a stratified sample seeded by the run's seed); this bench measures what the cap changes: each
dataset and seed runs ``decide_flip`` as the default command would (``resolve_auto``ed config, test split
dropped) once on the whole training split and once capped, and records each decision, its two validation
scores and the seconds it took. Sets no larger than the cap are unchanged by construction (BreastMNIST 546,
RetinaMNIST 1,080, AdrenalMNIST3D 1,188, VesselMNIST3D 1,335 training images), so only PneumoniaMNIST
measures anything here.

Rule, written down before any run (commit of this file): **adopt PILOT_MAX_IMAGES = 1500** if, on
PneumoniaMNIST seeds 0-4, the capped pilots make the same flip decision as the whole-split pilots on at least
4 of the 5 seeds, and the median time saved per run is at least 40 s. Otherwise the cap is removed.

    python bench/pilot_cap.py --datasets pneumoniamnist --seeds 0,1,2,3,4 --cap 1500

The last line of stdout is JSON: per dataset and seed, the decision, val scores and seconds, whole and capped.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

from medtrain.config import Config
from medtrain.data import Split, load_splits
from medtrain.training import choices
from medtrain.training.build import resolve_auto
from medtrain.training.fit import fit


def pilots(cfg: Config, splits, max_images: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        made = choices.decide_flip(cfg, splits, Path(tmp) / "pilots", fit, max_images=max_images)
        made["seconds"] = round(time.perf_counter() - t0, 1)
    return made


def default_run(dataset: str, seed: int) -> tuple[Config, object]:
    """The default command's resolved config and its splits, the test split dropped before anything runs."""
    cfg = Config(dataset=dataset, seed=seed)
    splits = load_splits(cfg)
    splits = dataclasses.replace(splits, test=Split(splits.test.images[:0], splits.test.labels[:0]))
    return resolve_auto(cfg, len(splits.spatial_shape)), splits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="pneumoniamnist")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--cap", type=int, default=choices.PILOT_MAX_IMAGES)
    args = ap.parse_args()
    rows = []
    for ds in args.datasets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            cfg, splits = default_run(ds, seed)
            whole = pilots(cfg, splits, max_images=len(splits.train))
            capped = pilots(cfg, splits, max_images=args.cap)
            row = {"dataset": ds, "seed": seed, "train_images": len(splits.train), "whole": whole, "capped": capped,
                   "same": whole["chosen"] == capped["chosen"]}
            print(json.dumps(row), flush=True)
            rows.append(row)
    summary = {}
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == ds]
        saved = [r["whole"]["seconds"] - r["capped"]["seconds"] for r in mine]
        summary[ds] = {"same_decision": sum(r["same"] for r in mine), "runs": len(mine),
                       "median_seconds_saved": round(statistics.median(saved), 1)}
    print(json.dumps({"cap": args.cap, "rows": rows, "summary": summary}))


if __name__ == "__main__":
    main()
