"""Atomic file writing: a reader never sees a half-written output.

Every output is written to a temporary file in the destination folder and renamed over the target,
which is atomic on POSIX file systems; the temporary gets the permissions the umask gives new files.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from medtrain._io.formats import _json_default, json_safe
from medtrain._io.paths import check_output
from medtrain._io.storage import _failing_writes, _writing_in
from medtrain._io.streams import is_stream, open_stream


def _umask() -> int:
    """The process's umask. Linux shows it in /proc/self/status; elsewhere it is read by setting it (os.umask
    has no read-only form), which briefly leaves 0 in force for other threads."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def as_created(path: str | os.PathLike, folder: bool = False) -> None:
    """Give a temporary file or folder the permissions ``open``/``mkdir`` would have given it: ``mkstemp`` and
    ``mkdtemp`` make them private (0600 / 0700), so a run's report would be unreadable to colleagues on a shared
    server whatever their umask allows."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds. The file gets
    the permissions the umask gives new files. A stream (:func:`is_stream`: ``-``, ``/dev/stdout``, a pipe)
    cannot be replaced: what the block wrote to a private temporary file is copied to it (:func:`open_stream`)
    when the block succeeds, so a failure writes nothing there."""
    if is_stream(path):
        held = Path(tempfile.mkdtemp(prefix="medtrain-"))
        try:
            (held / "output.tmp").touch()
            with _failing_writes(held, held / "output.tmp", shown=f"in {held.parent}"):  # a full temporary folder
                yield held / "output.tmp"
            with open(held / "output.tmp", "rb") as src, open_stream(path, binary=True) as dst:
                shutil.copyfileobj(src, dst)
        finally:
            shutil.rmtree(held, ignore_errors=True)
        return
    path = Path(path)
    check_output(path)
    with _writing_in(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with _failing_writes(path, tmp_path):  # a full disk: one line, the old file kept, the temporary removed
            yield tmp_path
            if tmp_path.is_file():
                as_created(tmp_path)
            os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; when the block succeeds it becomes ``path`` (renamed; or,
    when ``path`` is an existing folder, its files are renamed into it). On an error nothing is left."""
    path = Path(path)
    check_output(path, folder=True)
    with _writing_in(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        with _failing_writes(path, tmp):
            yield tmp
            as_created(tmp, folder=True)
            if not path.exists():
                os.replace(tmp, path)
            else:
                for f in sorted(tmp.iterdir()):
                    os.replace(f, path / f.name)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


#: the name :func:`atomic_path` / :func:`atomic_dir` give the temporary of NAME: ``.NAME.<tempfile's 8>.tmp``
TEMPORARY = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.tmp")


def sweep_temporaries(folder: str | os.PathLike, older_than: float | str | os.PathLike | None = None,
                      within: tuple[str, ...] = ()) -> list[Path]:
    """Remove the :data:`TEMPORARY` files and folders that writers killed mid-write (SIGKILL, no ``finally`` ran)
    left for good in ``folder`` and its sub-folders ``within``, no deeper; other names (``notes.tmp``) and links are
    kept. ``older_than``: only those modified before this time (``time.time()``) or this file (a lock the caller
    holds: no live writer's temporary is older; nothing where it is missing). Returns what was removed."""
    if older_than is not None and not isinstance(older_than, (int, float)):
        try:
            older_than = os.stat(older_than).st_mtime
        except (OSError, ValueError):
            return []
    removed = []
    for sub in ("", *within):
        try:
            entries = [e for e in os.scandir(os.path.join(folder, sub)) if TEMPORARY.fullmatch(e.name)]
        except (OSError, ValueError):  # no such sub-folder, or an unreadable one
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
                if older_than is not None and st.st_mtime >= older_than:
                    continue
                if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
                    os.unlink(entry.path) if stat.S_ISREG(st.st_mode) else shutil.rmtree(entry.path)
                    removed.append(Path(entry.path))
            except OSError:  # removed meanwhile, or a folder this user cannot write: left there
                pass
    return removed


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")  # medtrain's files are UTF-8 whatever the locale


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """``obj`` as JSON. JSON has no NaN or infinity (Python writes ``NaN``, which ``JSON.parse`` and strict
    parsers refuse): an undefined number, e.g. a CI with ``--bootstrap 0`` or the PPV of no positive call, is
    written as ``null``."""
    write_text(path, json.dumps(json_safe(obj), indent=2, default=_json_default, allow_nan=False) + "\n")

