"""Plumbing of :mod:`medtrain.data.folder`: its images in a memory-mapped store (:mod:`medtrain.data.store`) laid
out by split, with each image's digest and split beside them, so a split that keeps pixel-identical images
together (:mod:`medtrain.data.split`) is made from the digests as the images are written and, where it moves
images, the rows are laid out anew in place, in the temporary folder before the store is installed (:func:`_relay`):
no image is decoded twice, the disk never holds a second copy of the store, and a reused store is not read whole to
find its digests. (A whole second layout written beside the first had needed twice the store's disk: a disk that
held the store once failed with "needs 546kB ..., only 0.00B are free", the first layout left behind for good.)

What an image is and how it is decoded stays the loader's: it hands in the paths and a ``decoder``.
"""
from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import numpy as np

from medtrain.data.duplicates import image_digests
from medtrain.data.split import PARTS
from medtrain.data.store import content_key, locked, open_store, store_dir, writing
from medtrain.errors import MedtrainError


def split_store(paths: list[Path], image_size, source: Path, first, decoder, resplit, root=None) -> tuple:
    """(the mapped parts of the store, the split): the store of ``paths`` named by the split ``first`` made without
    digests (known before anything is decoded), written on first use from ``decoder()`` (``(shape, row)``: the
    ``(C, H, W)`` of every image and ``row(j)``, input ``j``'s image as ``(1, C, H, W)`` uint8, and optionally
    ``said``: bytes kept with the store as its ``said`` part, what the loader says of the images, to be said again
    when the store is reused; absent from a store written without them); ``resplit``
    (None: ``first`` stands) re-splits by the digests, made as the store is written, which is laid out by it before
    it is installed (:func:`write_store`); a store of an older medtrain that it moves is rewritten in that layout
    (beside the old one, which is then removed). ``root``: the folder the store goes under (``--data-dir``; None: the cache, see
    :func:`~medtrain.data.store.store_dir`)."""
    files = hashlib.sha1()
    for p in paths:
        files.update(f"{p}\0{content_key(p)}\0".encode())
    content = files.hexdigest()
    dest = store_dir(source, content, image_size, hashlib.sha1(first.assign.tobytes()).hexdigest(), root=root)
    parts = open_store(dest)
    if parts is not None:
        record, layout = _laid_out(parts, first, resplit)
        if layout is None:
            return parts, record
    with locked(dest):  # written once: a process converting the same data meanwhile is waited for, its store used
        current = open_store(dest)
        if current is None:
            shape, row, *said = decoder()
            parts, made = write_store(dest, source, content, first.assign, shape, row,
                                      said=said[0] if said else None, resplit=resplit)
            record = first if made is None else made
            if "digests" in parts and np.array_equal(parts["assign"].numpy(), record.assign):
                return parts, record  # laid out by its digests as it was written: the usual
            record, layout = _laid_out(parts, first, resplit)  # another's, put there meanwhile (cannot lock)
        elif parts is None or "digests" in current:  # written, or laid out anew, by another process meanwhile
            parts = current
            record, layout = _laid_out(parts, first, resplit)
        # else: the older medtrain's store read above, still there: its digests are not read twice
        if layout is None:
            return parts, record
        at = _rows(layout)  # each input's row in its part of the store
        said = parts["said"].numpy().tobytes() if "said" in parts else None
        return write_store(dest, source, content, record.assign, tuple(parts[PARTS[0]].shape[1:]),
                           lambda j: parts[PARTS[layout[j]]][at[j]:at[j] + 1].numpy(), parts, said)[0], record


def _laid_out(parts: dict, first, resplit) -> tuple:
    """(the split of the store's inputs, and None where ``parts`` is laid out by it with its digests, else the
    layout ``parts`` has, to be rewritten from)."""
    if resplit is None:
        return first, None
    layout = parts["assign"].numpy().astype(np.int64) if "assign" in parts else first.assign
    if "digests" in parts:
        digests = [bytes(d) for d in parts["digests"].numpy()]
    else:  # a store of an older medtrain: the digests of its rows, rewritten with them
        digests = [b""] * len(layout)
        for i, part in enumerate(PARTS):
            for j, d in zip(np.flatnonzero(layout == i), image_digests(parts[part].numpy())):
                digests[j] = d
    record = resplit(digests)
    if "digests" in parts and np.array_equal(layout, record.assign):
        return record, None
    return record, layout


