"""Atomic file writing (a reader never sees a half-written output) and where medtrain caches files (the YAML
reader and writer are :mod:`medtrain._yaml`).

Every output is written to a temporary file in the destination folder and renamed over the target,
which is atomic on POSIX file systems.
"""
from __future__ import annotations

import json
import errno
import os
import re
import shutil
import stat
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator, Optional

import numpy as np

from medtrain.errors import MedtrainError

# The run directory's file names and its lowest readers. They are defined here, at the bottom layer, because
# model sources (models.pretrained) and study reports (reports.curves) read run directories too;
# medtrain.rundir (which with medtrain.runscores writes a run's files) re-exports them with the layout's description.
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
WEIGHTS_FILE = "model.safetensors"
CHECKPOINT_DIR = "checkpoints"  #: an unfinished run's Lightning checkpoints (what --resume continues from)
FEATURES_FILE = "features.npz"  #: the linear probe's cached CNN codes


def eval_file(split: str) -> str:
    """``medtrain eval``'s output for a split."""
    return f"eval_{split}.json"


def is_finished(run_dir: str | os.PathLike) -> bool:
    """Every output of the run is written: ``metrics.json``, the last file ``rundir.write_run`` writes."""
    return (Path(run_dir) / METRICS_FILE).is_file()


def read_metrics(run_dir: str | os.PathLike, name: str = METRICS_FILE) -> dict:
    """``metrics.json`` of a run (or its ``name``, e.g. :func:`eval_file`) as a dict; a missing, damaged (cut
    short) or non-mapping file is one :class:`MedtrainError` line naming it, not a JSONDecodeError traceback."""
    path = Path(run_dir) / name
    try:
        out = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise MedtrainError(f"{path} is missing or not valid JSON") from None
    if not isinstance(out, dict):
        raise MedtrainError(f"{path} does not hold a JSON object")
    return out


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
    """The one folder medtrain caches into: downloads (MedMNIST, weights) and decoded volumes.

    ``$MEDTRAIN_DATA`` if set, else ``$XDG_CACHE_HOME/medtrain``, else ``~/.cache/medtrain``
    (XDG Base Directory Specification). Callers add their own sub-folder; nothing is created here.
    """
    env = os.environ.get("MEDTRAIN_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "medtrain"


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


def check_output(path: str | os.PathLike, folder: bool = False, what: str = "", probe: bool = False) -> None:
    """Raise one :class:`MedtrainError` line when ``path`` cannot become the output file (``folder``: the output
    folder) asked for: a folder where a file is to go, a file where a folder is, or a file among its parents.
    ``what`` names the option in the message (e.g. ``"--out "``). ``probe``: also write (and remove) a file in
    the nearest existing folder, so that one the user cannot write is refused before any work (``os.access``
    cannot tell: root passes it); the writers below refuse it too, when they get there."""
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


#: The errors of the storage rather than of the program: a full disk, a quota, a file-size limit (``ulimit -f``),
#: a failing device, a read-only file system. They are the user's to fix, so one line (:class:`WriteFailed`).
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})


class WriteFailed(MedtrainError):
    """An output (``path``, or the folder it was to go in) could not be written for one of :data:`STORAGE_ERRNOS`;
    nothing half-written is left (the writers below remove their temporary files)."""

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


def _shown(path: str | os.PathLike) -> str:
    return "to standard output" if str(path) == STDOUT else str(path)


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


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (also NumPy's) replaced by None, recursively."""
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    return obj


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def csv_cell(text: str) -> str:
    """A CSV field, quoted when it holds a comma, quote or line break (label names may)."""
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n\r') else text
