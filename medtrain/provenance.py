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
from medtrain.data.duplicates import moved_note
from medtrain.data.folder import IMAGE_DEPTH, image_depth
from medtrain.errors import MedtrainError

#: Distributions whose versions a run records (those that decide its numbers or read its data).
PACKAGES = ("torch", "lightning", "timm", "monai", "numpy", "torchmetrics", "scikit-learn", "safetensors")
#: Images hashed per chunk, so a memory-mapped split is read once without being held in memory.
CHUNK = 1024


#: The import name of a distribution in :data:`PACKAGES` whose name is not it (else its name, ``-`` as ``_``).
IMPORT_NAMES = {"scikit-learn": "sklearn"}
#: Versions looked up, of distributions this process had imported (see :func:`_version`).
_VERSIONS: dict[str, str] = {}


def _version(name: str) -> str | None:
    """The installed version of the distribution ``name`` (None: not installed). Kept for the process once its
    module is imported (the module imported is the one that runs, whatever is installed later; a lookup scans the
    environment's metadata, ~0.7 ms each, 9 per run); a package not imported yet, or not installed, is looked up
    again: ``%pip install monai`` in a notebook, then a run, records the version installed, not None."""
    if name in _VERSIONS:
        return _VERSIONS[name]
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    if IMPORT_NAMES.get(name, name.replace("-", "_")) in sys.modules:
        _VERSIONS[name] = version
    return version


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
    """``metrics.json``'s ``provenance``: :func:`environment`, each split's :func:`split_digest` (None for an
    empty split: a search trial's test split is dropped before training, and is scored once later) and the bit depth
    of the images (``image_depth``: :func:`medtrain.data.folder.image_depth`; ``8-bit``, ``more than 8 bits``,
    ``mixed`` or None), which predict and ``eval --data`` hold their image files to (runs before it: not checked)."""
    return {**environment(), "argv": sys.argv,
            "data_sha256": {name: split_digest(splits.split(name)) if len(splits.split(name)) else None
                            for name in ("train", "val", "test")},
            IMAGE_DEPTH: image_depth(splits)}


def check_unchanged(metrics: dict, splits, split: str, run_dir) -> str | None:
    """Refuse in one line when ``split`` no longer holds the images and labels the run recorded; returns how it
    was checked: ``"sha256"``, ``"labels"`` (a run written before digests: its test labels against its
    ``predictions_test.csv``, which an upgraded medtrain had otherwise scored changed data against without a
    word), or None (no record to check against)."""
    want = ((metrics.get("provenance") or {}).get("data_sha256") or {}).get(split)
    if want:
        if split_digest(splits.split(split)) != want:
            # the same data split anew, pixel-identical images now kept in one split: said where the run has no
            # splits.csv (rundir.SPLITS_FILE, which imports this module) to tell; one it has matched this split
            # (rundir.run_splits checks it first), so there the images or labels did change
            older = not (Path(run_dir) / "splits.csv").is_file()
            why = moved_note(splits.record) if older else None
            if why:
                raise MedtrainError(f"the {split} split of {run_dir} is not the one it was trained and scored with "
                                    f"(SHA-256 {want[:12]}... then): {why}")
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


#: Where :func:`peak_rss_mb` counts from: "run" once :func:`start_peak_memory` reset the kernel's high-water mark,
#: "process" (the process's whole life) where it could not.
_peak_scope = "process"


def start_peak_memory() -> None:
    """Count the peak memory from now on: a run's ``peak_rss_mb`` and ``peak_gpu_mb`` are then its own, not those of
    whatever the process did before and has freed (a notebook's 3 GB of earlier work, the earlier cells of a
    comparison). Memory the caller still holds when the run starts stays in the count: the reset sets the peak to
    the current resident size.

    Linux (>= 4.0) resets the resident-set high-water mark (``VmHWM``) when ``5`` is written to
    ``/proc/self/clear_refs``; nothing else can (``getrusage`` has no reset). Where that is refused (another
    system, a sandbox), the peak stays the process's and :func:`peak_rss_scope` says so."""
    global _peak_scope
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        _peak_scope = "run" if _vm_hwm_kib() is not None else "process"
    except OSError:
        _peak_scope = "process"
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # (initialising CUDA here would cost a context)
        torch.cuda.reset_peak_memory_stats()


def _vm_hwm_kib() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_scope() -> str:
    """``"run"`` when :func:`peak_rss_mb` counts from the last :func:`start_peak_memory`, ``"process"`` when it is
    the process's lifetime peak."""
    return _peak_scope


def peak_rss_mb() -> float:
    """The most resident memory this process has held since :func:`start_peak_memory` (``VmHWM``), or in its
    whole life where that could not be reset (``ru_maxrss``: KiB on Linux, bytes on macOS), in MiB."""
    kib = _vm_hwm_kib() if _peak_scope == "run" else None
    if kib is not None:
        return kib / 1024
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def processes_peak(metrics: dict) -> dict:
    """The peak memory ``metrics.json`` records for a run trained by several processes (``--devices 2``), from
    its ``metrics`` as assembled (``peak_rss_mb``: the writing process's own peak, read as it writes them;
    ``peak_rss_mb_per_process``: every process's, gathered at the end of training by
    :class:`medtrain.training.process_memory.ProcessPeaks`): ``peak_rss_mb`` becomes the sum over the processes of
    each one's own peak, and ``peak_rss_mb_per_process`` those peaks in rank order, the first process's (the
    writer's) as measured when it writes ``metrics.json`` (training, evaluation: before the report and figures
    are drawn), the others' at the end of their training (they evaluate and write nothing). The peaks are each
    process's own, not one moment's total: the job held at most their sum. ``{}`` for a single-process run
    (no ``peak_rss_mb_per_process``): its ``peak_rss_mb`` is its one process's and stays as it is."""
    each = metrics.get("peak_rss_mb_per_process")
    if not each:
        return {}
    each = [metrics["peak_rss_mb"], *each[1:]]
    return {"peak_rss_mb": sum(each), "peak_rss_mb_per_process": each}


def device_memory() -> dict:
    """What ``metrics.json`` records beside ``peak_rss_mb``: its scope (:func:`peak_rss_scope`) and, when the run
    used CUDA, the peak GPU memory PyTorch allocated (since :func:`start_peak_memory`) and the device's name."""
    out = {"peak_rss_scope": peak_rss_scope()}
    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return out
    return {**out, "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20, "device": torch.cuda.get_device_name()}
