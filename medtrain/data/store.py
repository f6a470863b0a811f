"""A dataset converted once into uncompressed ``.npy`` files in the cache and read through memory maps.

A ``.npz`` or an image folder larger than memory cannot be decoded into RAM (PathMNIST at 224 px is
16 GB raw). Instead its images are written once, image after image, in the very layout the in-memory
path produces (``(N, C, *spatial)`` uint8, C-contiguous), into ``<cache>/store/<name>-<key>/<split>.npy``
(``<cache>``: ``--data-dir`` where given, else :func:`~medtrain._io.cache_dir`).
Each file is mapped read-only and wrapped as a torch tensor, so every consumer (the training loader, the
normalisation statistics, evaluation) indexes it exactly as it indexes the in-memory tensor: the same
seed gives the same batches, byte for byte, and augmentation stays on the device.

Why plain ``.npy`` (NumPy's own format, readable with ``np.load(mmap_mode="r")``): a batch is a gather
of fixed-size rows, which needs no chunking, compression or index; zarr/HDF5/LMDB would add a
dependency and a decode step for nothing.

Two details matter for memory:

* Pages of a mapped file that the process touched count in its resident set until unmapped, so reading
  a 16 GB store once would show 16 GB of RSS (reclaimable page cache, but a user sees RSS). A daemon
  thread drops the process's mappings every :data:`RELEASE_EVERY_S` seconds (``MADV_DONTNEED``); the
  pages stay in the page cache, so the next touch is a minor fault, not a disk read
  (:mod:`medtrain.data._store_pages`).
* The store is written with ordinary sequential ``write`` calls, not through a writable memory map: a
  full disk is then an ``OSError`` (one error line, the half-written folder removed), not a ``SIGBUS``.
  Everything goes into a temporary folder that is renamed into place once complete.

Processes that need the same store at once (two runs started together, the ranks of ``torchrun`` on fresh data)
convert it once: the conversion holds a file lock beside the store (:func:`locked`), and whoever gets the lock
next finds the store written and maps it. A finished store of the same contents is never replaced by another
copy of it, and a replaced one is renamed aside in one step, so a reader sees the old store or the new one.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import Tensor

from medtrain._io import as_created
from medtrain._io import cache as _cache
from medtrain._io import cache_removal as _removal
from medtrain._lock import LOCKS, cannot_lock, lock, unguarded
from medtrain.data._store_pages import RELEASE_EVERY_S, _mapped, release_pages  # noqa: F401  (re-exported)
from medtrain.errors import MedtrainError

STORES = ("auto", "memory", "mmap")
VERSION = 1  #: bumped when the layout changes; a store of another version is rebuilt
META = "meta.json"
RAM_FRACTION = 0.25  #: ``auto`` maps a dataset whose images exceed this share of available memory


def available_memory() -> int:
    """Bytes of memory available to a new allocation (``MemAvailable`` on Linux, free pages elsewhere)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: keep the in-memory default


def local_processes(devices=1, accelerator: str = "auto") -> int:
    """How many training processes share this machine, each holding its own copy of in-memory data: the launcher's
    ``$LOCAL_WORLD_SIZE`` where set (torchrun), else the processes ``devices`` (a run's ``devices``: per machine)
    starts here. Lightning's own launcher (``--devices N`` on one machine) sets no ``LOCAL_WORLD_SIZE``, neither in
    the first process, which reads the data before it starts the others, nor in those, which read them again: each
    had counted itself alone and held its own copy in memory, N copies (``devices`` 1: the variable alone)."""
    try:
        return max(1, int(os.environ["LOCAL_WORLD_SIZE"]))
    except (KeyError, ValueError):
        pass
    try:
        return devices_processes(devices, accelerator)
    except ValueError:  # refused by training's device check, after the data are read
        return 1


