"""Writing an explanation: ``maps.npz``, one overlay PNG per input and their index ``explanations.csv``, all at
once."""
from __future__ import annotations

import contextlib
import csv
import os
import re
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np

from medtrain._io import atomic_dir, check_output, is_stream, write_text
from medtrain._lock import LOCKS, cannot_lock, lock, try_lock, unguarded
from medtrain.errors import MedtrainError
from medtrain.explain.nifti_out import NAME as _NIFTI, map_name, write_map
from medtrain.predict_inputs import shown_name
from medtrain.rundir import is_run

MAPS_FILE = "maps.npz"
#: one row per overlay, for a person without NumPy: the overlay, its input, the class explained, its probability,
#: the method, the layer and the map's peak (:data:`INDEX_COLUMNS`, then ``peak_y``, ``peak_x``; a volume's ``peak_z``
#: first; empty where the map is all zeros)
INDEX_FILE = "explanations.csv"
INDEX_COLUMNS = ("overlay", "input", "class", "probability", "method", "layer")
#: while an explanation is written into a folder: every overlay of explain's that may lie in it (the earlier
#: explanation's and the new one's), in place before any is moved there and removed once ``maps.npz`` is, so that a
#: run killed meanwhile leaves none that the next explanation into the folder does not remove
PENDING = ".overlays.pending"
_STAGED = ".maps.npz.new"  #: the new ``maps.npz``, moved in with the overlays and renamed onto it last
_STAGED_INDEX = ".explanations.csv.new"  #: the new index, renamed onto it once ``maps.npz`` is in place


def _file_stem(name: str) -> str:
    stem = Path(name).name
    for suffix in (".nii.gz", ".nii", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:60] or "input"


def _read_as_ras(name: str) -> bool:
    """Whether the input ``name`` was a NIfTI file or DICOM series, which the data layer reorders to RAS."""
    return name.lower().endswith((".nii", ".nii.gz")) or Path(name).is_dir()


def _overlay_name(i: int, name: str) -> str:
    return f"{i:04d}_{_file_stem(name)}.png"


_OVERLAY = re.compile(r"[0-9]{4}_[A-Za-z0-9._-]+\.png")


def _earlier_overlays(out: Path) -> set[str]:
    """The overlays (and NIfTI maps) an earlier explanation wrote into ``out``, as its ``maps.npz`` lists them
    (``overlays`` and ``nifti``; one written before overlays were listed: named after its ``inputs``), and those a
    killed one may have left (:data:`PENDING`); none without either."""
    try:
        with np.load(out / MAPS_FILE, allow_pickle=False) as z:
            names = ([str(n) for n in z["overlays"]] if "overlays" in z.files
                     else [_overlay_name(i, str(n)) for i, n in enumerate(z["inputs"])])
            names += [str(n) for n in z["nifti"]] if "nifti" in z.files else []
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        names = []
    with contextlib.suppress(OSError, UnicodeDecodeError):
        names += (out / PENDING).read_text(encoding="utf-8").splitlines()
    return {n for n in names if _OVERLAY.fullmatch(n) or _NIFTI.fullmatch(n)}  # a name, never a path out of it


def _real(path) -> Path:
    return Path(os.path.realpath(path))


def _hidden_in(out, folder) -> bool:
    """Whether ``out`` lies in a hidden folder (a name starting with ``.``) inside the input folder ``folder``, seen
    both as given and resolved: the folder readers skip hidden folders by the names they walk
    (:func:`medtrain.predict_inputs._folder_items`, :func:`medtrain.data.load_folder`), so its overlays are never
    read as inputs. A link ``scans/y -> scans/.x`` is walked as ``y``, so ``--out scans/y`` is not hidden."""
    def parts(path: Path, base: Path) -> tuple[str, ...] | None:
        try:
            return path.relative_to(base).parts
        except ValueError:  # not under it, as written
            return None

    real = parts(_real(out), _real(folder))
    given = parts(Path(os.path.abspath(out)), Path(os.path.abspath(folder)))
    return all(p is None or any(x.startswith(".") for x in p) for p in (real, given)) and real is not None


