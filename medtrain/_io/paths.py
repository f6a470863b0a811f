"""What a path names, asked before a file is read or written: a folder, a file or nothing (:func:`path_kind`);
why it cannot be read (missing, a link loop, a FIFO or a device: :func:`file_problem`); whether it can become
an output (:func:`check_output`); and the folder medtrain caches into (:func:`cache_dir`)."""
from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import Optional

from medtrain._io.storage import _writing_in
from medtrain._io.streams import is_stream
from medtrain.errors import MedtrainError


def path_kind(path: str | os.PathLike) -> Optional[str]:
    """``"dir"``, ``"file"`` or None: missing, or a name the file system cannot look up at all.

    ``Path.is_file()`` raises OSError for names too long for the file system (ENAMETOOLONG) or not
    allowed by it; a path a user typed or a CSV listed is then simply not there.
    """
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # ValueError: an embedded NUL byte
        return None
    return "dir" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else None


MISSING = "no such file"
NOT_REGULAR = "not a regular file (a FIFO, socket or device)"


def file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is no file to read (:data:`MISSING`, ``"symbolic link loop"``, ``"permission denied"``,
    ``"is a folder"``, :data:`NOT_REGULAR`), or None for a regular file or a link to one. Asked before opening:
    opening a FIFO waits for a writer for ever, and a device such as /dev/zero never ends."""
    try:
        st = os.stat(path)
    except (OSError, ValueError) as e:  # ValueError: an embedded NUL byte; a name too long: missing too
        return {errno.ELOOP: "symbolic link loop", errno.EACCES: "permission denied"}.get(
            getattr(e, "errno", None), MISSING)
    if stat.S_ISREG(st.st_mode):
        return None
    return "is a folder" if stat.S_ISDIR(st.st_mode) else NOT_REGULAR


def why_not_read(path: str | os.PathLike, missing: str = "no such file or folder") -> str:
    """Why ``path`` cannot be read, for a message: ``missing`` where it is not there, else the
    :func:`file_problem` (a link loop, a FIFO or a device, permission)."""
    problem = file_problem(path)
    return missing if problem in (None, MISSING) else problem


def cache_dir() -> Path:
    """The one folder medtrain caches into: downloads (MedMNIST, weights), stores, decoded volumes, arrays.

    ``$MEDTRAIN_DATA`` if set, else ``$XDG_CACHE_HOME/medtrain``, else ``~/.cache/medtrain``
    (XDG Base Directory Specification). Each kind's sub-folder is :mod:`medtrain._io.cache`'s
    (:func:`~medtrain._io.cache.folder`); nothing is created here.
    """
    env = os.environ.get("MEDTRAIN_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "medtrain"


def check_output(path: str | os.PathLike, folder: bool = False, what: str = "", probe: bool = False) -> None:
    """Raise one :class:`MedtrainError` line when ``path`` cannot become the output file (``folder``: the output
    folder) asked for: a folder where a file is to go, a file where a folder is, or a file among its parents.
    ``what`` names the option in the message (e.g. ``"--out "``). ``probe``: also write (and remove) a file in
    the nearest existing folder, so that one the user cannot write is refused before any work (``os.access``
    cannot tell: root passes it); the writers of :mod:`medtrain._io.atomic` refuse it too, when they get there."""
    if is_stream(path):
        if folder:
            raise MedtrainError(f"{what}{path}: a folder is written here, not a stream; give a folder name")
        return
    path = Path(path)
    kind = path_kind(path)
    if folder and kind == "file":
        raise MedtrainError(f"{what}{path}: exists and is not a folder")
    if not folder and kind == "dir":
        raise MedtrainError(f"{what}{path}: is a folder; give a file name")
    existing = path if folder and kind == "dir" else None
    for parent in path.parents:
        parent_kind = path_kind(parent)
        if parent_kind == "file":
            raise MedtrainError(f"{what}{path}: {parent} is a file, not a folder")
        if parent_kind == "dir":
            existing = existing or parent
            break
    if probe and existing is not None:
        with _writing_in(existing, f"{what}{path}: "):
            with tempfile.TemporaryFile(dir=existing):
                pass

