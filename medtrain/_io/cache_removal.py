"""A store's lock taken by :func:`medtrain._io.cache.clear`, and what a dry run foresees of a clear.

:func:`holding_store` takes a store's lock as its conversion does; it, and the clear's removal of an entry (renamed
aside, then deleted), raise :class:`Failed`, with why in words, where they cannot. :func:`foreseen` asks the same
questions without changing anything, so that a dry run lists the entries a clear would keep: a store whose lock
cannot be made (a read-only file system, a folder under the lock's name), an entry its folder does not let go (a
read-only mount, another user's folder). The dry run had promised 53.2 kB of a read-only store where the clear then
freed 20.5 kB. It asks what the system says of the folders
(:func:`os.access`, read-only mounts, the sticky bit); what no folder shows (an immutable file, a mount point inside
an entry) is learnt only by the clear.

:func:`abandoned` and :func:`sweep_builds`: the partial entries of the store folder that a killed conversion left
(a full-size temporary copy of the store, a lock file), those of a store whose lock no process holds, which a clear
of stores removes under that lock; a conversion holds its store's lock from before its temporary folder is made
until it is renamed into place, so a live one's is kept.
"""
from __future__ import annotations

import errno
import os
import re
import stat
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator

from medtrain._lock import LOCKS, cannot_lock, try_lock


ABANDONED_S = 3600  #: a partial entry unwritten for this long belongs to a writer that was killed (the writers' sweeps)
#: a store conversion's partial entry, named after the store NAME-KEY (``medtrain.data.store``): its temporary folder
#: ``.NAME-KEY.<tempfile's 8>.tmp``, a replaced store renamed aside ``.NAME-KEY.<8 hex>.old.tmp``, its lock file
_BUILD = re.compile(r"\.(.+-[0-9a-f]{12})\.(?:(?:[a-z0-9_]{8}|[0-9a-f]{8}\.old)\.tmp|lock)")


class Failed(Exception):
    """An entry that could not be removed: why, in words."""


LEFTOVER = re.compile(r"\..+\.del[0-9a-f]{5}\.tmp")  #: an entry an interrupted clear had renamed aside


def leftover_of(path: Path) -> str:
    """What a partial entry that a clear removes is, in words."""
    return "an interrupted clear's leftover" if LEFTOVER.fullmatch(path.name) else "a killed conversion's leftover"


def abandoned(partial: list, stores: Path, only_gone: bool = True) -> list:
    """The entries (``medtrain._io.cache.Entry``) of ``partial`` that a killed conversion left in the store folder
    ``stores``: a temporary copy of a store (or of a replaced one) or its lock file, of a store no process converts
    now (:func:`conversion_gone`; ``only_gone`` False: each of those, converted now or not, for the clear to ask
    under its store's lock)."""
    return [e for e in partial if e.path.parent == stores and not LEFTOVER.fullmatch(e.path.name)
            and build_of(e.path) is not None and (not only_gone or conversion_gone(e.path))]


def sweep_builds(entries: list, dry_run: bool, gone, failed: list) -> list:
    """Of :func:`abandoned`'s ``entries``, those removed (a dry run: that would be) by ``gone(entry, in_place, lock)``
    (the clear's removal, which notes why one cannot be), each under its store's lock (:func:`holding_store`, as a
    clear of the store takes it): those whose conversion is gone. One whose lock cannot be made goes to ``failed``
    with why."""
    removed = []
    for e in entries:
        lock = store_lock(build_of(e.path))
        if dry_run:
            if conversion_gone(e.path) and gone(e, True, lock):
                removed.append(e)
            continue
        try:
            with holding_store(lock, None) as held:
                if conversion_gone(e.path, held) and gone(e, True):
                    removed.append(e)
        except Failed as f:
            failed.append((e, str(f)))
    return removed


def store_lock(dest: Path) -> Path:
    """The lock file of the store ``dest``: held by its conversion (``medtrain.data.store.locked``) and by a clear."""
    return dest.parent / f".{dest.name}.lock"


def build_of(path: Path) -> Path | None:
    """The store whose conversion the partial entry ``path`` (in the store folder) belongs to, or None."""
    m = _BUILD.fullmatch(path.name)
    return path.parent / m.group(1) if m else None


def unwritten(path: Path, now: float | None = None) -> bool:
    """Whether no file of ``path`` (a file, or a folder and its files) was written for :data:`ABANDONED_S`: the
    writers' own sweep's rule, where locks cannot tell."""
    now = time.time() if now is None else now
    try:
        times = [os.lstat(path).st_mtime] + ([e.stat(follow_symlinks=False).st_mtime for e in os.scandir(path)]
                                             if stat.S_ISDIR(os.lstat(path).st_mode) else [])
    except OSError:
        return True  # gone meanwhile
    return now - max(times) > ABANDONED_S


def conversion_gone(entry: Path, held: bool | None = None) -> bool:
    """Whether the conversion that left the partial ``entry`` is gone (no process holds its store's lock): asked
    without taking the lock (a dry run), or told by ``held`` (:func:`holding_store`'s answer); where nothing can be
    locked, when it was unwritten for :data:`ABANDONED_S`."""
    if held is None:
        busy = store_busy(store_lock(build_of(entry)), None)
        held = None if busy is None else not busy
    return unwritten(entry) if held is None else held


def store_busy(lock: Path, unguarded=False):
    """Whether a conversion holds the store lock ``lock`` (asked without taking it: a dry run); ``unguarded`` where
    the filesystem cannot lock (a lock file it never made: its folder is asked)."""
    if not LOCKS:
        return unguarded
    try:
        fd = os.open(lock, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        try:  # no lock file, so none held, where locks work at all: asked of the folder
            fd = os.open(lock.parent, os.O_RDONLY)
        except OSError:
            return False
        try:
            try_lock(fd, shared=True)
            return False
        except OSError as e:
            return unguarded if cannot_lock(e) else False
        finally:
            os.close(fd)
    try:
        return not try_lock(fd, shared=True)
    except OSError:  # a filesystem that cannot lock
        return unguarded
    finally:
        os.close(fd)


@contextmanager
def holding_store(lock: Path, unguarded=True) -> Iterator[bool]:
    """Hold the store lock ``lock`` without waiting, as the store's conversion takes it: True while held, False when a
    conversion holds it, ``unguarded`` where nothing can be locked; :class:`Failed` where its file cannot be made. It
    is removed as it is let go, as ``medtrain.data.store.locked`` does (a converter waiting on it then finds no
    store)."""
    if not LOCKS:
        yield unguarded
        return
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as e:  # a read-only folder or file system, a folder under the lock's name: kept and named
        raise Failed(_no_lock(lock, e.strerror or str(e))) from None
    held, guarded = False, True
    try:
        try:
            held = try_lock(fd)
        except OSError as e:
            if not cannot_lock(e):
                raise Failed(_no_lock(lock, e.strerror or str(e))) from None
            held, guarded = True, False  # unguarded, as the conversions themselves are there
        try:  # the holder before removed the file as it let go: the lock is then another file's
            held = held and os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            held = False
        yield held if guarded else held and unguarded
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

