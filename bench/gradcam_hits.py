"""Where Grad-CAM's maximum falls on a task whose evidence is known, with each cell drawn on its receptive-field
centre (medtrain's upsampler, ``medtrain.explain._upsample``) against MONAI's default interpolation, on the same
trained runs: the README's hit rates ("within 3 px of the patch for ...") and the centre of mass's offset.

The task is the test suite's (``tests/use/test_explain.py``: a 3 px bright patch decides the label, a brighter 6x2
bar is in every image; 16-voxel volumes without the bar), trained once per seed; each layer is explained twice.

    python bench/gradcam_hits.py --seeds 0,1,2 --out runs/gradcam_hits

The last line of stdout is JSON: per dimension, layer and upsampler, the hit rate per seed and its mean, and the
mean offset (rows, columns) of the map's centre of mass from the patch's centre.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(HERE / "tests"), str(HERE / "tests" / "use")]

from test_explain import PATCH, hit_rate, train_patch_run  # noqa: E402  (the suite's task, not a copy of it)

import medtrain  # noqa: E402
import medtrain.explain as explain_mod  # noqa: E402


def _offset(maps: np.ndarray, corners: np.ndarray) -> list[float]:
    """The mean offset, per axis, of each map's centre of mass from its patch's centre (pixels)."""
    out = []
    for m, c in zip(maps, corners):
        grid = np.indices(m.shape, dtype=np.float64)
        w = m.astype(np.float64) / max(float(m.sum()), 1e-12)
        out.append([(grid[a] * w).sum() - (c[a] + (PATCH - 1) / 2) for a in range(m.ndim)])
    return np.mean(out, axis=0).round(3).tolist()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--out", default="runs/gradcam_hits")
    args = p.parse_args()
    from monai.visualize.visualizer import default_upsampler

    centred = explain_mod.cell_centre_upsampler
    plans = {"2d": (28, 2, (384, 96, 64), 4, True, ("layer2", "layer3", "layer4")),
             "3d": (16, 3, (64, 16, 32), 1, False, ("layer2", "layer3"))}
    result: dict = {}
    for dim, (size, dims, sizes, epochs, distractor, layers) in plans.items():
        for seed in (int(s) for s in args.seeds.split(",")):
            root = Path(args.out) / f"{dim}-s{seed}"
            root.mkdir(parents=True, exist_ok=True)
            # the data are the suite's fixed draws; the run's seed (its initialisation, its batches) is this one
            train = medtrain.train
            medtrain.train = lambda cfg, seed=seed, **kw: train({**cfg, "seed": seed}, **kw)
            try:
                run, arrays, corners, metrics = train_patch_run(root, size, dims, sizes, epochs, distractor)
            finally:
                medtrain.train = train
            pos = np.flatnonzero(corners[:, 0] >= 0)
            images = [arrays["test_images"][i] for i in pos]
            for layer in layers:
                for name, up in (("centred", centred), ("monai", lambda net, layer, shape: default_upsampler)):
                    explain_mod.cell_centre_upsampler = up
                    try:
                        res = explain_mod.explain(run, images, target="1", layer=layer)
                    finally:
                        explain_mod.cell_centre_upsampler = centred
                    cell = result.setdefault(dim, {}).setdefault(layer, {}).setdefault(name, {"hits": [], "offset": []})
                    cell["hits"].append(round(hit_rate(res.maps, corners[pos]), 3))
                    cell["offset"].append(_offset(res.maps, corners[pos]))
                    print(f"{dim} seed {seed} test AUC {metrics['test']['auc']:.3f} {layer} {name}: hits "
                          f"{cell['hits'][-1]:.3f} offset {cell['offset'][-1]}", flush=True)
    for dim in result.values():
        for layer in dim.values():
            for cell in layer.values():
                cell["mean_hits"] = round(float(np.mean(cell["hits"])), 3)
                cell["mean_offset"] = np.mean(cell["offset"], axis=0).round(3).tolist()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
