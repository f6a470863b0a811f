"""MedMNIST datasets by name: the real download (URLs and MD5 from the ``medmnist`` package) into a cache.

Yang et al., "MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image
classification", Scientific Data 10, 41 (2023). The arrays of a .npz are read by :mod:`medtrain.data._npz`.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import struct
import time
import urllib.request
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from medtrain._io import atomic_path, path_kind
from medtrain._io.cache import DOWNLOADS, folder
from medtrain._lock import LOCKS, cannot_lock, lock, try_lock, unguarded
from medtrain._progress import download_bar
from medtrain.data._npz import (NPZ_KEYS, _channels_first, _damaged, _images_to_tensor, _is_volume, _layout,
                                _npy_header, _npz_headers, _read_npz, check_square)
from medtrain.data._medmnist_names import (SIZES, SIZES_3D, NamedLikeMedmnistWarning, _info,  # noqa: F401 (the
                                           identify, named_like)  # sizes and the warning re-exported)
from medtrain.data.base import SPLITS, Split, Splits
from medtrain.data.store import ABANDONED_S, content_key, locked, open_store, store_dir, use_mmap, writing
from medtrain.tasks import BINARY, MULTICLASS, MULTILABEL
from medtrain.errors import MedtrainError, suggest

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


#: a temporary download no process holds and unwritten for this long was left by a killed download (the time
#: between its creation and its writer's lock); where locks are missing, the store's hour (a live download writes
#: all along; Windows has none: an abandoned download is then told by its age alone)
ABANDONED_DOWNLOAD_S = 60 if LOCKS else ABANDONED_S
_PARTIAL = re.compile(r"\.([A-Za-z0-9_]+\.npz)\.[^./]+\.tmp")  #: _io.atomic_path's name for a download in progress


def _drop_abandoned_downloads(folder: Path, now: float | None = None) -> None:
    """Remove the partial downloads (``.NAME.npz.<random>.tmp``) that a killed download left in ``folder`` (SIGKILL,
    a lost machine: no clean-up ran; one had stayed for ever, up to gigabytes for the 224-pixel sets). A download
    in progress holds a lock on its file (:func:`_fetch`), released by the system when its process ends however
    it ends: a file nobody holds and unwritten for :data:`ABANDONED_DOWNLOAD_S` is abandoned, one a concurrent
    download is writing is never taken for one. As :func:`medtrain.data.store._drop_abandoned` for stores."""
    known = {file_name(n, s) for n in names() for s in (SIZES_3D if n.endswith("3d") else SIZES)}
    now = time.time() if now is None else now
    for tmp in folder.glob(".*.npz.*.tmp"):
        m = _PARTIAL.fullmatch(tmp.name)
        if not m or m.group(1) not in known:  # not a MedMNIST download's: someone else's file
            continue
        try:
            fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:  # renamed or removed meanwhile by its own download or another sweep; a link
            continue
        try:
            try:
                if not try_lock(fd):  # held by a download in progress
                    continue
                limit = ABANDONED_DOWNLOAD_S
            except OSError as e:
                if not cannot_lock(e):
                    raise
                limit = ABANDONED_S  # a filesystem that cannot lock: told by its age alone, as on Windows
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime > limit:
                tmp.unlink(missing_ok=True)
        except OSError:  # a cache folder this user cannot write: left there
            pass
        finally:
            os.close(fd)  # releases the lock


def _fetch(url: str, dest: Path) -> None:
    """Download ``url`` to ``dest`` (atomically), with a progress bar on a terminal. Separate so tests can
    replace it. The partial file is locked while it is written, which tells a concurrent download's sweep
    (:func:`_drop_abandoned_downloads`) that it is in progress; unlocked, with a warning, where none can be."""
    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
        try:
            lock(f.fileno())  # a new file: only a sweep's look at it can hold it, briefly
        except OSError as e:
            if not cannot_lock(e):
                raise
            warnings.warn(unguarded(dest.parent, e, "downloads into this folder at the same time"), stacklevel=2)
        with urllib.request.urlopen(url, timeout=60) as r:
            size = r.headers.get("Content-Length")
            with download_bar(int(size) if size and size.isdigit() else None, dest.name) as bar:
                for block in iter(lambda: r.read(1 << 20), b""):
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
    root = folder(DOWNLOADS, data_dir)
    path = root / file_name(name, size)
    if path.is_file():
        return path
    url, md5 = _url_md5(name, size)
    _drop_abandoned_downloads(root)  # a killed download's partial file, before this one adds its own
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


def _is_3d(like: str | None, shape: tuple, where: str) -> bool:
    """Volumes, not 2D images: named like a MedMNIST 3D set, else by the shape (:func:`_is_volume`)."""
    return (like is not None and like.endswith("3d")) or _is_volume(shape, where)


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


class OneHotLabelsWarning(UserWarning):
    """Labels of several columns with exactly one 1 in every row (one-hot), read as multi-label as any label
    matrix is: a Keras user's ``to_categorical`` labels had trained independent sigmoids without a word."""