def _is_index(path: Path) -> bool:
    """Whether ``path`` is an ``explanations.csv`` explain wrote (its header), not a file of the user's."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return tuple(next(csv.reader([f.readline()]), ()))[:len(INDEX_COLUMNS)] == INDEX_COLUMNS
    except (OSError, UnicodeDecodeError):
        return False


def _is_explanation(path: Path) -> bool:
    """Whether ``path`` is a ``maps.npz`` explain wrote (its ``maps`` and ``inputs``), not a file of the user's."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {"maps", "inputs"} <= set(z.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, AttributeError):  # no zip: np.load gives no .files
        return False


def check_out(out, run_folder=None, sources=()) -> None:
    """Refuse, before any work, a folder ``out`` where explain would write among files that are not its own:
    a run's folder (``run_folder``, the run explained, or any other; a folder inside one is the user's choice:
    export writes into the run too); a folder given as input (``sources``), or one inside it, which the next
    explanation of that folder would read its overlays from as inputs; the folder holding an input file (an image,
    a CSV, a .npz: the folder it is given in, a link's own, and the folder of the file it links to); a folder holding
    a ``maps.npz`` or ``explanations.csv`` that explain did not write. An overlay's name that another file there
    already has is refused when the names are known (:func:`_write`). One line each, naming the way on. A hidden
    folder inside an input folder (``scans/.x``) is allowed: the folder reader skips hidden folders, as training's
    does."""
    if out is None or is_stream(out):
        return
    real = _real(out)
    if is_run(out) or isinstance(run_folder, (str, os.PathLike)) and real == _real(run_folder):
        raise MedtrainError(f"--out {out} is a run folder: the overlays and maps.npz would lie among the run's "
                            f"files; give a folder of their own (e.g. {Path(out) / 'explanations'})")
    for src in sources:
        if not isinstance(src, (str, os.PathLike)) or is_stream(src):
            continue
        where = _real(src)
        if where.is_dir() and (real == where or where in real.parents) and not _hidden_in(out, src):
            raise MedtrainError(f"--out {out} is {'the' if real == where else 'inside the'} input folder {src}: "
                                "the overlays would be read as inputs the next time it is explained; give a folder "
                                "outside it (or a hidden one inside it, e.g. .explanations, which is not read)")
        # a linked file (links/a.png -> real/a.png): its link's folder holds it as the input too
        if where.is_file() and real in (where.parent, _real(Path(os.path.abspath(src)).parent)):
            raise MedtrainError(f"--out {out} holds the input {src}: the overlays would lie among the inputs; give "
                                "a folder of their own")
    maps = Path(out) / MAPS_FILE
    if os.path.lexists(maps) and not _is_explanation(maps):
        raise MedtrainError(f"{maps} is not an explanation (no maps and inputs in it) and would be overwritten; "
                            "give another --out, or move it")
    index = Path(out) / INDEX_FILE
    if os.path.lexists(index) and not _is_index(index):
        raise MedtrainError(f"{index} is not an explanation's index (its header is not {','.join(INDEX_COLUMNS)},...) "
                            "and would be overwritten; give another --out, or move it")


def _not_ours(out: Path, names: list[str], earlier: set[str]) -> None:
    """Refuse when ``out`` holds a file (or folder) of the name of one of the new overlays ``names`` that no earlier
    explanation there wrote: it would be overwritten (a user's ``0000_scan.png`` by the overlay of ``scan.png``)."""
    clash = [n for n in names if n not in earlier and os.path.lexists(out / n)]
    if clash:
        more = f" (and {len(clash) - 1} more)" if len(clash) > 1 else ""
        raise MedtrainError(f"{out / clash[0]}{more} is not an overlay of an earlier explanation there and would be "
                            "overwritten; give another --out, or move it")


