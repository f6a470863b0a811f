"""Plumbing of :mod:`medtrain.data.folder`: its images in a memory-mapped store (:mod:`medtrain.data.store`) laid
out by split, with each image's digest and split beside them, so a split that keeps pixel-identical images
together (:mod:`medtrain.data.split`) is made from the stored digests and, where it moves images, laid out again
from the store's own rows: no image is decoded twice, and a reused store is not read whole to find its digests.

What an image is and how it is decoded stays the loader's: it hands in the paths and a ``decoder``.
"""
from __future__ import annotations

import hashlib
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
    (None: ``first`` stands) re-splits by the digests, and where that moves images the store is rewritten in that
    layout. ``root``: the folder the store goes under (``--data-dir``; None: the cache, see
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
            parts = write_store(dest, source, content, first.assign, shape, row, said=said[0] if said else None)
            record, layout = _laid_out(parts, first, resplit)
        elif parts is None or "digests" in current:  # written, or laid out anew, by another process meanwhile
            parts = current
            record, layout = _laid_out(parts, first, resplit)
        # else: the older medtrain's store read above, still there: its digests are not read twice
        if layout is None:
            return parts, record
        at = np.zeros(len(layout), np.int64)  # each input's row in its part of the store
        for i in range(len(PARTS)):
            at[layout == i] = np.arange(int((layout == i).sum()))
        said = parts["said"].numpy().tobytes() if "said" in parts else None
        return write_store(dest, source, content, record.assign, tuple(parts[PARTS[0]].shape[1:]),
                           lambda j: parts[PARTS[layout[j]]][at[j]:at[j] + 1].numpy(), parts, said), record


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
                said: bytes | None = None) -> dict:
    """The store ``dest`` of the inputs split by ``assign``, input ``j``'s image being ``row(j)`` (``(1, *shape)``
    uint8, decoded or read from an older layout of the store: each image read once), each input's digest and
    split beside them, and ``said`` (where given) as its ``said`` part; ``release``, the old layout's mapped
    parts, is emptied before that is replaced (a reader keeps its maps, but Windows cannot remove a mapped file)."""
    digests = [b""] * len(assign)
    with writing(dest, str(Path(source).resolve()), content, len(assign) * (int(np.prod(shape)) + 17),
                 replace=release is not None) as out:
        for i, part in enumerate(PARTS):
            arr = out.array(part, (int((assign == i).sum()), *shape))
            for j in np.flatnonzero(assign == i):
                x = row(j)
                digests[j] = image_digests(x)[0]
                arr.append(x)
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
    return parts
