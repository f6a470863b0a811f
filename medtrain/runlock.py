"""The lock of a run directory: the process training a run holds ``.lock`` (an advisory ``flock``), so a second
``train --resume``, ``train --out`` or ``compare`` into the same folder is refused, naming the process, and readers
can tell a run still being trained from an interrupted one (:func:`lock_holder`). Kept apart from
:mod:`medtrain.rundir`, which re-exports it, as one concept of its own."""
from __future__ import annotations

import contextlib
import os
import time
import warnings
from pathlib import Path

from medtrain._lock import LOCKS, UnguardedWarning, cannot_lock, try_lock, unguarded
from medtrain.errors import MedtrainError

LOCK_FILE = ".lock"  #: held (flock) by the process training the run


class UnguardedRunWarning(UnguardedWarning):
    """The run directory's filesystem cannot lock (:func:`training_lock`): it trains unguarded."""


def _busy(run_dir, pid: str) -> MedtrainError:
    return MedtrainError(f"{run_dir} is being trained by another process{f' (pid {pid})' if pid else ''}; "
                         f"wait for it to finish, or use another --out")


@contextlib.contextmanager
def training_lock(run_dir: str | Path, created: bool = False):
    """Hold the run directory for this process while it trains and writes the run: a second ``train --resume``
    (or ``compare`` on the same folder) is refused, naming the process. Both had trained the same
    epochs and overwritten each other's files (found in a user walkthrough). An advisory ``flock`` on
    ``.lock``: the system releases it when the process ends, even when it is killed, so no stale lock is left; a
    process that ends normally (finished, failed or interrupted) removes ``.lock`` as it lets go.
    Not taken where locks do not exist (Windows), nor where the filesystem cannot lock: a warning, not the
    traceback it had been (a user on NFS without its lock daemon must still train). ``created``: the caller
    made ``run_dir`` for this lock; it is removed again if the lock fails and nothing else is in it."""
    if not LOCKS:  # Windows: runs are not locked
        yield
        return
    path = Path(run_dir) / LOCK_FILE
    fd = None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        for attempt in range(5):  # lock_holder takes it for an instant to ask: try again around that
            if try_lock(fd):
                if _still_there(fd, path):
                    break
                # taken as its holder let it go and removed it: another process may hold a new .lock now
                os.close(fd)
                fd = None
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                continue
            if attempt == 4:
                raise _busy(run_dir, os.read(fd, 32).decode(errors="replace").strip())
            time.sleep(0.02)
        else:
            raise _busy(run_dir, "")
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
    except OSError as e:
        if cannot_lock(e):  # fd stays None where .lock itself could not be opened
            warnings.warn(unguarded(run_dir, e, category=UnguardedRunWarning), stacklevel=3)
        else:
            if fd is not None:
                os.close(fd)
            with contextlib.suppress(OSError):  # no empty folder left behind (it had been, with its .lock)
                if created and [p.name for p in Path(run_dir).iterdir()] == [LOCK_FILE]:
                    path.unlink()
                    Path(run_dir).rmdir()  # only an empty one
            raise MedtrainError(f"cannot lock {path} ({e.strerror or e})") from None
    except BaseException:  # held by another process (or interrupted)
        if fd is not None:
            os.close(fd)
        raise
    try:
        yield
    finally:
        if fd is not None:  # None: unguarded, .lock could not be opened (it had been a TypeError after training)
            # removed while still held, so a run folder is left without it (it had stayed in every finished run);
            # a process that opened it before then finds, once it takes it, that it is gone (_still_there)
            with contextlib.suppress(OSError):
                path.unlink()
            os.close(fd)  # releases the lock


def _still_there(fd: int, path: Path) -> bool:
    """Whether ``fd`` (just locked) is still the file at ``path``: its holder removes it before letting it go."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def lock_holder(run_dir: str | Path) -> str | None:
    """The pid recorded by the process holding ``run_dir``'s :func:`training_lock` (``""`` before it recorded
    it), or None when none holds it. A flock held elsewhere is seen only by trying it: a shared one, released at
    once."""
    if not LOCKS:
        return None
    try:
        fd = os.open(Path(run_dir) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            held = not try_lock(fd, shared=True)
        except OSError:  # a filesystem that cannot lock
            return None
        return os.read(fd, 32).decode(errors="replace").strip() if held else None
    finally:
        os.close(fd)


def refuse_if_busy(run_dir: str | Path) -> None:
    """Refuse at once, naming the process, when another process is training ``run_dir``."""
    pid = lock_holder(run_dir)
    if pid is not None:
        raise _busy(run_dir, pid)