@contextlib.contextmanager
def _folder_held(out: Path):
    """Hold the folder ``out`` (created if missing) for this process: a second explanation into it waits here
    until the first has written. Two at once had read the same earlier ``maps.npz`` and merged their overlays
    into one folder (a walkthrough: maps.npz listed 12 overlays beside 15 PNGs, 3 of the other run's).

    Waiting, not refusing: the hold covers only the writing (seconds), after the maps are computed, so a refusal
    would throw that work away; waiting leaves what the two commands run one after the other leave (the later's
    maps and overlays). An advisory ``flock`` on the folder itself, as :func:`medtrain.rundir.training_lock` on a
    run's ``.lock`` (that one refuses, naming training): the system releases it when the process ends, even
    killed, and no lock file is left among the user's files. Not taken where locks do not exist (Windows), nor
    where the filesystem cannot lock (NFS without its lock daemon): a one-line warning, not the traceback it had
    been. A folder created here and left empty by an error is removed (an error leaves nothing)."""
    if not LOCKS:
        yield
        return
    check_output(out, folder=True)  # a file at out: one line, as atomic_dir says it
    created = not out.is_dir()
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_RDONLY)
    except OSError as e:
        raise MedtrainError(f"cannot write in {out} ({e.strerror or type(e).__name__})") from None
    done = False
    try:
        try:
            if not try_lock(fd):
                print(f"waiting for another explanation to finish writing into {out}", file=sys.stderr, flush=True)
                lock(fd)
        except OSError as e:
            if not cannot_lock(e):
                raise MedtrainError(f"cannot lock {out} ({e.strerror or e})") from None
            warnings.warn(unguarded(out, e, "explanations written into this folder at the same time"), stacklevel=3)
        yield
        done = True
    finally:
        os.close(fd)  # releases the lock
        if created and not done:
            with contextlib.suppress(OSError):  # not empty: another explanation wrote into it meanwhile
                out.rmdir()


def write_explanation(res, out: str | os.PathLike) -> list[Path]:
    """Write an :class:`~medtrain.explain.Explanation` ``res`` as ``maps.npz`` (``maps``, ``inputs``, ``target``,
    ``target_name``, ``method``, ``layer``, ``overlays``; ``images``, the inputs ``(N, C, *spatial)`` uint8 as the
    network took them (resized to the model's input), which the maps line up with; ``probability``, ``(N,)`` the
    explained class's probability that each overlay's title gives (a run of ``--mc-dropout N``: the mean of its N
    passes, as predict's, N stored as ``mc_dropout``, 0 for none; the maps are of one pass with dropout off);
    ``peak``, ``(N, ndim)`` the index of each map's maximum, ``(z, y, x)`` in a volume, -1 where a map is all
    zeros; ``nifti``, each input's NIfTI map's name, "" where it has none) and one overlay PNG per input
    (``NNNN_<name>.png``; for volumes the three orthogonal slices through the map's peak, the central ones where it
    has none), and for each NIfTI input or DICOM series its map as ``NNNN_<name>_map.nii.gz`` (:mod:`medtrain.explain.nifti_out`:
    float32 in the model's grid, under the affine that lays it over the scan, ``Explanation.affines``), and
    ``explanations.csv`` (:data:`INDEX_FILE`: a row per overlay) into the folder ``out``, all at once: an error
    leaves nothing. Each overlay's title and index row name its input as a person knows it
    (:func:`~medtrain.predict_inputs.shown_name`: a .npz row by its file, split and index).
    The overlays and maps an earlier explanation in ``out`` wrote are removed; other files are left alone. Returns the
    written PNGs. A second explanation into ``out`` at the same time waits for this one (:func:`_folder_held`)."""
    out = Path(out)
    with _folder_held(out):  # the earlier overlays read, these written and those removed by one writer at a time
        return _write(res, out)


