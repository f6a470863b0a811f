"""A store's lock taken by :func:`medtrain._io.cache.clear`, and what a dry run foresees of a clear.

:func:`holding_store` takes a store's lock as its conversion does; it, and the clear's removal of an entry (renamed
aside, then deleted), raise :class:`Failed`, with why in words, where they cannot. :func:`foreseen` asks the same
questions without changing anything, so that a dry run lists the entries a clear would keep: a store whose lock
cannot be made (a read-only file system, a folder under the lock's name), an entry its folder does not let go (a
read-only mount, another user's folder). The dry run had promised 53.2 kB of a read-only store where the clear then
freed 20.5 kB. It asks what the system says of the folders
(:func:`os.access`, read-only mounts, the sticky bit); what no folder shows (an immutable file, a mount point inside
an entry) is learnt only by the clear.
"""
from __future__ import annotations

import errno
import os
import stat
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator

from medtrain._lock import LOCKS, cannot_lock, try_lock


class Failed(Exception):
    """An entry that could not be removed: why, in words."""


def store_busy(lock: Path) -> bool:
    """Whether a conversion holds the store lock ``lock`` (asked without taking it: a dry run)."""
    try:
        fd = os.open(lock, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        return not try_lock(fd, shared=True)
    except OSError:  # a filesystem that cannot lock
        return False
    finally:
        os.close(fd)


@contextmanager
def holding_store(lock: Path) -> Iterator[bool]:
    """Hold the store lock ``lock`` without waiting, as the store's conversion takes it: True while held (or where
    nothing can be locked), False when a conversion holds it; :class:`Failed` where its file cannot be made. It is
    removed as it is let go, as ``medtrain.data.store.locked`` does (a converter waiting on it then finds no store)."""
    if not LOCKS:
        yield True
        return
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as e:  # a read-only folder or file system, a folder under the lock's name: kept and named
        raise Failed(_no_lock(lock, e.strerror or str(e))) from None
    held = False
    try:
        try:
            held = try_lock(fd)
        except OSError as e:
            if not cannot_lock(e):
                raise Failed(_no_lock(lock, e.strerror or str(e))) from None
            held = True  # unguarded, as the conversions themselves are there
        try:  # the holder before removed the file as it let go: the lock is then another file's
            held = held and os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            held = False
        yield held
    finally:
        if held:
            with suppress(OSError):
                os.unlink(lock)
        os.close(fd)


def _no_lock(lock: Path, said: str) -> str:
    return f"cannot take its lock {lock.name}: {said}"


def foreseen(path: Path, folders: dict, lock: Path | None = None) -> str | None:
    """Why the clear's removal of ``path`` (after :func:`holding_store` of ``lock``, for a store) would fail, worded as
    the clear words it; None where nothing in sight stops it. Nothing is created, renamed or locked. ``folders``: each
    folder of ``path`` -> its sub-folders (``Entry.folders``, found as its size was: the entry is not walked again;
    links are not in it, as the clear removes a link and not what it points to)."""
    if lock is not None and LOCKS:
        code = _lock_refused(lock)
        if code is not None:
            return _no_lock(lock, os.strerror(code))
    code = _refused_in(path.parent, path)  # the rename aside, or a leftover's deletion in place
    if code is not None:
        return os.strerror(code)
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return None
    except OSError:
        return None  # gone meanwhile: nothing to remove
    for top, subs in _top_down(folders):  # each folder inside lets its files go
        for d in map(Path, [top, *subs]):
            code = _refused_in(d)
            if code is not None:
                return f"{os.strerror(code)} ({d})"
    return None


def _top_down(folders: dict) -> Iterator[tuple[str, list]]:
    """``(folder, its sub-folders)`` from the first folder of ``folders`` (the entry's own) down, in :func:`os.walk`'s
    order (the one in which the dry run had asked)."""
    stack = [next(iter(folders))] if folders else []
    while stack:
        d = stack.pop()
        subs = folders.get(d, [])
        yield d, subs
        stack.extend(reversed(subs))


def _lock_refused(lock: Path) -> int | None:
    """The errno with which the lock file ``lock`` could not be opened for writing or made, or None."""
    try:
        st = os.lstat(lock)
    except FileNotFoundError:
        return _refused_in(lock.parent)
    except OSError as e:
        return e.errno
    if stat.S_ISDIR(st.st_mode):
        return errno.EISDIR
    if stat.S_ISLNK(st.st_mode):
        return errno.ELOOP  # O_NOFOLLOW
    return None if _access(lock, os.R_OK | os.W_OK) else _denied(lock)


def _refused_in(folder: Path, entry: Path | None = None) -> int | None:
    """The errno with which a name in ``folder`` (``entry``, where given) could not be made, renamed or removed."""
    if not _access(folder, os.W_OK | os.X_OK) or (entry is None and not _access(folder, os.R_OK)):
        return _denied(folder)
    if entry is not None and os.name == "posix":  # a sticky folder (/tmp-like): only the owners may move a name
        try:
            sticky = os.stat(folder).st_mode & stat.S_ISVTX
            mine = os.geteuid() in (0, os.stat(folder).st_uid, os.lstat(entry).st_uid)
        except OSError:
            return None
        if sticky and not mine:
            return errno.EPERM
    return None


def _access(path: Path, mode: int) -> bool:
    effective = os.access in os.supports_effective_ids
    return os.access(path, mode, effective_ids=effective)


def _denied(path: Path) -> int:
    """Read-only file system where the mount is, else permission denied."""
    try:
        return errno.EROFS if os.statvfs(path).f_flag & os.ST_RDONLY else errno.EACCES
    except (OSError, AttributeError):  # no statvfs (Windows)
        return errno.EACCES
