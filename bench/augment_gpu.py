"""Augmentation on a GPU: throughput, and whether it ever stalls training (issue 7).

Same op list and parameters as ``bench/augment.py`` (flip -> random-resized crop -> colour jitter ->
random erasing -> CutMix, batch 128, RGB uint8 input held in memory). On the GPU machine it measures:

* ``medtrain``: ``FusedPipeline`` on uint8 batches already on the GPU, float32 output, at 28 and 224.
* ``torchvision``: the per-sample ``transforms.v2`` DataLoader of ``bench/augment.py`` on this machine's
  CPU, with 2 workers (the CPU baseline's setting) and with one worker per core, in the same process.
* training: a timm ResNet-18 at 224 (bf16 autocast, channels-last, SGD) fed (a) one fixed batch already
  on the GPU (the ceiling: no augmentation), (b) medtrain's pipeline on the GPU before every step, and
  (c) the torchvision DataLoader with one worker per core. ``stall`` = 1 - (b or c) / (a): the share of
  the step time that waiting for augmented data adds. GPU utilisation is sampled by NVML while each runs.
* the ten colour spaces of ``medtrain.color`` on the GPU against the same conversion on the CPU.

Run: ``python bench/augment_gpu.py [--quick]``; the last line of stdout is JSON. Without CUDA it says so
and exits 1 (``--device cpu`` runs the same code on the CPU, to check the script).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.transforms import v2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from augment import BATCH, CLASSES, OPS, PARAMS, check, time_torchvision, torchvision_loader  # noqa: E402

from medtrain.augment import build_batch_augment, fuse  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Utilisation:
    """Mean GPU utilisation (NVML, percent of time a kernel ran) while the block runs; None without NVML."""

    def __init__(self, device: torch.device):
        self.device, self.samples, self._stop = device, [], threading.Event()

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.samples.append(torch.cuda.utilization(self.device))
            except Exception:  # no pynvml / not supported: report None
                return
            time.sleep(0.05)

    def __enter__(self):
        if self.device.type == "cuda":
            self._t = threading.Thread(target=self._loop, daemon=True)
            self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.device.type == "cuda":
            self._t.join()

    @property
    def mean(self):
        return round(statistics.fmean(self.samples), 1) if self.samples else None


def time_pipeline(pipe, x, y, device, seconds: float) -> float:
    """Images/s of the pipeline on batches indexed from ``x`` (on ``device``)."""
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        idx = torch.randint(0, len(x), (BATCH,), device=device)
        xb, yb = pipe(x[idx], F.one_hot(y[idx], CLASSES).float())
        n += BATCH
        if n % (BATCH * 8) == 0:
            _sync(device)
    _sync(device)
    check(xb.cpu(), yb.cpu(), x.shape[-1], True, "medtrain")
    return n / (time.perf_counter() - t0)


def training_rates(x, y, device, seconds: float, workers: int) -> dict:
    import timm

    model = timm.create_model("resnet18", num_classes=CLASSES).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    pipe = fuse(build_batch_augment(OPS, PARAMS), out_dtype=torch.float32)
    amp = dict(device_type=device.type, dtype=torch.bfloat16)

    def step(xb, yb):
        with torch.autocast(**amp):
            loss = torch.sum(-yb * F.log_softmax(model(xb.contiguous(memory_format=torch.channels_last)), 1), 1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    xg, yg = x.to(device), y.to(device)
    fixed = pipe(xg[:BATCH], F.one_hot(yg[:BATCH], CLASSES).float())

    def run(next_batch) -> tuple[float, object]:
        for _ in range(3):
            step(*next_batch())
        _sync(device)
        with _Utilisation(device) as u:
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                step(*next_batch())
                n += BATCH
            _sync(device)
            rate = n / (time.perf_counter() - t0)
        return round(rate, 1), u.mean

    def on_gpu():
        idx = torch.randint(0, len(xg), (BATCH,), device=device)
        return pipe(xg[idx], F.one_hot(yg[idx], CLASSES).float())

    loader = torchvision_loader(x, y, x.shape[-1], float_out=True, workers=workers, pin_memory=device.type == "cuda")
    cutmix = v2.CutMix(alpha=1.0, num_classes=CLASSES)
    it = iter(loader)

    def from_loader():
        nonlocal it
        try:
            xb, yb = next(it)
        except StopIteration:
            it = iter(loader)
            xb, yb = next(it)
        xb, yb = cutmix(xb, yb)
        return xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)

    out = {}
    for name, fn in (("fixed_batch", lambda: fixed), ("medtrain_gpu_augment", on_gpu),
                     (f"torchvision_loader_{workers}_workers", from_loader)):
        rate, util = run(fn)
        out[name] = {"img_s": rate, "gpu_util_pct": util}
    ceiling = out["fixed_batch"]["img_s"]
    for name in list(out)[1:]:
        out[name]["stall"] = round(max(0.0, 1 - out[name]["img_s"] / ceiling), 3)
    return out


def colour_spaces(device) -> dict:
    from medtrain.color import SPACES, convert

    x = torch.rand(16, 3, 64, 64, dtype=torch.float64)
    return {s: float((convert(x.to(device), s).cpu() - convert(x, s)).abs().max()) for s in SPACES}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device (bench/augment_gpu.py measures the GPU; --device cpu to check the script)")
        return 1
    device = torch.device(args.device)
    seconds = 1.0 if args.quick else 3.0
    cores = os.cpu_count() or 2
    res: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                 "cpu_cores": cores, "batch": BATCH, "torch": torch.__version__}
    torch.manual_seed(0)
    for size in (28, 224):
        n = BATCH * (16 if size == 28 else 6)
        x = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)
        y = torch.randint(0, CLASSES, (n,))
        pipe = fuse(build_batch_augment(OPS, PARAMS), out_dtype=torch.float32)
        xg, yg = x.to(device), y.to(device)
        time_pipeline(pipe, xg, yg, device, 0.3)  # warm-up (kernels, allocator)
        mt = [time_pipeline(pipe, xg, yg, device, seconds) for _ in range(3)]
        r = {"medtrain_img_s": round(statistics.median(mt), 1)}
        cutmix = v2.CutMix(alpha=1.0, num_classes=CLASSES)
        for workers in sorted({2, cores}):
            loader = torchvision_loader(x, y, size, float_out=True, workers=workers)
            time_torchvision(loader, cutmix, size, True)
            tv = statistics.median(time_torchvision(loader, cutmix, size, True) for _ in range(3))
            r[f"torchvision_{workers}_workers_img_s"] = round(tv, 1)
            r[f"ratio_vs_{workers}_workers"] = round(r["medtrain_img_s"] / tv, 2)
            del loader
        res[str(size)] = r
        print(size, json.dumps(r), flush=True)
    x = torch.randint(0, 256, (BATCH * 6, 3, 224, 224), dtype=torch.uint8)
    y = torch.randint(0, CLASSES, (len(x),))
    res["training_224"] = training_rates(x, y, device, seconds * 3, cores)
    print("training", json.dumps(res["training_224"]), flush=True)
    res["colour_space_gpu_vs_cpu_max_abs_diff"] = colour_spaces(device)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
