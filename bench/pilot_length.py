"""Can a flip pilot on a small set see what the full runs see? Pilot variants at about the same cost.

On BreastMNIST the full 30-epoch runs without flips lead those with them on 5 of 5 seeds (+0.024 val AUC,
``docs/results/flip_ablation.json``), but the default's pilots (3 epochs at batch 64: 24 optimiser steps on 546
images) score near chance and cannot see it. This bench runs ``decide_flip`` on the whole training split with
pilot variants: the batch (more steps for the same images) and the epochs (more images), and records each
variant's decision, its two validation scores and its seconds. Exploratory: it chooses nothing by itself.

    python bench/pilot_length.py --datasets breastmnist --seeds 0,1,2,3,4 --variants 64x3,16x3,64x6

The last line of stdout is JSON: per dataset, seed and variant (``BATCHxEPOCHS``), the decision, scores, seconds.
"""
from __future__ import annotations

import argparse
import dataclasses
import json

from pilot_cap import default_run, pilots


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="breastmnist")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--variants", default="64x3,16x3,64x6", help="BATCHxEPOCHS of the pilots, comma-separated")
    args = ap.parse_args()
    rows = []
    for ds in args.datasets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            cfg, splits = default_run(ds, seed)
            for v in args.variants.split(","):
                batch, epochs = (int(x) for x in v.split("x"))
                # decide_flip trains pilots of round(epochs / 10) epochs: a run of 10x the pilot's epochs
                made = pilots(dataclasses.replace(cfg, batch_size=batch, epochs=10 * epochs), splits,
                              max_images=len(splits.train))
                row = {"dataset": ds, "seed": seed, "variant": v, **made}
                print(json.dumps(row), flush=True)
                rows.append(row)
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