def devices_processes(devices, accelerator: str = "auto") -> int:
    """The processes a run's ``devices`` starts on each machine (Lightning's launcher: one per device), ``auto`` and
    ``-1`` as Lightning reads them: every GPU there is, one process on CPU and mps. The one rule of
    :func:`local_processes` and :func:`medtrain.training.distributed.is_multiprocess`. Raises ValueError as
    :func:`device_count`."""
    n = device_count(devices)
    if n is None:
        gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
        return max(1, torch.cuda.device_count()) if gpu else 1
    return max(1, n)


def device_count(devices) -> int | None:
    """How many devices per machine a run's ``devices`` asks for: a number, a list (``0,1`` or ``[0, 1]``), or None
    for ``auto``/``-1`` (whatever there is). Here, the lowest layer that needs it (the in-memory copies counted
    above); :mod:`medtrain.training.distributed` reads it too. Raises ValueError for text that is none of those."""
    if isinstance(devices, (list, tuple)):
        return len(devices)
    text = str(devices).strip()
    if text in ("auto", "-1"):
        return None
    if "," in text:
        return len([t for t in text.split(",") if t.strip()])
    return int(text)


def use_mmap(store: str, image_bytes: int, processes: int | None = None) -> bool:
    """Whether to read images through a store: ``mmap`` always, ``memory`` never, ``auto`` when the images
    exceed :data:`RAM_FRACTION` of available memory (decoding into RAM peaks near twice their size, and
    training needs the rest), shared by the ``processes`` of this machine that each hold their own copy (None:
    :func:`local_processes` of one device; :func:`medtrain.data.load_splits` passes those of the run's devices).
    In memory is faster for anything that fits, so it is the default there."""
    if store not in STORES:
        raise MedtrainError(f"store must be one of {', '.join(STORES)}, got {store!r}")
    processes = local_processes() if processes is None else max(1, int(processes))
    return store == "mmap" or (store == "auto" and image_bytes > RAM_FRACTION * available_memory() / processes)


def content_key(source: Path) -> str:
    """What identifies the contents of a file without reading it: its size, modification time, and the
    status-change time and inode, which a write changes even when size and mtime are restored after it
    (``cp -p``, ``rsync -t``, an archive's extraction, ``os.utime``: a stale store had been reused)."""
    st = os.stat(source)
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


def store_dir(source: Path, content: str, *layout: object, root: str | os.PathLike | None = None) -> Path:
    """The store of ``source`` (a file or folder) under ``<root>/store/`` (``root``: ``--data-dir``, None: the
    :func:`~medtrain._io.cache_dir`; :mod:`medtrain._io.cache` owns the layout): named after it, keyed by its
    path, its ``content`` key and the ``layout`` (resize, split), so a changed source gets a fresh store."""
    ident = json.dumps([str(Path(source).resolve()), content, VERSION, *map(str, layout)])
    name = f"{Path(source).stem}-{hashlib.sha1(ident.encode()).hexdigest()[:12]}"
    return _cache.folder(_cache.STORES, root) / name


_HELD = threading.local()  #: ``paths``: the store locks this thread holds (:func:`locked` is re-entrant)


def _held() -> set:
    if not hasattr(_HELD, "paths"):
        _HELD.paths = set()
    return _HELD.paths


def _lock_path(dest: Path) -> Path:
    return _cache.store_lock(dest)


@contextmanager
def locked(dest: Path) -> Iterator[None]:
    """Hold the lock of the store ``dest`` (the file ``.<name>.lock`` beside it while held), waiting while another
    process or thread holds it: conversions and replacements of one store happen one at a time. Re-entrant within
    a thread. Where the filesystem cannot lock (:func:`medtrain._lock.cannot_lock`) it goes ahead unguarded with a
    one-line warning, as before locks; a lock file that cannot be made at all is one :class:`MedtrainError`."""
    path = _lock_path(dest)
    if path in _held() or not LOCKS:  # Windows: nothing is locked
        yield
        return
    fd = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        while fd is None:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            lock(fd)
            try:  # the holder before removes the file as it lets go: then lock the one made anew
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                fd = None
    except OSError as e:
        if fd is not None:
            os.close(fd)
            fd = None
        if not cannot_lock(e):  # a read-only or foreign folder: named with the ways on (auto does not fall back)
            raise MedtrainError(f"cannot lock the memory-mapped store {dest} ({e.strerror or e}); it is written "
                                f"under --data-dir (else MEDTRAIN_DATA): point --data-dir at a writable folder (a "
                                f"downloaded set's .npz may stay where it is, given as --data), or use --store memory"
                                ) from None
        with suppress(OSError):
            path.unlink()
        warnings.warn(unguarded(dest.parent, e, "conversions of the same data at once"), stacklevel=3)
    _held().add(path)
    try:
        yield
    finally:
        _held().discard(path)
        if fd is not None:
            with suppress(OSError):  # removed while held: no lock file stays in the cache
                path.unlink()
            os.close(fd)  # releases the lock


