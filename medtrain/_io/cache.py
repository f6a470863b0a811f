"""What medtrain keeps in its cache folder, and where: the one owner of its layout (the writers build their paths
with :func:`folder`), and the listing and clearing of it (``medtrain cache``).

    <cache>/NAME.npz               downloads  MedMNIST files (medtrain.data.medmnist.fetch)
    <cache>/weights/NAME.pth       weights    MedicalNet 3D ResNet weights (medtrain.models.med3d)
    <cache>/store/NAME-KEY/        stores     memory-mapped stores (medtrain.data.store); ``.NAME-KEY.lock`` beside
                                              one while it is converted or replaced
    <cache>/volumes/KEY.npz        volumes    decoded DICOM/NIfTI entries (medtrain.data.volumes)
    <cache>/arrays/SHA256/         arrays     images given in memory, as ``arrays.npz`` (medtrain.data.arrays)

``<cache>`` is :func:`~medtrain._io.paths.cache_dir`, or a run's ``--data-dir``. Names that start with a dot and
end in ``.tmp`` or ``.lock`` are writes in progress, a killed writer's leftovers (medtrain's writers sweep them after
an hour) and lock files: ``partial``; anything else, links included, is ``other``. Neither is a kind to clear, but a
clear of stores removes what a killed store conversion left, a full-size copy and a lock file, once no process
converts that store (:func:`~medtrain._io.cache_removal.sweep_builds`; a 119 MB copy had outlived every clear).

:func:`clear` removes whole entries, each first renamed to a temporary name in its own folder
(``.NAME.del`` + 5 hex digits + ``.tmp``, a name the writers' sweeps also remove) and then deleted: an
interruption leaves no half-deleted entry under a name medtrain reads, and the next clear removes such leftovers (in
place: a leftover is never renamed again; a dry run lists them, ``Cleared.swept``). An entry or leftover that cannot
be deleted (permission denied, a read-only file system), or a store whose lock file cannot be made, is kept and
named (``Cleared.failed``) and the clear goes on; only when nothing of the kinds asked could be removed does it
fail (one line). A folder inside an entry that cannot be read leaves the entry's size a lower bound
(``Entry.unreadable`` names it) and fails neither a listing nor a clear. An entry in use is kept:
a store whose lock a conversion holds (the lock is taken while the store is renamed, so a conversion waits and then
converts anew), and, where ``/proc`` shows them (Linux; other users' processes to root only), an entry a process
holds open or mapped (a run reading a memory-mapped store). Links are never followed: sizes are those of the links,
and neither a link nor anything it points to is removed.
"""
from __future__ import annotations

import errno
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from medtrain._io.cache_removal import (LEFTOVER as _LEFTOVER, Failed, abandoned, foreseen, holding_store,
                                        leftover_of, store_busy, store_lock, sweep_builds)
from medtrain._io.open_files import held_open
from medtrain._io.paths import cache_dir
from medtrain.errors import MedtrainError, suggest

DOWNLOADS, WEIGHTS, STORES, VOLUMES, ARRAYS = "downloads", "weights", "stores", "volumes", "arrays"
PARTIAL, OTHER = "partial", "other"
ALL = "all"  #: ``clear all``: every kind medtrain rebuilds (:data:`DERIVED`), never a download
#: where the cache folder is (:func:`~medtrain._io.paths.cache_dir`), the one wording of the --help and the README
WHERE = "$MEDTRAIN_DATA, else $XDG_CACHE_HOME/medtrain, else ~/.cache/medtrain"


@dataclass(frozen=True)
class Kind:
    name: str
    folder: str  #: the sub-folder of the cache ("": the cache folder itself)
    what: str
    derived: bool  #: made again by medtrain where missing: cleared by ``all``; downloads only when named


KINDS = (
    Kind(DOWNLOADS, "", "MedMNIST files downloaded: fetched again only online", False),
    Kind(WEIGHTS, "weights", "pretrained weights downloaded (MedicalNet): fetched again only online", False),
    Kind(STORES, "store", "memory-mapped stores of data larger than memory: rebuilt by the next run", True),
    Kind(VOLUMES, "volumes", "decoded DICOM/NIfTI entries: decoded again by the next run", True),
    # not derived: a run trained on in-memory arrays has no other copy of its data (eval, resume read this one)
    Kind(ARRAYS, "arrays", "images given in memory, as .npz: the only copy of a run's data that eval and resume "
                           "read (written again only when the arrays are given again)", False),
)
BY_NAME = {k.name: k for k in KINDS}
DERIVED = tuple(k.name for k in KINDS if k.derived)
ABOUT = {PARTIAL: "writes in progress, a killed writer's leftovers (swept after an hour; a killed store "
                  "conversion's by clear stores), lock files",
         OTHER: "anything else (links are not followed): never cleared"}