def _write(res, out: Path) -> list[Path]:
    """The overlays, then ``maps.npz``: written into a temporary folder (:func:`~medtrain._io.atomic_dir`), whose
    files are moved into an existing ``out`` one by one, so a kill (SIGKILL, no ``finally``) can land between
    them. Every overlay of explain's that may then lie in ``out`` is listed in :data:`PENDING` before the first
    is moved; the earlier explanation's overlays and index go before its ``maps.npz`` is replaced by the new one, then
    the new index, the manifest last (they had gone after it: a run killed in between left overlays that no later
    one removed). A kill leaves no index, or the one of the overlays beside it, never a part of one."""
    from medtrain.reports._plots_saliency import peak_voxel, saliency_overlay

    check_out(out)  # a maps.npz of the user's: checked again, now that the folder is held
    earlier = _earlier_overlays(out)
    names = [_overlay_name(i, name) for i, name in enumerate(res.names)]
    # a NIfTI input's map, in the model's grid under the affine that lays it over the scan ("" for another input)
    affines = list(res.affines) + [None] * (len(res.names) - len(res.affines))
    niftis = [map_name(png) if a is not None else "" for png, a in zip(names, affines)]
    _not_ours(out, names + [n for n in niftis if n], earlier)
    pngs = [out / png for png in names]  # an out that is a file is refused by atomic_dir (_io.check_output), the
    with atomic_dir(out) as tmp:  # CLI's --out check too
        for i, (name, png) in enumerate(zip(res.names, names)):
            k = int(res.targets[i])
            title = (f"{shown_name(name, short=True)}\n{res.method}{f' at {res.layer}' if res.layer else ''} · "
                     f"{_target_words(res, i, k)}")
            saliency_overlay(res.images[i], res.maps[i], tmp / png, title, ras=_read_as_ras(name))
            if niftis[i]:
                write_map(res.maps[i], affines[i], tmp / niftis[i], name)
        ndim = np.ndim(res.maps) - 1
        peaks = np.array([peak_voxel(m) or (-1,) * ndim for m in res.maps], dtype=np.int64).reshape(-1, ndim)
        probability = np.array([res.probs[i, int(k)] for i, k in enumerate(res.targets)], dtype=np.float32)
        with open(tmp / _STAGED, "wb") as f:
            np.savez_compressed(f, maps=res.maps, inputs=np.array(res.names, dtype=str), target=res.targets,
                                target_name=np.array([res.labels[k] for k in res.targets], dtype=str),
                                method=np.array(res.method), layer=np.array(res.layer or ""),
                                overlays=np.array(names, dtype=str), nifti=np.array(niftis, dtype=str),
                                images=np.asarray(res.images, dtype=np.uint8),
                                probability=probability, peak=peaks, mc_dropout=np.array(res.mc_dropout))
        _write_index(tmp / _STAGED_INDEX, res, names, probability, peaks)
        # last in the block (an error before it leaves nothing); into out itself where the files are moved one by one
        pending = "".join(f"{n}\n" for n in sorted(earlier | set(names) | set(niftis) - {""}))
        write_text(out / PENDING if out.is_dir() else tmp / PENDING, pending)
    # an earlier explanation's overlays would sit beside these maps as if they were theirs; only those its maps
    # listed (or a killed one's PENDING) go: every NNNN_*.png had gone, a user's 2024_holiday.png too (a security
    # walkthrough)
    for name in earlier - set(names) - set(niftis):
        if not (out / name).is_dir():
            (out / name).unlink(missing_ok=True)
    (out / INDEX_FILE).unlink(missing_ok=True)  # the earlier one's rows: a kill from here leaves no index
    os.replace(out / _STAGED, out / MAPS_FILE)
    os.replace(out / _STAGED_INDEX, out / INDEX_FILE)
    (out / PENDING).unlink(missing_ok=True)
    return pngs


def _target_words(res, i: int, k: int) -> str:
    """An overlay's title words for its target: ``class normal (p = 0.638)``, a binary run's ``; called tumour at p
    >= 0.300`` where it decides at an operating point, a multi-label run's ``label Effusion (p = 0.439; not called at
    0.5)`` (or at the label's own threshold)."""
    p = float(res.probs[i, k])
    if res.multilabel:
        t = (res.label_thresholds or {}).get(res.labels[k])
        at = f"its threshold {t:.3f}" if t is not None else "0.5"
        called = p >= t if t is not None else p > 0.5  # as predict calls a label: >= its threshold, > 0.5 without
        return f"label {res.labels[k]} (p = {p:.3f}; {'called' if called else 'not called'} at {at})"
    return f"class {res.labels[k]} (p = {p:.3f}" + (
        f"; called {res.operating_point[0]} at p >= {res.operating_point[1]:.3f})" if res.operating_point is not None
        else ")")


def _write_index(path: Path, res, overlays: list[str], probability: np.ndarray, peaks: np.ndarray) -> None:
    """``explanations.csv``: per overlay its input (:func:`~medtrain.predict_inputs.shown_name`), the class explained
    by its name, its probability as ``maps.npz`` holds it (written as predict writes it), the method and layer, and
    the peak's index, one column per axis (empty for an all-zero map)."""
    axes = ("peak_z", "peak_y", "peak_x")[-peaks.shape[1]:] if peaks.shape[1] else ()
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([*INDEX_COLUMNS, *axes])
        for i, (name, png) in enumerate(zip(res.names, overlays)):
            peak = [] if peaks[i].min() < 0 else peaks[i].tolist()
            w.writerow([png, shown_name(name), res.labels[int(res.targets[i])], f"{float(probability[i]):.9g}",
                        res.method, res.layer or "", *(peak or [""] * len(axes))])
