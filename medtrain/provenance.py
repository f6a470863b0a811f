"""What a run was made with, recorded under ``provenance`` in ``metrics.json``: the versions of medtrain and
the libraries whose arithmetic decides the numbers, the machine and its torch thread count (CPU results
depend on it: a run with 2 threads differs from one with 1), and a SHA-256 digest of each split's images
and labels, so that ``medtrain eval`` can refuse to score data that changed since the run was trained
(edited pixels or labels had given other numbers under the run's name without a word)."""
from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from medtrain._predictions_csv import PREDICTIONS_FILE, read_saved
from medtrain.errors import MedtrainError

#: Distributions whose versions a run records (those that decide its numbers or read its data).
PACKAGES = ("torch", "lightning", "timm", "monai", "numpy", "torchmetrics", "scikit-learn", "safetensors")
#: Images hashed per chunk, so a memory-mapped split is read once without being held in memory.
CHUNK = 1024


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def medtrain_version() -> str | None:
    """medtrain's installed version (what ``model.safetensors`` records beside its metadata)."""
    return _version("medtrain")


def source_revision() -> dict | None:
    """The git commit of the medtrain source this process runs and whether tracked files differ from it, where
    medtrain runs from a git checkout (an editable install: its version number does not change with the code);
    None otherwise."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head, "modified": bool(dirty)}


def environment() -> dict:
    """The software and machine of this process: versions, platform, CPU, torch threads, GPU (if any)."""
    env = {"medtrain": medtrain_version(), "python": platform.python_version(),
           **{name: _version(name) for name in PACKAGES},
           "platform": platform.platform(), "cpu": _cpu(), "torch_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    revision = source_revision()
    if revision is not None:
        env["medtrain_git"] = revision
    return env


def split_digest(split) -> str:
    """SHA-256 of a split's images ``(N, C, *spatial)`` and labels, with their shapes and dtypes: equal exactly
    when the split holds the same pixels and labels in the same order."""
    h = hashlib.sha256()
    for t in (split.images, split.labels):
        h.update(f"{tuple(t.shape)}:{t.dtype};".encode())
        for start in range(0, len(t), CHUNK):
            h.update(np.ascontiguousarray(t[start:start + CHUNK].numpy()).tobytes())
    return h.hexdigest()


def record(splits) -> dict:
    """``metrics.json``'s ``provenance``: :func:`environment` and each split's :func:`split_digest` (None for an
    empty split: a search trial's test split is dropped before training, and is scored once later)."""
    return {**environment(), "argv": sys.argv,
            "data_sha256": {name: split_digest(splits.split(name)) if len(splits.split(name)) else None
                            for name in ("train", "val", "test")}}


def check_unchanged(metrics: dict, splits, split: str, run_dir) -> str | None:
    """Refuse in one line when ``split`` no longer holds the images and labels the run recorded; returns how it
    was checked: ``"sha256"``, ``"labels"`` (a run written before digests: its test labels against its
    ``predictions_test.csv``, which an upgraded medtrain had otherwise scored changed data against without a
    word), or None (no record to check against)."""
    want = ((metrics.get("provenance") or {}).get("data_sha256") or {}).get(split)
    if want:
        if split_digest(splits.split(split)) != want:
            raise MedtrainError(f"the {split} split of {run_dir} is not the one it was trained and scored with: its "
                                f"images or labels changed since (SHA-256 {want[:12]}... then). Restore the data "
                                "as it was, or train a new run")
        return "sha256"
    if split != "test" or not (Path(run_dir) / PREDICTIONS_FILE).is_file():
        return None
    saved = read_saved(run_dir, "test").labels
    now = splits.split(split).labels.numpy()
    if len(now) != len(saved) or not np.array_equal(saved, now.reshape(saved.shape).astype(saved.dtype)):
        raise MedtrainError(f"the test split of {run_dir} is not the one it was scored with: its {len(now)} labels "
                            f"differ from the {len(saved)} in its {PREDICTIONS_FILE}. Restore the data as it was, "
                            "or train a new run")
    return "labels"


def peak_rss_mb() -> float:
    """The most resident memory this process has held, in MiB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def device_memory() -> dict:
    """Peak GPU memory (what PyTorch allocated) and the device's name, when the run used CUDA."""
    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return {}
    return {"peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20, "device": torch.cuda.get_device_name()}
