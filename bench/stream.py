"""Benchmark: training from the memory-mapped store against the in-memory path, on a dataset bigger
than the in-memory path likes.

Writes a synthetic 224 px RGB dataset in MedMNIST layout (``.npz``, at least ``--gb`` GB; class 1 carries a
bright square) under a temporary folder, converts it into the store once, then trains ``--steps`` steps
in fresh processes alternating memory / mmap / mmap / memory (ABBA, so drift on a shared machine falls on
both paths alike). Each process loads the data, computes the normalisation statistics (over the first
``--stats-images`` training images), and trains through medtrain's own pieces (``TensorBatches`` seeded order, ``Classifier`` with the
flip augmentation on the device) with a deliberately tiny CNN and no shift, so that the data path, not
the network or the augmentation, dominates a step: the images/s ratio is the worst case for the store. Peak RSS is the process's
``ru_maxrss``. Everything written is removed at the end.

Both kinds of process run with glibc's mmap threshold fixed at 1 MiB (``MALLOC_MMAP_THRESHOLD_``): with
the default dynamic threshold, the in-memory process, after its big load temporaries, spent 2-5x more CPU
time per step in code that never touches the dataset (the network's forward and backward included), an
allocator effect that would swamp the data-access cost this compares. ``--malloc-default`` keeps it.

Prints one line per process and, as the last line, a JSON summary (also written to ``--json-out``).

    python bench/stream.py                      # 4.1 GB, 300 steps of 32, 2 rounds (about 10 minutes on 2 cores)
    python bench/stream.py --gb 0.3 --steps 50 --rounds 1   # a quick check
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's medtrain, in this process and (PYTHONPATH) in the children
SIZE = 224
IMAGE_BYTES = SIZE * SIZE * 3


def write_dataset(path: Path, gb: float, holdout: int = 256, seed: int = 0) -> dict:
    """A MedMNIST-layout .npz of (N, 224, 224, 3) uint8 images, written chunk by chunk (never whole in
    memory) as stored (uncompressed) ZIP64 members."""
    n_train = int(np.ceil(gb * 1e9 / IMAGE_BYTES))
    rng = np.random.default_rng(seed)
    counts = {"train": n_train, "val": holdout, "test": holdout}
    pool = rng.integers(0, 90, (256, SIZE, SIZE, 3), dtype=np.uint8)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for split, n in counts.items():
            labels = rng.integers(0, 2, n).astype(np.uint8)
            with zf.open(f"{split}_images.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(
                    f, {"descr": "|u1", "fortran_order": False, "shape": (n, SIZE, SIZE, 3)})
                for start in range(0, n, 512):
                    k = min(512, n - start)
                    x = pool[rng.integers(0, len(pool), k)]  # noise drawn once: writing is the slow part
                    for i in np.flatnonzero(labels[start:start + k]):
                        r, c = rng.integers(0, SIZE - 40, 2)
                        x[i, r:r + 40, c:c + 40] = 230
                    f.write(x.tobytes())
            with zf.open(f"{split}_labels.npy", "w") as f:
                np.lib.format.write_array(f, labels[:, None])
    return counts


def tiny_cnn():
    import torch.nn as nn

    return nn.Sequential(nn.AvgPool2d(8), nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(32, 2))


def child(args) -> dict:
    """One process: load with ``args.child`` (convert, memory or mmap), train, report."""
    import resource

    import torch

    torch.set_num_threads(args.threads)
    from medtrain.data import load_npz

    t = time.perf_counter()
    if args.child == "memory" and args.memory_load == "copy":  # the store copied into RAM (see run_child)
        splits = load_npz(args.npz, store="mmap")
        for s in ("train", "val", "test"):
            splits.split(s).images = splits.split(s).images.clone()
    else:
        splits = load_npz(args.npz, store="mmap" if args.child == "convert" else args.child)
    out = {"mode": args.child, "load_s": time.perf_counter() - t}
    if args.child == "memory":
        out["memory_load"] = args.memory_load
    if args.child != "convert":
        out.update(train(splits, args))
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    return out


def train(splits, args) -> dict:
    import warnings

    import dataclasses

    import lightning.pytorch as pl

    from medtrain.augment import build_batch_augment, fuse
    from medtrain.data import Split
    from medtrain.config import resolve
    from medtrain.training.build import augment_params, normalisation
    from medtrain.training.loader import TensorBatches
    from medtrain.training.module import Classifier

    cfg = resolve({"data": args.npz, "augment": "flip", "schedule": "none", "batch_size": args.batch_size,
                   "lr": 1e-3})  # a number: "auto" is resolved by a run, which this loop is not
    t = time.perf_counter()
    # the normalisation statistics, over the first --stats-images training images: a full pass takes minutes
    # on a shared 2-core machine, and its memory is bounded by chunks (medtrain.color.channel_stats) anyway
    head = dataclasses.replace(splits, train=Split(splits.train.images[:args.stats_images],
                                                   splits.train.labels[:args.stats_images]))
    mean, std, transform = normalisation(cfg, head)
    stats_s = time.perf_counter() - t
    pl.seed_everything(0, verbose=False)
    loader = TensorBatches(splits.train.images, splits.train.labels, args.batch_size, shuffle=True, seed=0,
                           drop_last=True)
    module = Classifier(tiny_cnn(), splits.task, splits.num_classes, mean, std, cfg.to_dict(),
                        augment=fuse(build_batch_augment(cfg.augment, augment_params(cfg, splits))),
                        input_transform=transform)
    warm = 10
    timer = Timer(warm)
    trainer = pl.Trainer(max_steps=warm + args.steps, limit_val_batches=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1,
                         num_sanity_val_steps=0, callbacks=[timer])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, loader)
    return {"stats_s": stats_s, "steps": args.steps, "train_s": timer.elapsed, "train_cpu_s": timer.cpu,
            "images_per_s": timer.images / timer.elapsed, "images_per_cpu_s": timer.images / timer.cpu,
            "first_batches_sha1": timer.digest}


def _timer_class():
    import lightning.pytorch as pl

    class Timer(pl.Callback):
        """Wall and CPU (user + system, all threads) time of the steps after ``warm`` warm-up steps; the CPU
        time is what a busy shared machine disturbs least. Hashes the first three batches (the same bytes
        on both paths for the same seed)."""

        def __init__(self, warm: int):
            self.warm, self.sha, self.images = warm, hashlib.sha1(), 0
            self.start = self.cpu_start = None
            self.elapsed = self.cpu = 0.0

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if trainer.global_step < 3:
                self.sha.update(batch[0].numpy().tobytes())
                self.sha.update(batch[1].numpy().tobytes())
            if trainer.global_step == self.warm:
                self.start, self.cpu_start = time.perf_counter(), time.process_time()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if self.start is not None:
                self.images += len(batch[0])

        def on_train_end(self, trainer, module):
            self.elapsed = time.perf_counter() - self.start
            self.cpu = time.process_time() - self.cpu_start

        @property
        def digest(self) -> str:
            return self.sha.hexdigest()[:16]

    return Timer


def Timer(warm: int):  # noqa: N802  (Lightning imported only in the child processes)
    return _timer_class()(warm)


def run_child(mode: str, npz: Path, env: dict, args) -> dict:
    """Run one process. The in-memory one decodes the .npz as ``medtrain train`` would (peaking near twice
    the images' size) when that leaves room on the machine, else copies the store into RAM (the same
    tensors, the same training, but a lower load peak), so a shared machine is not pushed out of memory."""
    from medtrain.data.store import available_memory

    load = "npz" if available_memory() > 2.5 * npz.stat().st_size + 2e9 else "copy"
    cmd = [sys.executable, __file__, "--child", mode, "--memory-load", load, "--npz", str(npz), "--steps", str(args.steps),
           "--batch-size", str(args.batch_size), "--threads", str(args.threads), "--stats-images",
           str(args.stats_images)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{mode} process failed:\n{r.stderr[-3000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    print(" ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in out.items()), flush=True)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gb", type=float, default=4.05, help="training images, GB (the .npz is a little larger)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--stats-images", type=int, default=1024, help="training images the normalisation reads")
    p.add_argument("--rounds", type=int, default=2, help="memory/mmap pairs, in ABBA order")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--malloc-default", action="store_true",
                   help="leave glibc's dynamic mmap threshold on (see the module docstring)")
    p.add_argument("--workdir", default=None, help="where the dataset and the store go (default: a /tmp folder)")
    p.add_argument("--json-out", default=str(ROOT / "docs" / "results" / "stream.json"))
    p.add_argument("--child", choices=("convert", "memory", "mmap"), help=argparse.SUPPRESS)
    p.add_argument("--npz", help=argparse.SUPPRESS)
    p.add_argument("--memory-load", choices=("npz", "copy"), default="npz", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return 0

    work = Path(tempfile.mkdtemp(prefix="medtrain-stream-", dir=args.workdir))
    try:
        npz = work / "synthetic224.npz"
        t = time.perf_counter()
        counts = write_dataset(npz, args.gb)
        dataset_gb = npz.stat().st_size / 1e9
        print(f"dataset: {npz.stat().st_size / 1e9:.2f} GB, {counts} images, written in "
              f"{time.perf_counter() - t:.0f} s", flush=True)
        env = {**os.environ, "MEDTRAIN_DATA": str(work / "cache"), "PYTHONPATH": str(ROOT)}
        if not args.malloc_default:
            env["MALLOC_MMAP_THRESHOLD_"] = str(1 << 20)
        convert = run_child("convert", npz, env, args)
        store_gb = sum(f.stat().st_size for f in (work / "cache").rglob("*.npy")) / 1e9
        order = []
        for r in range(args.rounds):
            order += ["memory", "mmap"] if r % 2 == 0 else ["mmap", "memory"]
        runs = [run_child(mode, npz, env, args) for mode in order]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    by = {m: [r for r in runs if r["mode"] == m] for m in ("memory", "mmap")}
    pairs = [(runs[i], runs[i + 1]) for i in range(0, len(runs), 2)]
    def ratio(key):
        return [(b if b["mode"] == "mmap" else a)[key] / (a if a["mode"] == "memory" else b)[key] for a, b in pairs]

    ratios, cpu_ratios = ratio("images_per_s"), ratio("images_per_cpu_s")
    import torch

    summary = {
        "benchmark": "memory-mapped store vs in-memory", "dataset_gb": dataset_gb, "store_gb": store_gb,
        "images": counts, "image_shape": [3, SIZE, SIZE], "steps": args.steps, "batch_size": args.batch_size,
        "model": "tiny CNN (8x8 average-pool stem, 2 convs): the data path dominates each step",
        "augment": ["flip"], "stats_images": args.stats_images, "convert_s": convert["load_s"], "convert_peak_rss_gb": convert["peak_rss_gb"],
        "peak_rss_gb": {m: max(r["peak_rss_gb"] for r in rs) for m, rs in by.items()},
        "images_per_s": {m: statistics.median(r["images_per_s"] for r in rs) for m, rs in by.items()},
        "images_per_cpu_s": {m: statistics.median(r["images_per_cpu_s"] for r in rs) for m, rs in by.items()},
        "load_s": {m: statistics.median(r["load_s"] for r in rs) for m, rs in by.items()},
        "stats_s": {m: statistics.median(r["stats_s"] for r in rs) for m, rs in by.items()},
        "mmap_over_memory_images_per_s": ratios, "ratio_median": statistics.median(ratios),
        "mmap_over_memory_images_per_cpu_s": cpu_ratios, "cpu_ratio_median": statistics.median(cpu_ratios),
        "malloc_mmap_threshold": None if args.malloc_default else 1 << 20,
        "same_batches": len({r["first_batches_sha1"] for r in runs}) == 1,
        "order": order, "threads": args.threads, "cpus": os.cpu_count(), "torch": torch.__version__,
        "machine": "shared 2-core CPU VM, other jobs running: throughput is noisy, compare the paired ratios",
        "runs": runs,
    }
    if args.json_out:
        from medtrain._io import write_json

        write_json(args.json_out, summary)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