def write_store(dest: Path, source: Path, content: str, assign: np.ndarray, shape: tuple, row, release=None,
                said: bytes | None = None, resplit=None) -> tuple:
    """(the store ``dest`` of the inputs split by ``assign``, and the split ``resplit`` made, or None where not given):
    input ``j``'s image being ``row(j)`` (``(1, *shape)`` uint8, decoded or read from an older layout of the store:
    each image read once), each input's digest and split beside them, and ``said`` (where given) as its ``said``
    part; ``release``, the old layout's mapped parts, is emptied before that is replaced (a reader keeps its maps,
    but Windows cannot remove a mapped file). ``resplit`` (the digests -> a split) is made once every image is
    written, and where it moves images they are laid out anew in place before the store is installed
    (:func:`_relay`): the free space asked for is the store's, and :data:`CHUNK` more for that."""
    digests = [b""] * len(assign)
    pixels = int(np.prod(shape))
    needed = len(assign) * (pixels + 17) + len(said or b"") + 6 * 128 + (CHUNK if resplit is not None else 0)
    made = None
    with writing(dest, str(Path(source).resolve()), content, needed, replace=release is not None) as out:
        for i, part in enumerate(PARTS):
            arr = out.array(part, (int((assign == i).sum()), *shape))
            for j in np.flatnonzero(assign == i):
                x = row(j)
                digests[j] = image_digests(x)[0]
                arr.append(x)
            arr.close()
        if resplit is not None:
            made = resplit(digests)
            if not np.array_equal(made.assign, assign):
                _relay(out, np.asarray(assign), np.asarray(made.assign), shape)
                assign = made.assign
        out.array("digests", (len(assign), 16)).append(np.frombuffer(b"".join(digests), np.uint8).reshape(-1, 16))
        out.array("assign", (len(assign),), np.int8).append(np.asarray(assign, np.int8))
        if said is not None:
            out.array("said", (len(said),)).append(np.frombuffer(said, np.uint8))
        if release is not None:
            release.clear()
    parts = open_store(dest)
    if parts is None:  # removed by another process as it was written (a filesystem that cannot lock)
        raise MedtrainError(f"the memory-mapped store {dest} was removed as soon as it was written (by another "
                            f"process?); run again")
    return parts, made


CHUNK = 64 << 10  #: bytes of rows :func:`_relay` reads at a time: what its in-place re-layout needs beyond the store


def _relay(out, old: np.ndarray, new: np.ndarray, shape: tuple) -> None:
    """Lay the part files that ``out`` (a :class:`~medtrain.data.store.StoreWriter`, not yet installed) wrote by the
    split ``old`` out anew by ``new``, in place. Every part holds its inputs in input order, so taking the inputs
    from the last, :data:`CHUNK` at a time, reads each old part from its end and fills each new part from its end:
    the rows read are cut off the old parts once written into the new ones (files whose front is a hole until
    filled). The disk holds the images once and a chunk (every Linux filesystem keeps holes; where one cannot, a
    full disk is the write's one error line, nothing kept). Plain writes, no writable map (see
    :mod:`medtrain.data.store`): a full disk is an ``OSError``, not a ``SIGBUS``."""
    size = int(np.prod(shape))
    old_at, new_at = _rows(old), _rows(new)
    olds, news, old_head, new_head = [], [], [], []
    try:
        for i, part in enumerate(PARTS):
            olds.append(open(out.tmp / f"{part}.npy", "r+b", buffering=0))
            np.lib.format.read_magic(olds[-1])
            np.lib.format.read_array_header_1_0(olds[-1])
            old_head.append(olds[-1].tell())
            news.append(open(out.tmp / f".{part}.npy", "w+b", buffering=0))
            np.lib.format.write_array_header_1_0(news[-1], {"descr": "|u1", "fortran_order": False,
                                                            "shape": (int((new == i).sum()), *shape)})
            new_head.append(news[-1].tell())
        step = max(1, CHUNK // max(size, 1))
        for lo in range((len(new) - 1) // step * step, -1, -step):
            inputs = np.arange(lo, min(lo + step, len(new)))
            rows = np.empty((len(inputs), size), np.uint8)  # the chunk's images, by input
            for i, f in enumerate(olds):  # each old part's last rows
                mine = old[inputs] == i
                if mine.any():
                    f.seek(old_head[i] + int(old_at[inputs[mine][0]]) * size)
                    rows[mine] = np.frombuffer(f.read(int(mine.sum()) * size), np.uint8).reshape(-1, size)
            for i, f in enumerate(news):  # written as each new part's last rows not yet written
                mine = new[inputs] == i
                if mine.any():
                    _put(f, rows[mine].tobytes(), new_head[i] + int(new_at[inputs[mine][0]]) * size)
            for i, f in enumerate(olds):
                mine = old[inputs] == i
                if mine.any():
                    f.truncate(old_head[i] + int(old_at[inputs[mine][0]]) * size)
        for f in olds + news:
            f.close()
        for i, part in enumerate(PARTS):
            os.replace(out.tmp / f".{part}.npy", out.tmp / f"{part}.npy")
            out.arrays[part] = [[int((new == i).sum()), *map(int, shape)], np.dtype(np.uint8).str]
    finally:
        for f in olds + news:
            f.close()


def _rows(assign: np.ndarray) -> np.ndarray:
    """Each input's row in its part of the split ``assign``."""
    at = np.zeros(len(assign), np.int64)
    for i in range(len(PARTS)):
        at[assign == i] = np.arange(int((assign == i).sum()))
    return at


def _put(f, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset`` of the unbuffered file ``f`` (a short write, as a full disk can give, is
    written on)."""
    view = memoryview(data)
    f.seek(offset)
    while view:
        n = f.write(view)
        if not n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[n:]