def _say_if_one_hot(path: Path, labels: list) -> None:
    """Warn in one line where every row of every split's label matrix has exactly one 1, the rest 0: one-hot
    class labels, which a label matrix (read as multi-label) rarely is; genuine multi-label data (ChestMNIST)
    has rows of no or several labels."""
    if not any(len(a) for a in labels) or any(a.ndim != 2 or a.dtype.kind not in "biuf" for a in labels):
        return
    if all(np.isin(a, (0, 1)).all() and (a.sum(axis=1) == 1).all() for a in labels):
        k = labels[0].shape[1]
        warnings.warn(OneHotLabelsWarning(
            f"{path}: every row of its labels has exactly one 1 of {k} (one-hot, as Keras' to_categorical writes "
            f"them), and a label matrix is read as multi-label: {k} independent yes/no labels per image, whose "
            f"probabilities need not sum to 1; for one class per image save class indices, shape (N,) or (N, 1) "
            f"(labels.argmax(1))"), stacklevel=3)


def load_npz(path: str | os.PathLike, name: str | None = None, task: str | None = None,
             label_names: dict | None = None, store: str = "memory",
             data_dir: str | os.PathLike | None = None, processes: int | None = None) -> Splits:
    """Load a .npz in MedMNIST layout (the six ``{split}_{images,labels}`` keys).

    Task and label names come from ``medmnist.INFO`` when the file is named like a MedMNIST set
    (``pneumoniamnist.npz``, ``dermamnist_64.npz``, ``organamnist_left.npz``) and its labels fit that set's, else they
    are inferred from the labels: a label matrix with several columns is multi-label, otherwise classes are
    ``0..max``. Its name, and whether it is the set the published rows were measured on: :func:`identify`.

    ``store``: ``memory`` decodes the images into RAM; ``mmap`` converts them once into a memory-mapped
    store under ``data_dir`` (default: the cache; :mod:`medtrain.data.store`), read from there: the same tensors;
    ``auto`` maps them when they would not fit comfortably in memory (:func:`~medtrain.data.store.use_mmap`) of
    ``processes`` training processes on this machine, each with its own copy (None: ``$LOCAL_WORLD_SIZE`` or one).
    """
    path = Path(path)
    if path_kind(path) != "file":
        raise MedtrainError(f"data file not found: {path}")
    like = named_like(path.stem)
    mapped = None
    if store != "memory":
        headers = _npz_headers(path)
        if use_mmap(store, sum(int(np.prod(headers[f"{s}_images"][0])) for s in SPLITS), processes):
            is_3d = _is_3d(like, headers["train_images"][0], f"{path}: train_images")
            shape, _, dtype = headers["train_images"]
            check_square(shape, dtype, f"{path}: train_images", is_3d)  # before its store is written
            mapped = _npz_store(path, headers, is_3d, data_dir)
    arrays = _read_npz(path, NPZ_KEYS if mapped is None else tuple(f"{s}_labels" for s in SPLITS))
    train_labels = arrays["train_labels"]
    checked = {s: _check_labels(arrays[f"{s}_labels"], f"{path}: {s}_labels") for s in SPLITS}
    name, info, note = identify(path, list(checked.values()), name)
    if task is None:
        task = info["task"] if info else (MULTILABEL if train_labels.ndim == 2 and train_labels.shape[1] > 1
                                          else None)
        if task == MULTILABEL and not info:
            _say_if_one_hot(path, [arrays[f"{s}_labels"] for s in SPLITS])
    if mapped is None:
        is_3d = _is_3d(like, arrays["train_images"].shape, f"{path}: train_images")
        check_square(arrays["train_images"].shape, arrays["train_images"].dtype, f"{path}: train_images", is_3d)
    splits = {}
    for s in SPLITS:
        images = (mapped[f"{s}_images"] if mapped is not None
                  else _images_to_tensor(arrays[f"{s}_images"], f"{s}_images", is_3d))
        labels = checked[s]
        if len(images) != len(labels):
            raise MedtrainError(f"{path}: {s} has {len(images)} images but {len(labels)} labels")
        if task == MULTILABEL:
            lab = torch.from_numpy((labels if labels.ndim == 2 else labels[:, None]).astype(np.float32))
        else:
            if labels.ndim == 2 and labels.shape[1] != 1:
                what = f"{name} is {task}" if task is not None else "train_labels has one"  # inferred from train
                raise MedtrainError(f"{path}: {s}_labels has {labels.shape[1]} columns but {what}; "
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
    out = Splits(name=name, task=task, label_names=label_names, source=str(path), **splits).validate()
    if note:
        warnings.warn(NamedLikeMedmnistWarning(note), stacklevel=2)
    return out


def load_npz_images(path: str | os.PathLike, split: str = "test") -> torch.Tensor:
    """The ``{split}_images`` of a .npz in MedMNIST layout, ``(N, C, *spatial)`` uint8, as :func:`load_npz`
    gives them: all that predicting one split needs, so the other splits' keys and the labels may be absent."""
    path = Path(path)
    if path_kind(path) != "file":
        raise MedtrainError(f"data file not found: {path}")
    if split not in SPLITS:
        raise suggest(split, SPLITS, "split")
    key = f"{split}_images"
    images = _read_npz(path, (key,), split=split)[key]
    return _images_to_tensor(images, key, _is_3d(named_like(path.stem), images.shape, f"{path}: {key}"))


def load_medmnist(name: str, size: int = 28, data_dir: str | os.PathLike | None = None,
                  store: str = "memory", processes: int | None = None) -> Splits:
    """Load a MedMNIST dataset by name, downloading it into the cache on first use (``store``, ``processes``: see
    :func:`load_npz`)."""
    return load_npz(fetch(name, size, data_dir), name=name, store=store, data_dir=data_dir, processes=processes)



def _npz_store(path: Path, headers: dict, is_3d: bool, root=None) -> dict:
    """The images of ``path`` as mapped tensors, converting them into the store on first use.

    ``np.load`` of an .npz member decompresses it whole into RAM, so each member is streamed instead:
    its .npy header is parsed, then rows are read from the (possibly deflated) zip member in chunks of
    about 64 MB, put into the ``(N, C, *spatial)`` layout of the in-memory path and appended to the store (under
    ``root``, None: the cache), by one process at a time: one converting the same file meanwhile is waited for."""
    layouts = {}
    for s in SPLITS:
        shape, fortran, dtype = headers[f"{s}_images"]
        if fortran and len(shape) > 1:
            raise MedtrainError(f"{path}: {s}_images is stored in Fortran order and cannot be streamed; "
                                f"use --store memory")
        layouts[s] = (shape, *_layout(shape, dtype, f"{s}_images", is_3d))
    content = content_key(path)
    # (N, C, H, W) images had been stored as volumes of one slice: such a file's store is another one
    first = not is_3d and any(len(v[0]) == 4 and _channels_first(v[0]) for v in layouts.values())
    dest = store_dir(path, content, *(("channels-first",) if first else ()), root=root)
    opened = open_store(dest)
    if opened is not None:
        return opened
    with locked(dest):  # converted once: a process converting it meanwhile is waited for, its store used
        return open_store(dest) or _convert_npz(path, layouts, dest, content)


def _convert_npz(path: Path, layouts: dict, dest: Path, content: str) -> dict:
    with writing(dest, str(path.resolve()), content, sum(int(np.prod(v[0])) for v in layouts.values())) as w:
        for s, (shape, target, perm) in layouts.items():
            out = w.array(f"{s}_images", target)
            row = int(np.prod(shape[1:]))
            step = max(1, (64 << 20) // max(row, 1))
            try:
                with zipfile.ZipFile(path) as zf, zf.open(f"{s}_images.npy") as f:
                    _npy_header(f)
                    for start in range(0, shape[0], step):
                        k = min(step, shape[0] - start)
                        block = f.read(k * row)
                        if len(block) != k * row:
                            raise EOFError
                        rows = np.frombuffer(block, np.uint8).reshape(k, *shape[1:])
                        out.append(rows.transpose(perm) if perm else rows.reshape(k, *target[1:]))
            except (EOFError, ValueError, zipfile.BadZipFile, zlib.error, struct.error) as e:
                raise _damaged(path, e) from None
    return open_store(dest)
