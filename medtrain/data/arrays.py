"""Images in memory as data: ``medtrain.train({"data": (images, labels), ...})`` or
``{"data": {"train": (x, y), "val": (x, y), "test": (x, y)}, ...}``, as Keras and timm users hold them.

The arrays are written once, as a .npz in MedMNIST layout, to ``<cache>/arrays/<sha256>/arrays.npz`` (the cache:
:func:`medtrain._io.cache_dir`, ``$MEDTRAIN_DATA`` where set), named by the SHA-256 of the six arrays it holds, and
the run trains on that file as on any .npz: eval, predict, export, resume, the same call again (the same arrays,
the same file: the finished run is returned) and a changed-data refusal (other arrays, another file) work as for
a file given by its path. The images are read by the .npz reader's layout rules (:mod:`medtrain.data._npz`) and
the labels as it reads them; splits not given are drawn by the one seeded stratified splitter
(:func:`medtrain.data.split.split_record`), as for a CSV without a split column. Which splits were given and which
drawn is written beside the file (:data:`ORIGIN_FILE`), for the run's record of where its splits came from: once,
by the first writer, never replaced. The same six arrays given split otherwise (a tuple's drawn splits given back as
a dict of three: ``own``, not ``drawn``) are written to a folder of their own, named by the SHA-256 of the arrays
and that origin, so that each run reads the origin of the split it was given (the last writer's had been read).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

import numpy as np

from medtrain._io import atomic_path, write_text
from medtrain._io.cache import ARRAYS, folder
from medtrain.data._npz import NPZ_KEYS, _is_volume, _layout, check_square
from medtrain.data._origin import DRAWN, OWN, origin_parts, split_origin
from medtrain.data.base import SPLITS
from medtrain.data.duplicates import image_digests
from medtrain.data.medmnist import _check_labels
from medtrain.data.split import split_record
from medtrain.errors import MedtrainError, suggest

FILE = "arrays.npz"  #: the file in each ``<sha256>/`` folder; its stem names the run (``runs/arrays-<model>-s<seed>``)
#: beside it: where its val and test splits came from (:mod:`medtrain.data._origin`), given or drawn, which the
#: file, in MedMNIST layout like any .npz, cannot tell; the loader records it in the run's data summary. Written
#: before the file, by the folder's first writer, and never replaced
ORIGIN_FILE = "split_origin.txt"


def in_memory(data) -> bool:
    """Whether ``data`` (a dict's ``data`` value) is images in memory rather than a path (or None)."""
    return data is not None and not isinstance(data, (str, os.PathLike, int, float))


def arrays_npz(data, val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0,
               root: str | os.PathLike | None = None) -> Path:
    """The .npz of :func:`arrays_written` (its arguments): the path alone."""
    return arrays_written(data, val_fraction, test_fraction, seed, root)[0]


def arrays_written(data, val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0,
                   root: str | os.PathLike | None = None) -> tuple[Path, Path | None]:
    """``(path, made)``: the .npz in MedMNIST layout that holds ``data``, written (atomically) on first use under
    ``root`` (None: the cache) in ``arrays/<sha256 of its arrays>/arrays.npz``.

    ``data``: ``(images, labels)``, or ``{"train": (x, y)[, "val": (x, y)][, "test": (x, y)]}``. Images: uint8
    ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)`` with C 1 or 3 (volumes ``(N, D, H, W)``), as a .npz holds
    them; labels: class indices ``(N,)`` or ``(N, 1)``, or a 0/1 label matrix ``(N, L)`` (multi-label). Splits not
    given are drawn with ``val_fraction``, ``test_fraction`` and ``seed``: all of them from the images of a tuple
    (as from a CSV without a split column; a label matrix by label, as a multi-label CSV's); validation
    (``val_fraction`` of them) or test (``test_fraction``) from the training images of a dict that lacks it.
    ``made``: what this call created, the outermost folder that was not there (the cache's, ``arrays/``, the
    ``<sha256>/`` folder) or else the file; None where the file was there: what a call refused after it (labels
    of one class, another run in ``out``...) removes, leaving nothing of itself in the cache (medtrain.api).

    Raises:
        MedtrainError: in one line, for data not so given: string labels (named classes: a CSV of path,label),
            patient groups (a CSV with a group column), images that are not uint8, shapes that do not match.
    """
    parts = _parts(data)
    missing = [s for s in SPLITS if s not in parts]
    if missing:
        parts = _drawn(parts, missing, val_fraction, test_fraction, seed)
    arrays = {}
    for s in SPLITS:
        arrays[f"{s}_images"], arrays[f"{s}_labels"] = parts[s]
    digest = hashlib.sha256()
    for k in NPZ_KEYS:
        a = np.ascontiguousarray(arrays[k])
        digest.update(repr((k, a.dtype.str, a.shape)).encode())
        digest.update(memoryview(a).cast("B"))
    origin = split_origin(DRAWN if "val" in missing else OWN, DRAWN if "test" in missing else OWN)
    path = folder(ARRAYS, root) / digest.hexdigest() / FILE
    made = _missing(path.parent)
    if _recorded(path.parent, origin) != origin:  # these arrays given split otherwise first: a folder of their own
        digest.update(repr((ORIGIN_FILE, origin)).encode())
        path = path.parent.parent / digest.hexdigest() / FILE
        made = _missing(path.parent)
        _recorded(path.parent, origin)
    if not path.is_file():  # the same arrays again: the file written then (its name is its content)
        made = made or path
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path, made


def unwritten(path: Path, made: Path | None) -> None:
    """Remove what :func:`arrays_written` made for ``path`` (``made``: its file, or the folders it made for it),
    for a call refused after it: the ``<sha256>/`` folder, then each folder above it that it made, where empty (not
    what another call put there meanwhile)."""
    if made is None:
        return
    if made == path:
        path.unlink(missing_ok=True)
        return
    shutil.rmtree(path.parent, ignore_errors=True)
    for above in path.parent.parents:
        if made != above and made not in above.parents:
            break
        with suppress(OSError):
            above.rmdir()


def _missing(where: Path) -> Path | None:
    """The outermost of ``where`` and its parents that is not there (None: ``where`` is)."""
    if where.exists():
        return None
    while not where.parent.exists():
        where = where.parent
    return where


def _recorded(where: Path, origin: str) -> str | None:
    """The origin :data:`ORIGIN_FILE` in the folder ``where`` records, ``origin`` recorded first where none is (a new
    folder; a file written before origins were recorded). Never replaced: it is made aside and linked in, which
    fails where another writer's came first; that one stands, and is what is returned."""
    recorded = arrays_origin(where / FILE)
    if recorded is not None:
        return recorded
    staged = where / f".{ORIGIN_FILE}.{os.urandom(4).hex()}.tmp"  # a killed writer's goes with the folder
    try:
        write_text(staged, origin + "\n")
        try:
            os.link(staged, where / ORIGIN_FILE)
        except FileExistsError:
            pass
        except OSError:
            # a file system without hard links: created only where absent, but not atomically: a reader between the
            # create and the write (or after a writer killed there) finds it empty, reads no origin, and the
            # arrays it brings get the folder of their own (arrays_npz): nothing lost, the same arrays in a
            # duplicate folder (and a run on this folder's file reported as of an unknown origin)
            with suppress(FileExistsError), open(where / ORIGIN_FILE, "x", encoding="utf-8") as f:
                f.write(origin + "\n")
    finally:
        staged.unlink(missing_ok=True)
    return arrays_origin(where / FILE)


def arrays_origin(path: str | os.PathLike) -> str | None:
    """Where the val and test splits of the .npz ``path`` came from: for one :func:`arrays_npz` wrote
    (``<cache>/arrays/<sha256>/arrays.npz``), as recorded beside it, None where nothing is (written before that was
    recorded: its missing splits were drawn, which ones is not known; the run's report then guesses); for any other
    .npz, its own (``own``)."""
    path = Path(path)
    if path.name != FILE or path.parent.parent.name != ARRAYS:
        return OWN
    try:
        origin = (path.parent / ORIGIN_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeError):
        return None
    return origin if origin_parts(origin) is not None else None


_GIVEN = ("data: images in memory are given as (images, labels) or as {'train': (images, labels), 'val': ..., "
          "'test': ...}")


def _parts(data) -> dict:
    """``{split: (images, labels)}`` as given, each checked."""
    if isinstance(data, Mapping):
        for key in data:
            if key not in SPLITS:
                raise suggest(str(key), SPLITS, "split of data")
        if "train" not in data:
            raise MedtrainError(f"data: a dict of splits needs train (val and test are drawn from it where not given); "
                                f"got {', '.join(map(str, data)) or 'none'}")
        parts = {s: _pair(data[s], s) for s in SPLITS if s in data}
    elif isinstance(data, (tuple, list)):
        parts = {"train": _pair(data, None)}
    elif type(data).__name__ == "DataFrame":
        raise MedtrainError("data: a DataFrame is not read; write it as a CSV of path,label[,split] "
                            "(df.to_csv(PATH, index=False)) and give data=PATH, or give data=(images, labels) arrays")
    elif isinstance(data, np.ndarray):
        raise MedtrainError("data: an array alone is not read (it holds no labels); give data=(images, labels), or "
                            "data=PATH of an .npz (np.savez(PATH, train_images=X, train_labels=Y, val_*, test_*)) or "
                            "of a CSV of path,label")
    else:
        raise MedtrainError(f"{_GIVEN}; got {type(data).__name__}")
    first = parts["train"][0].shape
    is_3d = _is_volume(first, "data: the train images")
    shapes = {s: _layout(x.shape, x.dtype, f"data: the {s} images", is_3d)[0][1:] for s, (x, _) in parts.items()}
    for s, shape in shapes.items():
        if shape != shapes["train"]:
            raise MedtrainError(f"data: the {s} images are {shape} (channels, pixels), the train images "
                                f"{shapes['train']}; give all at one size and layout")
    x = parts["train"][0]
    check_square(x.shape, x.dtype, "data: the train images", is_3d, "giving them")  # as a .npz's: before written
    if not is_3d and shapes["train"][0] == 1:  # grey (N, H, W, 1) and (N, 1, H, W) written as (N, H, W): one file
        parts = {s: (x.reshape(len(x), *shapes["train"][1:]), y) for s, (x, y) in parts.items()}
    return parts


def _pair(value, split: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of one split, as arrays, checked."""
    what = f"data['{split}']" if split else "data"
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        if isinstance(value, (tuple, list)) and len(value) == 3:
            raise MedtrainError(f"{what}: a third array (patient groups?) is not read; images with patients are "
                                f"given as image files with a CSV of path,label,patient and --group-column, which "
                                f"keeps each patient's images in one split")
        raise MedtrainError(f"{_GIVEN}; {what} is {type(value).__name__}"
                            + (f" of {len(value)}" if isinstance(value, (tuple, list)) else ""))
    images, labels = (np.asarray(v) for v in value)
    where = f"{what} images" if split else "data: the images"
    if images.dtype != np.uint8:
        how = (", e.g. np.clip(x * 255, 0, 255).round().astype(np.uint8) for values in [0, 1]"
               if images.dtype.kind == "f" else "")
        raise MedtrainError(f"{where} are {images.dtype}; medtrain reads uint8 images (0-255): convert them{how}")
    if labels.dtype.kind in "USO":
        raise MedtrainError(f"{what} labels are {'strings' if labels.dtype.kind != 'O' else 'objects'}; named classes "
                            f"are read from image files with a CSV of path,label (numbered in sorted order); as "
                            f"arrays give class indices 0..K-1")
    _check_labels(labels, f"{what} labels")
    if len(images) != len(labels):
        raise MedtrainError(f"{what}: {len(images)} images but {len(labels)} labels")
    if not len(images):
        raise MedtrainError(f"{what} holds no images")
    # as the .npz reader reads them: (N,) and (N, 1) alike, any whole-number dtype; so written alike (one file)
    return images, labels.astype(np.int64).reshape(-1) if labels.ndim == 1 or labels.shape[1] == 1 else \
        labels.astype(np.int64)


def _drawn(parts: dict, missing: list, val_fraction: float, test_fraction: float, seed: int) -> dict:
    """``parts`` with the ``missing`` splits drawn from train by :func:`split_record`: all of them from the images
    of a tuple (as a CSV without a split column is split, pixel-identical images kept in one split), validation or
    test alone from the training images of a dict."""
    images, labels = parts["train"]
    # a label matrix (multi-label) is split as a CSV's: by each row's rarest label, each label then in every split
    y = labels.astype(np.int64) if labels.ndim == 2 else labels.reshape(-1).astype(np.int64)
    fractions = {("val", "test"): (val_fraction, test_fraction), ("val",): (val_fraction, 0.0),
                 ("test",): (test_fraction, 0.0)}[tuple(missing)]  # test alone: drawn as "val", then named test
    try:
        record = split_record([str(i) for i in range(len(y))], y, None, *fractions, seed, source="data",
                              digests=image_digests(images), say_rare=False)  # said once, of the whole set, as loaded
    except MedtrainError as e:  # a class too small for the split asked, said of the split it is drawn as
        raise (MedtrainError(re.sub(r"\bval\b", "test", str(e))) if missing == ["test"] else e) from None
    assign = record.assign if missing != ["test"] else np.where(record.assign == 1, 2, 0)
    drawn = dict(parts)
    for code, s in enumerate(SPLITS):
        if s == "train" or s in missing:
            drawn[s] = (images[assign == code], labels[assign == code])
    return drawn
