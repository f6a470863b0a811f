"""Advisory file locks (``flock``) on a descriptor the caller already holds, and the one fallback where the
platform has none (Windows: nothing is locked). The system releases a lock when its descriptor is closed or its
process ends, however it ends, so a killed process leaves no stale lock.

Written on :func:`fcntl.flock` directly: ``filelock`` locks a lock file it opens itself, while the callers lock
what they hold open (a run's ``.lock`` holding the trainer's pid, an explanation's output folder, a download's
file as it is written) and ask with a shared lock whether another process holds one.
"""
from __future__ import annotations

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

#: Whether this platform has advisory file locks; where it has none, :func:`try_lock` and :func:`lock` lock nothing.
LOCKS = fcntl is not None


def try_lock(fd: int, shared: bool = False) -> bool:
    """Lock ``fd`` (exclusively, or ``shared``) without waiting: True when taken, or where locks do not exist
    (:data:`LOCKS`); False when another process holds a lock that excludes it.

    Raises:
        OSError: the filesystem cannot lock (``ENOLCK`` on NFSv3 without its lock daemon, ``EOPNOTSUPP``...),
            for the caller to judge.
    """
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def lock(fd: int) -> None:
    """Lock ``fd`` exclusively, waiting until no other process holds it (nothing where locks do not exist)."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
