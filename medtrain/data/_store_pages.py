"""Plumbing of :mod:`medtrain.data.store`: a ``.npy`` file of a store mapped read-only as a torch tensor, and the
pages of every live mapping dropped from the process's resident set every :data:`RELEASE_EVERY_S` seconds
(``MADV_DONTNEED``; the pages stay in the page cache, so the next touch is a minor fault, not a disk read)."""
from __future__ import annotations

import mmap
import os
import threading
import time
import warnings
import weakref
from pathlib import Path

import numpy as np
import torch

RELEASE_EVERY_S = 0.05


def _mapped(path: Path, shape: tuple, dtype: np.dtype) -> torch.Tensor:
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        got_shape, fortran, got_dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                                         else np.lib.format.read_array_header_2_0(f))
        offset = f.tell()
        if got_shape != shape or got_dtype != dtype or fortran:
            raise ValueError(f"{path.name} holds {got_dtype} {got_shape}, expected {dtype} {shape}")
        nbytes = int(np.prod(shape)) * dtype.itemsize
        size = os.fstat(f.fileno()).st_size
        if size != offset + nbytes:
            raise ValueError(f"{path.name} is {size} bytes, expected {offset + nbytes}")
        if nbytes == 0:
            return torch.from_numpy(np.zeros(shape, dtype))
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    _RELEASER.watch(mm)
    array = np.ndarray(shape, dtype, buffer=mm, offset=offset)
    with warnings.catch_warnings():  # read-only memory: torch warns that the tensor is not writable
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)


class _PageReleaser:
    """Drops the pages of every live store mapping from the process every ``RELEASE_EVERY_S`` seconds.

    Safe while another thread reads the mapping: the data are read-only file pages, so a dropped page is
    simply faulted in again from the page cache. The thread runs only while some mapping is alive.
    """

    def __init__(self):
        self._maps: weakref.WeakSet = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, mm: mmap.mmap) -> None:
        if not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
            return  # no madvise (Windows): the OS reclaims the clean pages under pressure
        with self._lock:
            self._maps.add(mm)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="medtrain-store-pages", daemon=True)
                self._thread.start()

    def release(self) -> None:
        for mm in list(self._maps):
            try:
                mm.madvise(mmap.MADV_DONTNEED)
            except (ValueError, OSError):  # closed meanwhile
                pass

    def _run(self) -> None:
        while True:
            time.sleep(RELEASE_EVERY_S)
            with self._lock:
                if not self._maps:
                    self._thread = None
                    return
            self.release()


_RELEASER = _PageReleaser()
release_pages = _RELEASER.release  #: drop every store page from this process now (tests, benchmarks)
