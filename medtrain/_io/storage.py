"""Writes the storage refuses (a full disk, a quota, ``ulimit -f``, an I/O error, a read-only file system) as one
:class:`WriteFailed` line naming the output, not a traceback."""
from __future__ import annotations

import errno
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from medtrain.errors import MedtrainError

#: The errors of the storage rather than of the program: a full disk, a quota, a file-size limit (``ulimit -f``),
#: a failing device, a read-only file system. They are the user's to fix, so one line (:class:`WriteFailed`).
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})


class WriteFailed(MedtrainError):
    """An output (``path``, or the folder it was to go in) could not be written for one of :data:`STORAGE_ERRNOS`;
    nothing half-written is left (the writers of :mod:`medtrain._io.atomic` remove their temporary files)."""

    def __init__(self, message: str, path: str | os.PathLike = "", reason: str = ""):
        super().__init__(message)
        self.path, self.reason = path, reason


def storage_error(e: BaseException) -> Optional[OSError]:
    """The OSError of the storage (one of :data:`STORAGE_ERRNOS`) that ``e`` is or reports, else None. torch.save
    raises a RuntimeError during the file's OSError; safetensors' Rust error is no OSError and holds the errno
    only in its text ("... (os error 28)", formerly "Os { code: 28, ...")."""
    if isinstance(e, OSError):
        return e if e.errno in STORAGE_ERRNOS else None
    if isinstance(e, RuntimeError) and isinstance(e.__context__, OSError):
        return storage_error(e.__context__)
    if type(e).__name__ == "SafetensorError":
        m = re.search(r"\(os error (\d+)\)|Os \{ code: (\d+)", str(e))
        code = int(m.group(1) or m.group(2)) if m else None
        return OSError(code, os.strerror(code)) if code in STORAGE_ERRNOS else None
    return None


@contextmanager
def _failing_writes(path: str | os.PathLike, *ours: str | os.PathLike, shown: str = "") -> Iterator[None]:
    """A write of ``path`` refused by the storage (:func:`storage_error`) as one :class:`WriteFailed` line naming
    it (or ``shown``), not a traceback; any other error as it is. ``ours``: the temporary names (files or folders)
    ``path`` is written under; an error naming another file (an unreadable input) is not about ``path``."""
    try:
        yield
    except Exception as e:
        err = storage_error(e)
        name = e.path if isinstance(e, WriteFailed) else getattr(err, "filename", None)
        if (err is None and not isinstance(e, WriteFailed)) or (name is not None and not any(
                str(name) == str(p) or str(name).startswith(os.path.join(p, "")) for p in (path, *ours))):
            raise  # a nested writer's file in a temporary folder of ours (explain's PNGs) is named as our output
        reason = e.reason if isinstance(e, WriteFailed) else err.strerror or os.strerror(err.errno)
        raise WriteFailed(f"cannot write {shown or path}: {reason}", path, reason) from None


@contextmanager
def _writing_in(folder: Path, prefix: str = "") -> Iterator[None]:
    """Creating files or folders in ``folder``: a read-only, immutable or foreign one is one error line (it was
    a PermissionError traceback)."""
    try:
        yield
    except OSError as e:  # any: /proc refuses new files with ENOENT, a full disk is ENOSPC (it was a traceback)
        where, reason = _nearest_existing(folder), e.strerror or type(e).__name__
        if e.errno in STORAGE_ERRNOS:
            raise WriteFailed(f"{prefix}cannot write in {where} ({reason})", where, reason) from None
        raise MedtrainError(f"{prefix}cannot write in {where} ({reason})") from None


def _nearest_existing(path: Path) -> Path:
    return next((p for p in (path, *path.parents) if p.exists()), path)
