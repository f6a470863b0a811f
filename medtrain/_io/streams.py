"""Outputs written in place, not replaced: standard output (``--out -``), ``/dev/stdout``, a pipe, a device."""
from __future__ import annotations

import os
import re
import stat
import sys
from contextlib import contextmanager
from typing import IO, Iterator, Optional

from medtrain._io.storage import _failing_writes

STDOUT = "-"  #: the output name that means standard output (``--out -``), as Unix tools read it


def is_stream(path: str | os.PathLike) -> bool:
    """True for an output that is written in place, not replaced: ``-`` (standard output) or an existing
    device, pipe or socket such as ``/dev/stdout`` or a FIFO (renaming a file onto ``/dev/stdout`` had
    replaced the device link with a regular file, and the output never reached the terminal)."""
    if str(path) == STDOUT:
        return True
    link = str(path)
    for _ in range(40):  # a link to a process's file descriptor (/dev/stdout -> /proc/self/fd/1) is a stream even
        # where it leads to a regular file (`> out.csv`): renaming onto the link had replaced it with a file
        if link.startswith(("/proc/", "/dev/fd/")) and "/fd/" in link:
            return True
        try:
            target = os.readlink(link)
        except (OSError, ValueError):
            break
        link = os.path.join(os.path.dirname(link), target)
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _shown(path: str | os.PathLike) -> str:
    return "to standard output" if str(path) == STDOUT else str(path)


def _own_descriptor(path: str | os.PathLike) -> Optional[int]:
    """The descriptor N of this process that ``path`` names (``/dev/stdout``, ``/dev/fd/N``, ``/proc/self/fd/N``,
    or a link to one), else None."""
    own = re.compile(r"/(?:dev|proc/(?:self|thread-self|%d))/fd/(\d+)" % os.getpid())
    link = str(path)
    for _ in range(40):
        m = own.fullmatch(os.path.normpath(link))
        if m:
            return int(m.group(1))
        try:
            target = os.readlink(link)
        except (OSError, ValueError):
            return None
        link = os.path.join(os.path.dirname(link), target)
    return None


@contextmanager
def open_stream(path: str | os.PathLike, binary: bool = False) -> Iterator[IO]:
    """A file object writing to the stream ``path`` (:func:`is_stream`) as it stands: ``-`` is ``sys.stdout``, a
    descriptor of this process (``/dev/stdout``) is written through that descriptor, anything else (a pipe, a
    device) is opened for appending. Opening ``/dev/stdout`` by name had truncated a file that standard output
    was appending to (``>> app.log``) and written from its start over what the shell had written before."""
    with _failing_writes(path, shown=_shown(path)):  # `--out /dev/full`, `--out -` into a full disk
        with _open_stream(path, binary) as f:
            yield f


@contextmanager
def _open_stream(path: str | os.PathLike, binary: bool) -> Iterator[IO]:
    dash = str(path) == STDOUT
    fd = 1 if dash else _own_descriptor(path)
    for std in (sys.stdout, sys.stderr):  # what Python holds for the descriptor goes out first, in order
        try:
            if std is not None and ((dash and std is sys.stdout) or std.fileno() == fd):
                std.flush()
        except (OSError, ValueError, AttributeError):  # a replaced stream without a descriptor
            pass
    if dash and sys.stdout is not None and (not binary or hasattr(sys.stdout, "buffer")):
        f = sys.stdout.buffer if binary else sys.stdout
        try:
            yield f
        finally:
            f.flush()
        return
    kw = {} if binary else {"newline": "", "encoding": "utf-8"}
    with open(path if fd is None else fd, ("ab" if binary else "a") if fd is None else ("wb" if binary else "w"),
              closefd=fd is None, **kw) as f:
        yield f