def root(data_dir: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``data_dir`` (``--data-dir``) where given, else :func:`cache_dir`."""
    return Path(data_dir).expanduser() if data_dir else cache_dir()


def folder(kind: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The folder that holds ``kind``'s entries in the cache ``data_dir`` (None: :func:`cache_dir`)."""
    sub = BY_NAME[kind].folder
    return root(data_dir) / sub if sub else root(data_dir)


@dataclass
class Entry:
    kind: str
    path: Path
    bytes: int  #: on disk (allocated blocks, as ``du``), its files and folders, links not followed
    unreadable: str = ""  #: a part that could not be read ("PATH: why"): ``bytes`` is then a lower bound
    #: each folder of it (itself included) -> its sub-folders, as the size walk found them (links not followed): what
    #: a dry run asks of each folder, without walking the entry again; collected only for it (``survey(folders=True)``),
    #: else empty
    folders: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass
class Survey:
    root: Path
    exists: bool
    entries: dict = field(default_factory=dict)  #: kind (and partial, other) -> [Entry]
    links: list = field(default_factory=list)  #: (link, where it points): listed under other, never followed

    def total(self) -> tuple[int, int]:
        every = [e for es in self.entries.values() for e in es]
        return len(every), sum(e.bytes for e in every)


def _unreadable(path, e: OSError, what: str = "the cache folder ") -> MedtrainError:
    return MedtrainError(f"cannot read {what}{path}: {e.strerror or e}")


def _scan(path, what: str = "the cache folder ", bad: list | None = None) -> list[os.DirEntry]:
    """The folder's entries; one that cannot be read is an error, or where ``bad`` is given noted there."""
    try:
        with os.scandir(path) as it:
            return list(it)
    except FileNotFoundError:  # removed meanwhile
        return []
    except OSError as e:
        if bad is None:
            raise _unreadable(path, e, what) from None
        bad.append(f"{path}: {e.strerror or e}")
        return []


def _blocks(st: os.stat_result) -> int:
    return st.st_blocks * 512 if hasattr(st, "st_blocks") else st.st_size


def _size(path: str, st: os.stat_result, seen: set, bad: list, folders: dict | None) -> int:
    """Bytes on disk of ``path`` and everything under it, each file once (hard links), links not followed; what
    cannot be read is noted in ``bad`` (the size is then what could be read). Where ``folders`` is given, each folder
    met is a key of it, its value the list of its sub-folders (:attr:`Entry.folders`)."""
    if (st.st_dev, st.st_ino) in seen:
        return 0
    seen.add((st.st_dev, st.st_ino))
    n = _blocks(st)
    if stat.S_ISDIR(st.st_mode):
        subs = None
        if folders is not None:
            subs = folders[path] = []
        for e in _scan(path, bad=bad):
            try:
                est = e.stat(follow_symlinks=False)
                if subs is not None and stat.S_ISDIR(est.st_mode):
                    subs.append(e.path)
                n += _size(e.path, est, seen, bad, folders)
            except FileNotFoundError:
                pass
            except OSError as err:
                bad.append(f"{e.path}: {err.strerror or err}")
    return n


def _is_entry(kind: str, name: str, st: os.stat_result) -> bool:
    if kind in (STORES, ARRAYS):
        return stat.S_ISDIR(st.st_mode)
    return stat.S_ISREG(st.st_mode) and (kind == WEIGHTS or name.endswith(".npz"))


def _check_root(path: Path) -> bool:
    """Whether the cache folder exists; one error line where it is no folder or cannot be read."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    except OSError as e:
        if e.errno == errno.ENOTDIR:
            raise MedtrainError(f"the cache folder {path} is not a folder: a file is in its path") from None
        raise _unreadable(path, e) from None
    if not stat.S_ISDIR(st.st_mode):
        raise MedtrainError(f"the cache folder {path} is a file, not a folder (set MEDTRAIN_DATA or --data-dir to "
                            f"a folder)")
    return True


def survey(data_dir: str | os.PathLike | None = None, folders: bool = False) -> Survey:
    """Every entry of the cache folder, by kind, with its size on disk; with ``folders``, each entry's folders
    (:attr:`Entry.folders`: what a dry run asks of them; a listing or a clear does not keep them)."""
    base = root(data_dir)
    found = Survey(base, _check_root(base), {k: [] for k in (*BY_NAME, PARTIAL, OTHER)})
    if not found.exists:
        return found
    seen: set = set()
    subfolders = {k.folder: k.name for k in KINDS if k.folder}

    def add(kind: str, e: os.DirEntry, st: os.stat_result) -> None:
        if stat.S_ISLNK(st.st_mode):
            kind = OTHER
            try:
                found.links.append((Path(e.path), os.readlink(e.path)))
            except OSError:
                found.links.append((Path(e.path), "?"))
        elif e.name.startswith(".") and e.name.endswith((".tmp", ".lock")):
            kind = PARTIAL
        elif not _is_entry(kind, e.name, st):
            kind = OTHER
        bad: list = []
        subs: dict | None = {} if folders else None
        n = _size(e.path, st, seen, bad, subs)
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        found.entries[kind].append(Entry(kind, Path(e.path), n, bad[0] + more if bad else "", subs or {}))

    st = os.stat(base)
    seen.add((st.st_dev, st.st_ino))  # the cache folder itself: counted in none of its entries
    for e in _scan(base):
        try:
            st = e.stat(follow_symlinks=False)
            if e.name in subfolders and stat.S_ISDIR(st.st_mode):
                seen.add((st.st_dev, st.st_ino))  # the kind's folder itself: counted in none of its entries
                for c in _scan(e.path, f"the {subfolders[e.name]} folder of the cache "):
                    add(subfolders[e.name], c, c.stat(follow_symlinks=False))
            else:
                add(DOWNLOADS, e, st)
        except FileNotFoundError:  # removed meanwhile
            continue
        except OSError as err:
            raise _unreadable(e.path, err, "") from None
    for es in found.entries.values():
        es.sort(key=lambda x: str(x.path))
    return found


def kinds_to_clear(names: Iterable[str]) -> list[str]:
    """The kinds that ``clear NAME...`` names (``all``: :data:`DERIVED`), in :data:`KINDS` order."""
    names = list(names)
    if not names:
        raise MedtrainError(f"name what to clear: {', '.join(BY_NAME)} or {ALL} ({', '.join(DERIVED)})")
    chosen = set()
    for n in names:
        if n == ALL:
            chosen.update(DERIVED)
        elif n in BY_NAME:
            chosen.add(n)
        else:
            raise suggest(n, [*BY_NAME, ALL], "kind to clear")
    return [k.name for k in KINDS if k.name in chosen]


def _why(e: OSError, path: Path) -> str:
    return f"{e.strerror or e}" + (f" ({e.filename})" if e.filename and str(e.filename) != str(path) else "")


def _remove(path: Path, in_place: bool = False) -> bool:
    """Rename ``path`` aside in its folder, then delete it (links not followed); ``in_place``: a leftover, deleted
    under its name (renamed again, its name had grown at each clear until the rename failed). False if it was gone
    already; :class:`Failed` if it cannot be removed."""
    aside = path if in_place else path.parent / f".{path.name}.del{os.urandom(3).hex()[:5]}.tmp"
    if not in_place:
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        except OSError as e:
            raise Failed(_why(e, path)) from None
    try:
        if stat.S_ISDIR(os.lstat(aside).st_mode):
            shutil.rmtree(aside)
        else:
            os.unlink(aside)
    except FileNotFoundError:
        if in_place:
            return False
    except OSError as e:
        raise Failed(_why(e, aside) + ("" if in_place else f"; what is left of it is {aside.name}, which medtrain "
                                       f"never reads (the next clear tries again)")) from None
    return True


@dataclass
class Cleared:
    root: Path
    kinds: list
    removed: list = field(default_factory=list)  #: [Entry] removed (a dry run: that would be)
    kept: list = field(default_factory=list)  #: [(Entry, why)] kept, in use
    failed: list = field(default_factory=list)  #: [(Entry, why)] that could not be removed (leftovers: partial)
    swept: list = field(default_factory=list)  #: [Entry] interrupted clears' leftovers removed (a dry run: would be)
    abandoned: list = field(default_factory=list)  #: [Entry] killed store conversions' leftovers removed (idem)

    @property
    def leftovers(self) -> int:  #: bytes of :attr:`swept`
        return sum(e.bytes for e in self.swept)

    @property
    def freed(self) -> int:
        return sum(e.bytes for e in self.removed + self.abandoned) + self.leftovers


class NothingRemoved(MedtrainError):
    """:func:`clear` where entries of the kinds asked could not be removed and none could: the one line, and in
    ``cleared`` what was kept, each with why (``medtrain cache clear --json`` prints it)."""

    def __init__(self, message: str, cleared: "Cleared"):
        super().__init__(message)
        self.cleared = cleared


def clear(kinds: Iterable[str], data_dir: str | os.PathLike | None = None, dry_run: bool = False) -> Cleared:
    """Remove the entries of ``kinds`` (:func:`kinds_to_clear`'s names) from the cache, keeping those in use;
    ``dry_run``: only say what would go. Each entry is renamed aside, then deleted (see the module docstring).

    An entry or leftover that cannot be removed, or a store whose lock cannot be taken, is kept and listed in
    ``failed``, and the clear goes on. Interrupted clears' leftovers, removed by any clear, are in ``swept``; killed
    store conversions' (:func:`~medtrain._io.cache_removal.abandoned`), by a clear of stores, in ``abandoned``. A dry
    run foresees the failures it can see (:func:`medtrain._io.cache_removal.foreseen`: a read-only mount, a lock that
    cannot be made) and lists them in ``failed`` too, so that its ``freed`` is what the clear frees.

    Raises:
        NothingRemoved: a :class:`MedtrainError`, one line naming what was kept (leftovers too), where entries of
            the kinds asked could not be removed and none could (permission denied, a read-only file system); not
            for a dry run, which says it.
        MedtrainError: one line, for a cache folder that is a file or cannot be read.
    """
    kinds = kinds_to_clear(kinds)
    found = survey(data_dir, folders=dry_run)  # a dry run asks each folder what the clear will
    done = Cleared(found.root, kinds)

    def gone(e: Entry, in_place: bool = False, lock: Path | None = None) -> bool:
        """Removed (a dry run: would be); else False, with why in ``failed`` where it could not be."""
        try:
            if dry_run:
                why = foreseen(e.path, e.folders, lock)
                if why is not None:
                    raise Failed(why)
                return True
            return _remove(e.path, in_place)
        except Failed as f:
            done.failed.append((e, str(f)))
            return False

    for e in found.entries[PARTIAL]:  # a dry run lists them too: what it lists is what a clear removes
        if _LEFTOVER.fullmatch(e.path.name) and gone(e, in_place=True):
            done.swept.append(e)
    if STORES in kinds:
        done.abandoned = sweep_builds(abandoned(found.entries[PARTIAL], folder(STORES, found.root), False), dry_run,
                                      gone, done.failed)
    targets = [e for k in kinds for e in found.entries[k]]
    busy = held_open(found.root) if targets else {}
    real = Path(os.path.realpath(found.root))
    for e in targets:
        pid = busy.get(str(real / e.path.relative_to(found.root)))
        if pid is not None:
            done.kept.append((e, f"open in process {pid}"))
            continue
        lock = store_lock(e.path) if e.kind == STORES else None
        if dry_run:
            if lock is not None and store_busy(lock):
                done.kept.append((e, "being converted by another process"))
            elif gone(e, lock=lock):
                done.removed.append(e)
            continue
        if lock is not None:
            try:
                with holding_store(lock) as held:
                    if not held:
                        done.kept.append((e, "being converted by another process"))
                    elif gone(e):
                        done.removed.append(e)
            except Failed as f:  # its lock cannot be taken: kept and named, as an entry that cannot be deleted
                done.failed.append((e, str(f)))
        elif gone(e):
            done.removed.append(e)
    asked = [(e, why) for e, why in done.failed if e.kind != PARTIAL]
    if asked and not done.removed and not dry_run:
        raise NothingRemoved(_nothing_removed(asked, done), done)
    return done


def _nothing_removed(asked: list, done: Cleared) -> str:
    """The one line of a clear that removed nothing of the kinds asked, naming the leftovers it kept too (the walk
    had read of a read-only store only, its leftover there unsaid)."""
    more = f" (and {len(asked) - 1} more)" if len(asked) > 1 else ""
    said = f"cannot remove {asked[0][0].path}{more}: {asked[0][1]}; nothing of {', '.join(done.kinds)} could be removed"
    left = [(e, why) for e, why in done.failed if e.kind == PARTIAL]
    if left:
        more = f" (and {len(left) - 1} more)" if len(left) > 1 else ""
        said += f"; {leftover_of(left[0][0].path)} {left[0][0].path}{more} was kept too: {left[0][1]}"
    return said


def human(n: int) -> str:
    """Bytes in the unit that fits them: ``0 B``, ``512 B``, ``4.1 kB``, ``16.0 GB`` (powers of 1000)."""
    if n < 1000:
        return f"{n} B"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000
        if round(n, 1) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}"
    return ""  # not reached
