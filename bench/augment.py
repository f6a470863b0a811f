"""Throughput of a training augmentation pipeline: medtrain (batched, fused) vs torchvision.transforms.v2.

The op list is the same on both sides, with the same parameter ranges:

    horizontal flip (p=0.5) -> random-resized crop (scale 0.08-1, ratio 3/4-4/3, back to the input size)
    -> colour jitter (brightness/contrast/saturation 0.4, hue 0.1) -> random erasing (p=0.5, area 0.02-0.33,
    ratio 0.3-3.3, fill 0) -> CutMix (alpha=1) on the batch.

Input: RGB uint8 images held in memory, batch 128, 10 classes.

* torchvision: the usual way, per sample in a ``DataLoader`` with one worker per core (``num_workers=2``),
  ``v2.CutMix`` on the collated batch in the main process.
* medtrain: index the in-memory tensor for a shuffled batch and run ``FusedPipeline`` (what
  ``medtrain.augment.fuse`` makes of the same op list) in the main process.

Each comparison is done for two output dtypes: ``uint8`` (torchvision's pipeline stays in uint8;
medtrain rounds to uint8) and ``float32`` in [0, 1] (torchvision adds ``ToDtype(float32, scale=True)``
before erasing). Baseline and medtrain alternate within the same process, each timing full epochs of
``batches`` batches (medtrain repeats its fast epoch for at least a second), and the medians over the
repeats are reported; the machine is shared and noisy.
Outputs are checked for shape, dtype, value range and label sums.

Run: ``python bench/augment.py [--quick]``; the last line of stdout is JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from medtrain.augment import FusedPipeline, build_batch_augment, fuse

BATCH, CLASSES = 128, 10
PARAMS = dict(flip_p=0.5, rrc_scale=(0.08, 1.0), rrc_ratio=(3 / 4, 4 / 3), jitter_brightness=0.4,
              jitter_contrast=0.4, jitter_saturation=0.4, jitter_hue=0.1, erasing_p=0.5,
              erasing_scale=(0.02, 0.33), erasing_ratio=(0.3, 3.3), erasing_value=0.0, cutmix_alpha=1.0)
OPS = ["flip", "rrc", "jitter", "erasing", "cutmix"]


class _Images(Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform):
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return self.transform(self.x[i]), self.y[i]


def torchvision_loader(x, y, size: int, float_out: bool, workers: int = 2, pin_memory: bool = False) -> DataLoader:
    ops = [v2.RandomHorizontalFlip(0.5),
           v2.RandomResizedCrop(size, scale=PARAMS["rrc_scale"], ratio=PARAMS["rrc_ratio"], antialias=True),
           v2.ColorJitter(0.4, 0.4, 0.4, 0.1)]
    if float_out:
        ops.append(v2.ToDtype(torch.float32, scale=True))
    ops.append(v2.RandomErasing(p=0.5, scale=PARAMS["erasing_scale"], ratio=PARAMS["erasing_ratio"], value=0))
    return DataLoader(_Images(x, y, v2.Compose(ops)), batch_size=BATCH, shuffle=True, num_workers=workers,
                      drop_last=True, persistent_workers=True, pin_memory=pin_memory)


def check(xb: torch.Tensor, yb: torch.Tensor, size: int, float_out: bool, who: str) -> None:
    assert xb.shape == (BATCH, 3, size, size), (who, xb.shape)
    assert xb.dtype == (torch.float32 if float_out else torch.uint8), (who, xb.dtype)
    hi = 1.0 if float_out else 255
    assert 0 <= float(xb.min()) and float(xb.max()) <= hi, (who, float(xb.min()), float(xb.max()))
    assert float(xb.float().std()) > 0.01 * hi, (who, "output looks constant")
    assert yb.shape == (BATCH, CLASSES) and torch.allclose(yb.sum(1), torch.ones(BATCH), atol=1e-5), who


def time_torchvision(loader: DataLoader, cutmix, size: int, float_out: bool) -> float:
    t0 = time.perf_counter()
    n = 0
    for xb, yb in loader:  # one epoch = `batches` batches; the workers are idle afterwards
        xb, yb = cutmix(xb, yb)
        n += len(xb)
    dt = time.perf_counter() - t0
    check(xb, yb, size, float_out, "torchvision")
    return n / dt


def time_medtrain(pipe, x, y, batches: int, size: int, float_out: bool, uint8_in: bool = True,
                  min_seconds: float = 0.0) -> float:
    # Whole epochs (same as the baseline), repeated until min_seconds: a fast epoch is over in a
    # fraction of a second, where one hiccup of the shared machine would decide the figure.
    n, t0 = 0, time.perf_counter()
    while True:
        perm = torch.randperm(len(x))
        for b in range(batches):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            xb, yb = x[idx], F.one_hot(y[idx], CLASSES).float()
            if not uint8_in:  # the unfused ops take float in [0, 1]
                xb = xb.float().div_(255)
            xb, yb = pipe(xb, yb)
        n += batches * BATCH
        dt = time.perf_counter() - t0
        if dt >= min_seconds:
            break
    check(xb, yb, size, float_out, "medtrain")
    return n / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer batches and repeats")
    ap.add_argument("--sizes", default="28,224")
    args = ap.parse_args()
    repeats = 3 if args.quick else 5
    min_s = 0.5 if args.quick else 1.0
    results: dict = {"batch": BATCH, "threads": torch.get_num_threads(), "workers": 2, "repeats": repeats}
    torch.manual_seed(0)
    for size in (int(s) for s in args.sizes.split(",")):
        batches = (8 if args.quick else 16) if size <= 64 else (3 if args.quick else 6)
        x = torch.randint(0, 256, (batches * BATCH, 3, size, size), dtype=torch.uint8)
        y = torch.randint(0, CLASSES, (batches * BATCH,))
        cutmix = v2.CutMix(alpha=1.0, num_classes=CLASSES)
        ops = build_batch_augment(OPS, PARAMS)
        for float_out in (False, True):
            dtype = torch.float32 if float_out else torch.uint8
            pipe = fuse(ops, out_dtype=dtype)
            assert isinstance(pipe, FusedPipeline), "the op list should fuse"
            loader = torchvision_loader(x, y, size, float_out)
            time_torchvision(loader, cutmix, size, float_out)  # start the workers, warm up
            time_medtrain(pipe, x, y, batches, size, float_out)
            tv, mt, un = [], [], []
            with_unfused = float_out and not args.quick
            for _ in range(repeats):  # interleaved, so all see the same machine load
                tv.append(time_torchvision(loader, cutmix, size, float_out))
                mt.append(time_medtrain(pipe, x, y, batches, size, float_out, min_seconds=min_s))
                if with_unfused:  # for reference: the same ops run one by one (float in [0, 1])
                    un.append(time_medtrain(ops, x, y, batches, size, True, uint8_in=False, min_seconds=min_s))
            del loader
            key = f"{size}_{'float32' if float_out else 'uint8'}"
            tv_m, mt_m = statistics.median(tv), statistics.median(mt)
            results[key] = {"torchvision_img_s": round(tv_m, 1), "medtrain_img_s": round(mt_m, 1),
                            "ratio": round(mt_m / tv_m, 2), "torchvision_all": [round(v) for v in tv],
                            "medtrain_all": [round(v) for v in mt]}
            print(f"{size:>4} {key.split('_')[1]:>7}: torchvision {tv_m:8.0f} img/s   medtrain {mt_m:8.0f} img/s"
                  f"   x{mt_m / tv_m:.2f}", flush=True)
            if un:
                results[key]["medtrain_unfused_img_s"] = round(statistics.median(un), 1)
                print(f"{size:>4} float32: medtrain, same ops unfused {statistics.median(un):8.0f} img/s", flush=True)
    results["ratio_28"] = results.get("28_uint8", {}).get("ratio")
    results["ratio_224"] = results.get("224_uint8", {}).get("ratio")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