class ArrayWriter:
    """Appends rows to a ``.npy`` file of a known shape with plain writes (see the module docstring)."""

    def __init__(self, path: Path, shape: tuple, dtype=np.uint8):
        self.path, self.shape, self.dtype = path, tuple(int(s) for s in shape), np.dtype(dtype)
        self.rows = 0
        self._f = open(path, "wb")
        np.lib.format.write_array_header_1_0(
            self._f, {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": self.shape})

    def append(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.shape[1:] or self.rows + len(rows) > self.shape[0]:
            raise MedtrainError(f"{self.path.name}: rows of shape {rows.shape} do not fit {self.shape}")
        self._f.write(memoryview(rows).cast("B"))
        self.rows += len(rows)

    def close(self) -> None:
        self._f.close()
        if self.rows != self.shape[0]:
            raise MedtrainError(f"{self.path.name}: wrote {self.rows} of {self.shape[0]} rows")


class StoreWriter:
    """Creates the ``.npy`` files of a store under a temporary name (see :func:`writing`)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.arrays: dict[str, list] = {}
        self._open: list[ArrayWriter] = []

    def array(self, name: str, shape: tuple, dtype=np.uint8) -> ArrayWriter:
        w = ArrayWriter(self.tmp / f"{name}.npy", shape, dtype)
        self._open.append(w)
        self.arrays[name] = [list(w.shape), w.dtype.str]
        return w

    def _close(self) -> None:
        while self._open:
            self._open.pop().close()


@contextmanager
def writing(dest: Path, source: str, content: str, needed_bytes: int,
            replace: bool = False) -> Iterator[StoreWriter]:
    """Yield a writer into a temporary folder next to ``dest``; rename it onto ``dest`` when the block
    succeeds, remove it otherwise. A failed write (a full disk, a quota) is one :class:`MedtrainError`.
    A valid store of the same ``source`` and ``content`` that another process put at ``dest`` meanwhile is
    kept (this one is dropped) unless ``replace`` (a new layout of it); the rename holds :func:`locked`.
    Stores of an older ``content`` of the same ``source`` are removed afterwards."""
    def failed(e: OSError) -> MedtrainError:
        return MedtrainError(f"could not write the memory-mapped store of {source} into {dest.parent} "
                             f"({e.strerror or e}); nothing was kept")

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _drop_abandoned(dest.parent)
        free = shutil.disk_usage(dest.parent).free
        tmp = None if free < needed_bytes else Path(
            tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    except OSError as e:
        raise failed(e) from None
    if tmp is None:
        raise MedtrainError(f"converting {source} into a memory-mapped store needs {_size(needed_bytes)} "
                            f"in {dest.parent}, only {_size(free)} are free (point --data-dir or MEDTRAIN_DATA "
                            f"elsewhere, or --store memory)")
    writer = StoreWriter(tmp)
    try:
        yield writer
        writer._close()
        as_created(tmp, folder=True)
        meta = {"version": VERSION, "source": source, "content": content, "arrays": writer.arrays}
        (tmp / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        with locked(dest):
            if replace or not _holds(dest, source, content):
                _install(tmp, dest)
    except OSError as e:
        raise failed(e) from None
    finally:
        for w in writer._open:
            w._f.close()
        shutil.rmtree(tmp, ignore_errors=True)
    _drop_stale(dest, source, content)


def _holds(dest: Path, source: str, content: str) -> bool:
    """Whether ``dest`` is a valid store of ``content`` of ``source`` (written by another process meanwhile)."""
    try:
        meta = json.loads((dest / META).read_text(encoding="utf-8"))
        return (meta.get("source"), meta.get("content")) == (source, content) and open_store(dest) is not None
    except (OSError, ValueError, AttributeError, MedtrainError):
        return False


def _install(tmp: Path, dest: Path) -> None:
    """Rename the finished ``tmp`` onto ``dest``. A store already there (of another version, a broken one, an
    older layout) is first renamed aside in one step and removed after: a reader finds the old store whole or
    none (and waits for the lock), never a half-removed one; a reader that mapped it keeps its maps."""
    if not (dest.exists() or dest.is_symlink()):
        os.replace(tmp, dest)
        return
    old = dest.parent / f".{dest.name}.{os.urandom(4).hex()}.old.tmp"
    os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _size(n: int) -> str:
    """Bytes for a message in the unit that fits them, "3.20MB", "16.0GB" (tqdm's formatter, a dependency
    already): in GB alone a small store had read "needs 0.0 GB ..., only 0.0 GB are free"."""
    from tqdm import tqdm

    return tqdm.format_sizeof(n, "B", 1000)


#: a temporary store folder unwritten for this long belongs to a build that was killed (the rule `medtrain cache
#: clear` applies where locks cannot tell; where they can, it removes one as soon as no process holds its lock)
ABANDONED_S = _removal.ABANDONED_S


def _drop_abandoned(folder: Path, now: float | None = None) -> None:
    """Remove the temporary folders of store builds that were killed (SIGKILL, a lost machine: no clean-up
    ran), which can hold gigabytes: those of which no file was written for :data:`ABANDONED_S` seconds. A build
    in progress writes its arrays all along, so it is never taken for one."""
    now = time.time() if now is None else now
    for tmp in folder.glob(".*.tmp"):
        try:
            newest = max([tmp.stat().st_mtime] + [f.stat().st_mtime for f in tmp.iterdir()])
        except OSError:  # removed meanwhile by its own build or another sweep
            continue
        if tmp.is_dir() and now - newest > ABANDONED_S:
            shutil.rmtree(tmp, ignore_errors=True)


def _drop_stale(dest: Path, source: str, content: str) -> None:
    """Remove stores of older contents of the same source, which would only take disk space (stores of
    the same contents in another layout, e.g. another split seed of a folder, are kept)."""
    for other in dest.parent.glob(dest.name.rsplit("-", 1)[0] + "-*"):
        if other != dest and other.is_dir() and not other.name.startswith("."):
            try:
                meta = json.loads((other / META).read_text(encoding="utf-8"))
                if meta.get("source") == source and meta.get("content") != content:
                    shutil.rmtree(other, ignore_errors=True)
            except (OSError, ValueError):
                pass


def open_store(dest: Path) -> dict[str, Tensor] | None:
    """The arrays of the store at ``dest`` as read-only mapped tensors; None if there is none (or it is of
    another version). A damaged store is a :class:`MedtrainError` naming the folder to delete; one that looks
    damaged because another process replaced it while it was read is read again once that holds no lock."""
    try:
        return _open_store(dest)
    except MedtrainError as e:
        if _lock_path(dest) in _held():  # nobody else can be replacing it: damaged indeed
            raise
        damaged = e
    try:
        with locked(dest):
            return _open_store(dest)
    except MedtrainError:
        raise damaged from None


def _open_store(dest: Path) -> dict[str, Tensor] | None:
    if not (dest / META).is_file():
        return None
    try:
        meta = json.loads((dest / META).read_text(encoding="utf-8"))
        if meta.get("version") != VERSION:
            return None
        return {name: _mapped(dest / f"{name}.npy", tuple(shape), np.dtype(dtype))
                for name, (shape, dtype) in meta["arrays"].items()}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise MedtrainError(f"the memory-mapped store {dest} is damaged ({e}); delete that folder and it is "
                            f"rebuilt on the next run") from None
