"""MedMNIST datasets by name: the real download (URLs and MD5 from the ``medmnist`` package) into a cache.

Yang et al., "MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image
classification", Scientific Data 10, 41 (2023).
"""
from __future__ import annotations

import hashlib
import os
import struct
import urllib.request
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from medtrain._io import atomic_path, cache_dir, path_kind
from medtrain._progress import download_bar
from medtrain.data.base import Split, Splits
from medtrain.tasks import BINARY, MULTICLASS, MULTILABEL
from medtrain.errors import MedtrainError, suggest

SIZES = (28, 64, 128, 224)
SIZES_3D = (28, 64)
NPZ_KEYS = ("train_images", "train_labels", "val_images", "val_labels", "test_images", "test_labels")


def _info() -> dict:
    from medmnist import INFO

    return INFO


def names(dim: int | None = None) -> list[str]:
    """All MedMNIST dataset names (``dim=2`` or ``3`` to filter)."""
    all_names = list(_info())
    if dim is None:
        return all_names
    return [n for n in all_names if n.endswith("3d") == (dim == 3)]


def file_name(name: str, size: int = 28) -> str:
    return f"{name}.npz" if size == 28 else f"{name}_{size}.npz"


def _url_md5(name: str, size: int) -> tuple[str, str]:
    info = _info()[name]
    suffix = "" if size == 28 else f"_{size}"
    return info[f"url{suffix}"], info[f"MD5{suffix}"]


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _fetch(url: str, dest: Path) -> None:
    """Download ``url`` to ``dest`` (atomically), with a progress bar on a terminal. Separate so tests can
    replace it."""
    with atomic_path(dest) as tmp, urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:
        size = r.headers.get("Content-Length")
        with download_bar(int(size) if size and size.isdigit() else None, dest.name) as bar:
            while True:
                block = r.read(1 << 20)
                if not block:
                    break
                f.write(block)
                bar.update(len(block))


def fetch(name: str, size: int = 28, data_dir: str | os.PathLike | None = None) -> Path:
    """Return the path of the dataset's .npz in the cache, downloading (and MD5-checking) it if absent."""
    info = _info()
    if name not in info:
        raise suggest(name, info, "dataset")
    sizes = SIZES_3D if name.endswith("3d") else SIZES
    if size not in sizes:
        raise MedtrainError(f"{name} comes in sizes {', '.join(map(str, sizes))}, not {size}")
    root = Path(data_dir).expanduser() if data_dir else cache_dir()
    path = root / file_name(name, size)
    if path.is_file():
        return path
    url, md5 = _url_md5(name, size)
    try:
        _fetch(url, path)
    except OSError as e:
        reason = getattr(e, "reason", None) or e
        raise MedtrainError(
            f"{path.name} is not in {root} and could not be downloaded ({reason}); download {url} "
            f"and put it at {path}, or point MEDTRAIN_DATA (or --data-dir) at a folder holding it") from None
    got = md5sum(path)
    if got != md5:
        path.unlink()
        raise MedtrainError(f"downloaded {path.name} has MD5 {got}, expected {md5}; removed it, try again")
    return path


def _images_to_tensor(a: np.ndarray, key: str, is_3d: bool) -> torch.Tensor:
    if a.dtype != np.uint8:
        raise MedtrainError(f"{key} must be uint8 images, got {a.dtype}")
    if is_3d:
        if a.ndim == 4:  # (N, D, H, W) one channel
            a = a[:, None]
        elif a.ndim != 5:
            raise MedtrainError(f"{key} must be (N, D, H, W) volumes, got shape {a.shape}")
    elif a.ndim == 3:  # (N, H, W) grey
        a = a[:, None]
    elif a.ndim == 4 and a.shape[-1] in (1, 3):  # (N, H, W, C)
        a = a.transpose(0, 3, 1, 2)
    else:
        raise MedtrainError(f"{key} must be (N, H, W) or (N, H, W, 3) images, got shape {a.shape}")
    return torch.from_numpy(np.ascontiguousarray(a))


# What numpy and zipfile raise for a file that is not, or no longer, a valid .npz: truncated or garbled
# archives (BadZipFile, EOFError, zlib.error, struct.error), members that are not .npy (ValueError),
# object arrays that would need pickle (ValueError), unreadable files (OSError).
_BAD_NPZ = (OSError, ValueError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error,
            NotImplementedError, KeyError, RuntimeError)


