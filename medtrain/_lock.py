"""Advisory file locks (``flock``) on a descriptor the caller already holds, and the one fallback where the
platform has none (Windows: nothing is locked). The system releases a lock when its descriptor is closed or its
process ends, however it ends, so a killed process leaves no stale lock.

Written on :func:`fcntl.flock` directly: ``filelock`` locks a lock file it opens itself, while the callers lock
what they hold open (a run's ``.lock`` holding the trainer's pid, an explanation's output folder, a download's
file as it is written) and ask with a shared lock whether another process holds one.

A filesystem that cannot lock at all (NFSv3 without its lock daemon, some FUSE mounts) is told by
:func:`cannot_lock`; each caller then goes ahead unguarded with a one-line :func:`unguarded` warning.
"""
from __future__ import annotations

import errno

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

#: Whether this platform has advisory file locks; where it has none, :func:`try_lock` and :func:`lock` lock nothing.
LOCKS = fcntl is not None

#: flock's errors where the filesystem cannot lock at all (NFSv3 without lockd: ENOLCK; some FUSE/network ones)
NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})


class UnguardedWarning(UserWarning):
    """A filesystem that cannot lock (:func:`cannot_lock`): what its lock guards goes ahead unguarded."""


def cannot_lock(e: BaseException) -> bool:
    """Whether ``e``, raised by :func:`try_lock`, :func:`lock` or the opening of the file to lock, says the
    filesystem cannot lock at all (:data:`NO_LOCKS`), rather than that something else went wrong."""
    return isinstance(e, OSError) and e.errno in NO_LOCKS


def unguarded(folder, e: OSError, what: str = "concurrent commands into this folder",
              category: type[UnguardedWarning] = UnguardedWarning) -> UnguardedWarning:
    """The warning (for :func:`warnings.warn`) that ``folder``'s filesystem cannot lock (``e``), so ``what`` is
    not guarded: medtrain's own category, which the command line prints as one line."""
    return category(f"the filesystem of {folder} cannot lock ({e.strerror or e}); {what} are not guarded")


def try_lock(fd: int, shared: bool = False) -> bool:
    """Lock ``fd`` (exclusively, or ``shared``) without waiting: True when taken, or where locks do not exist
    (:data:`LOCKS`); False when another process holds a lock that excludes it.

    Raises:
        OSError: the filesystem cannot lock (``ENOLCK`` on NFSv3 without its lock daemon, ``EOPNOTSUPP``...:
            :func:`cannot_lock`), for the caller to judge.
    """
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def lock(fd: int) -> None:
    """Lock ``fd`` exclusively, waiting until no other process holds it (nothing where locks do not exist).
    Raises :class:`OSError` as :func:`try_lock` does."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