def _check_labels(labels: np.ndarray, what: str) -> np.ndarray:
    """Labels must be whole numbers, one per image ``(N,)`` or a row per image ``(N, L)``.

    (Their range is checked against the classes by :meth:`Splits.validate`.)
    """
    if labels.dtype.kind not in "biuf":
        raise MedtrainError(f"{what} must be numbers, got dtype {labels.dtype}")
    if labels.ndim not in (1, 2):
        raise MedtrainError(f"{what} must be (N,) or (N, L), got shape {labels.shape}")
    if labels.size and (not np.isfinite(labels).all() or (labels != np.round(labels)).any()
                        or np.abs(labels).max() > np.iinfo(np.int32).max):
        raise MedtrainError(f"{what} must be whole numbers (class indices or 0/1 flags)")
    return labels


def _read_npz(path: Path) -> dict:
    """The six MedMNIST arrays of ``path``, fully read; any damage is one MedtrainError naming the file."""
    try:
        # Our own file handle: np.load leaks its own when the zip directory turns out to be garbage.
        with open(path, "rb") as f:
            npz = np.load(f, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise MedtrainError(f"{path} is a single .npy array, not a .npz archive in MedMNIST layout")
            with npz:
                missing = [k for k in NPZ_KEYS if k not in npz.files]
                if missing:
                    raise MedtrainError(f"{path} lacks the key(s) {', '.join(missing)} of the MedMNIST layout")
                return {k: np.asarray(npz[k]) for k in NPZ_KEYS}
    except _BAD_NPZ as e:
        raise MedtrainError(f"{path} is not a readable .npz file, it may be truncated or damaged "
                            f"({type(e).__name__})") from None


def load_npz(path: str | os.PathLike, name: str | None = None, task: str | None = None,
             label_names: dict | None = None) -> Splits:
    """Load a .npz in MedMNIST layout (the six ``{split}_{images,labels}`` keys).

    Task and label names come from ``medmnist.INFO`` when the file is named like a MedMNIST set
    (``pneumoniamnist.npz``, ``dermamnist_64.npz``), else they are inferred from the labels: a label
    matrix with several columns is multi-label, otherwise classes are ``0..max``.
    """
    path = Path(path)
    if path_kind(path) != "file":
        raise MedtrainError(f"data file not found: {path}")
    stem = path.stem.split("_")[0]
    info = _info().get(stem)
    name = name or stem
    arrays = _read_npz(path)
    train_labels = arrays["train_labels"]
    if task is None:
        task = info["task"] if info else (MULTILABEL if train_labels.ndim == 2 and train_labels.shape[1] > 1
                                          else None)
    is_3d = (info is not None and stem.endswith("3d")) or arrays["train_images"].ndim == 5 or (
        arrays["train_images"].ndim == 4 and arrays["train_images"].shape[-1] not in (1, 3))
    splits = {}
    for s in ("train", "val", "test"):
        images = _images_to_tensor(arrays[f"{s}_images"], f"{s}_images", is_3d)
        labels = _check_labels(arrays[f"{s}_labels"], f"{path}: {s}_labels")
        if len(images) != len(labels):
            raise MedtrainError(f"{path}: {s} has {len(images)} images but {len(labels)} labels")
        if task == MULTILABEL:
            lab = torch.from_numpy((labels if labels.ndim == 2 else labels[:, None]).astype(np.float32))
        else:
            if labels.ndim == 2 and labels.shape[1] != 1:
                raise MedtrainError(f"{path}: {s}_labels has {labels.shape[1]} columns but {name} is {task}; "
                                    f"a single-label task has one label per image")
            lab = torch.from_numpy(labels.reshape(-1).astype(np.int64))
        splits[s] = Split(images, lab)
    if label_names is None:
        if info:
            label_names = dict(info["label"])
        elif task == MULTILABEL:
            label_names = {str(i): str(i) for i in range(train_labels.shape[1])}
        else:
            highest = [int(splits[s].labels.max()) for s in splits if len(splits[s])]
            if not highest:
                raise MedtrainError(f"{path}: train, val and test are all empty")
            k = max(highest) + 1
            if k > len(splits["train"]):  # validate() would refuse it anyway: classes without training images
                raise MedtrainError(f"{path}: labels run up to {k - 1}, but train has only {len(splits['train'])} "
                                    f"images, so most classes 0..{k - 1} have no training image")
            label_names = {str(i): str(i) for i in range(max(k, 2))}
    if task is None:
        task = BINARY if len(label_names) == 2 else MULTICLASS
    return Splits(name=name, task=task, label_names=label_names, source=str(path), **splits).validate()


def load_medmnist(name: str, size: int = 28, data_dir: str | os.PathLike | None = None) -> Splits:
    """Load a MedMNIST dataset by name, downloading it into the cache on first use."""
    return load_npz(fetch(name, size, data_dir), name=name)
