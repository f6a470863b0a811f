"""Images on disk: a folder with one sub-folder per class, or a CSV of ``path,label[,split]``.

Images are decoded once into a uint8 tensor, or (``store="mmap"``, or ``auto`` for folders too large
for memory) once into a memory-mapped store in the cache (:mod:`medtrain.data.store`). Without a split column, train / val / test are the seeded,
stratified split every loader uses (:func:`medtrain.data.split.stratified_split`), with pixel-identical images
(copies under other names, found by their digests as decoded) kept in one split and one fold.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from medtrain._io import path_kind, why_not_read
# IMAGE_SUFFIXES: predict's too, imported from here (predict imports no private data module)
from medtrain.data._folder_files import IMAGE_SUFFIXES, _check_utf8_names, _no_images, _no_run_inside
from medtrain.data._medmnist_names import own_data_name
from medtrain.data._image_open import _header, _open, colour_mode, transparent
from medtrain.data._multilabel_table import label_matrix
from medtrain.data._split_store import split_store
# squashed_note/squashed_one: the squash wording's public home (predict imports no private data module)
# IMAGE_DEPTH, image_depth, check_depth: the bit depth a run's images had (provenance), predict's check of its inputs
from medtrain.data._survey import (FACTS, IMAGE_DEPTH, check_depth, deep, depth_again, depth_of,  # noqa: F401
                                   facts_again, image_depth, is_rgb, recorded, said_again, squashed_note,
                                   squashed_one, survey)
from medtrain.data._table_checks import check_distinct_labels
from medtrain.data.base import Split, Splits
from medtrain.data.duplicates import image_digests
from medtrain.data.intensity import normalise_percentile, to_uint8
from medtrain.data.store import use_mmap
from medtrain.data.split import PARTS, encode_labels, split_record
from medtrain.data.table import LabelTable, read_label_csv
from medtrain.errors import MedtrainError
from medtrain.tasks import BINARY, MULTICLASS, MULTILABEL


def _check_image_size(image_size) -> int | None:
    if image_size is None:
        return None
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise MedtrainError(f"image_size must be a positive whole number of pixels, got {image_size!r}")
    return int(image_size)


def check_same_size(first, first_shape: tuple, path, shape: tuple) -> None:
    """Images of one data set share their size (shapes ``(H, W, ...)``), or ``--image-size`` resizes them."""
    if tuple(shape[:2]) != tuple(first_shape[:2]):
        raise MedtrainError(f"images have mixed sizes: {first} is {first_shape[1]}x{first_shape[0]}, "
                            f"{path} is {shape[1]}x{shape[0]}; pass --image-size N to resize them")


def check_square(path, width: int, height: int) -> None:
    """Runs take square inputs (predict, export and explain rebuild a run's input as side x side): images of
    another shape are resized with ``--image-size``, not trained at their own shape and then predicted squashed."""
    if width != height:
        raise MedtrainError(f"images are not square ({path} is {width}x{height}); pass --image-size N to resize "
                            f"them to N x N")


def _to_8bit(im: Image.Image, name="image") -> Image.Image:
    """An image of more than 8 bits per channel (modes I, I;16*, F) as ``L``, its own 1st..99th percentile
    window mapped to 0..255 as volumes are (:func:`medtrain.data.intensity.normalise_percentile`); Pillow's
    ``convert("L")`` would clip it (16-bit data all 255, floats in [0, 1] all 0). 8-bit images pass as they are
    (a 16-bit colour file, which Pillow decodes to its high bytes, is refused when opened:
    :func:`medtrain.data._image_open._check_colour_depth`). Non-finite pixels
    of a float image (NaN, inf) are left out of the window and become 0; one with no finite pixel is refused,
    naming ``name``."""
    if not deep(im.mode):
        return im
    a = np.asarray(im)
    if a.dtype.kind == "f" and not np.isfinite(a).any():
        raise MedtrainError(f"{name}: image has no finite pixel (all NaN or infinite)")
    return Image.fromarray(to_uint8(normalise_percentile(a)), "L")


def resize_square(im: Image.Image, size: int) -> Image.Image:
    """An image resized to ``size`` x ``size`` (bilinear; another aspect ratio is squashed), as every loader
    and ``predict`` resize."""
    return im.resize((size, size), Image.BILINEAR)


def _array(p: Path | None, im: Image.Image, rgb: bool, image_size: int | None, first: list,
           name: str = "image") -> np.ndarray:
    """One decoded image as ``(H, W, C)`` uint8; ``first`` holds the first image's path and shape, which
    every other image must match; ``name`` names an image that has no path in errors."""
    im = _to_8bit(im, p if p is not None else name).convert("RGB" if rgb else "L")
    if image_size:
        im = resize_square(im, image_size)
    a = np.asarray(im, dtype=np.uint8)
    if not first:
        first += [p, a.shape]
    else:
        check_same_size(first[0], first[1], p, a.shape)
    return a if rgb else a[..., None]


def _decode(paths: list[Path], image_size: int | None, square: bool = True,
            modes: list | None = None, facts: dict | None = None) -> torch.Tensor:
    """Decode images to (N, C, H, W) uint8; grey unless some image has colour; ``square``: a data set's images,
    which must be (:func:`check_square`) and are said of once read (:func:`medtrain.data._survey.survey`); one file read for
    ``predict`` need not be, and is not said of (predict counts the inputs it squashes itself). ``modes``: given,
    each image's mode as its header gives it (its bit depth) is appended to it; ``facts``: given, updated with what
    a run records of the images (:data:`medtrain.data._survey.FACTS`)."""
    image_size = _check_image_size(image_size)
    if not paths:
        raise MedtrainError("no images found")
    found = survey(paths, image_size if square else None, data_set=square)
    if modes is not None:
        modes += found.modes
    first: list = []
    out, maybe, seen = None, set(found.maybe_transparent), []
    # one image decoded at a time into the result: holding every decoded image, then stacking and transposing
    # them had peaked at 4.3x the images' size (a walkthrough's 307 MB folder: +1,328 MB of RSS)
    for i, p in enumerate(paths):
        im = _open(p)
        if p in maybe and transparent(im):  # (known from the pixels, as they are decoded: checked once)
            seen.append(p)
        a = _array(p, im, found.rgb, image_size, first)
        if out is None:
            if square:
                check_square(first[0], first[1][1], first[1][0])
            out = np.empty((len(paths), a.shape[2], a.shape[0], a.shape[1]), np.uint8)
        out[i] = a.transpose(2, 0, 1)
    found.transparent(seen)
    if facts is not None:
        facts.update(found.facts)
    for w in found.said:
        warnings.warn(w, stacklevel=3)
    return torch.from_numpy(out)


def _stored(paths: list[Path], first, image_size: int | None, store: str, source: Path, resplit,
            data_dir=None, processes: int | None = None) -> tuple:
    """(the images of each part as mapped tensors from the store, converting one image at a time on first use, or
    None when ``store`` says to decode them into memory; the split; the images' bit depth, :func:`depth_of`, and what
    a run records of them, :data:`~medtrain.data._survey.FACTS`: None with no store). Same images, same order, as
    ``_decode(paths)[assign == i]``; laid out, and re-split by ``resplit`` from the stored digests, by
    :func:`medtrain.data._split_store.split_store`, under ``data_dir`` (None: the cache); ``processes``: as for
    :func:`~medtrain.data.store.use_mmap`."""
    if store == "memory" or not paths:
        return None, first, None, None
    image_size = _check_image_size(image_size)
    w, h = (image_size, image_size) if image_size else _header(paths[0], settle=False)[1]  # as stored, undecoded
    if w != h:  # (a turn keeps a square square; the size is said as displayed, EXIF orientation)
        check_square(paths[0], *_open(paths[0]).size)
    if not use_mmap(store, len(paths) * w * h * 3, processes):
        return None, first, None, None

    def decoder() -> tuple:  # only where the store is written: the headers of every image read first
        found, size = survey(paths, image_size).check_transparent(), []  # (said of before decoded)
        return (3 if found.rgb else 1, h, w), lambda j: _array(paths[j], _open(paths[j]), found.rgb, image_size,
                                                                size).transpose(2, 0, 1)[None], recorded(
            found.said, found.facts)

    parts, record = split_store(paths, image_size, source, first, decoder, resplit, root=data_dir)
    # what was said of the images as the store was written, said again whenever it is reused (a second run had
    # trained on squashed images without a word); a store written before it was kept: its headers surveyed again
    kept = parts["said"].numpy().tobytes() if "said" in parts else None
    facts = facts_again(kept) if kept is not None else None
    if facts is None:  # (nor its facts: those of a store written before they were kept)
        found = survey(paths, image_size).check_transparent()
        said, facts = found.said, found.facts
    else:
        said = said_again(kept)
    for warning in said:
        warnings.warn(warning, stacklevel=3)
    return parts, record, depth_again(said, paths[0]), facts


def read_image_mode(path: str | os.PathLike) -> tuple[torch.Tensor, str]:
    """:func:`read_image` of ``path`` and its mode as its header gives it (its bit depth, :func:`check_depth`), read
    once: ``predict`` holds its inputs to the bit depth of the run's images."""
    modes: list = []
    return _decode([Path(path)], None, square=False, modes=modes)[0], modes[0]


def read_image(path: str | os.PathLike, image_size: int | None = None) -> torch.Tensor:
    """One image file -> ``(C, H, W)`` uint8, decoded as the folder and CSV loaders decode (grey images
    stay one channel); ``image_size`` resizes it to a square.

    The image is turned as its EXIF orientation says it is displayed. 8-bit images keep their values;
    images of more than 8 bits per channel (16-bit PNG/TIFF, 32-bit integer or float TIFF) are mapped to
    0..255 from their own intensity range, the 1st..99th percentile window that volumes are normalised with
    (:func:`medtrain.data.intensity.normalise_percentile`; a constant image becomes all 0)."""
    return _decode([Path(path)], image_size, square=False)[0]


def decode_image(im: Image.Image, name: str = "image") -> torch.Tensor:
    """An opened PIL image -> ``(C, H, W)`` uint8, decoded exactly as :func:`read_image` decodes its file
    (EXIF orientation, more than 8 bits per channel, a palette as its colours, grey where those used are grey,
    grey + alpha as grey), so that ``predict`` of a PIL image gives what ``predict`` of its path gives. One that
    cannot be read (closed, damaged) is a :class:`MedtrainError` naming ``name``."""
    try:
        im = ImageOps.exif_transpose(im)  # a no-op on an image already turned (the tag is dropped when turning)
        return torch.from_numpy(_array(None, im, is_rgb([colour_mode(im)]), None, [], name).transpose(2, 0, 1).copy())
    except MedtrainError:
        raise
    except Exception as e:  # noqa: BLE001  (a closed or damaged lazily-read file raises many kinds)
        raise MedtrainError(f"{name}: cannot read image: damaged or unsupported ({type(e).__name__})") from None


def _not_found(p: Path) -> MedtrainError:
    why = why_not_read(p, "")
    return MedtrainError(f"image {p}: {why}" if why else f"image not found: {p}")


def _keep_readable(paths: list[Path], skip_bad: bool, *columns: list | None) -> tuple[list, list[dict]]:
    """With ``skip_bad``: ``paths`` and the per-path ``columns`` (labels, splits, ...; None passes) without the
    files that are missing or do not open as images, and those files with the reason, as volumes list them;
    without it, everything as given (a bad file then raises where it is decoded)."""
    if not skip_bad:
        return [paths, *columns], []
    keep, skipped = [], []
    for i, p in enumerate(paths):
        try:
            if path_kind(p) != "file":
                raise _not_found(p)
            _to_8bit(_open(p), p)  # a float image with no finite pixel too
            keep.append(i)
        except MedtrainError as e:
            skipped.append({"path": str(p), "reason": str(e)})
    if not keep:
        raise MedtrainError(f"no readable images ({len(skipped)} skipped)")
    pick = lambda col: None if col is None else [col[i] for i in keep]  # noqa: E731
    return [pick(paths), *(pick(c) for c in columns)], skipped


def _build(name: str, paths: list[Path], labels: np.ndarray, label_names: dict, splits: list[str] | None,
           image_size, val_fraction, test_fraction, seed, source, inputs: list[str], groups=None, folds=0,
           fold=None, store: str = "memory", skipped: list[dict] | None = None, data_dir=None,
           processes: int | None = None) -> Splits:
    args = (inputs, labels, splits, val_fraction, test_fraction, seed, groups, folds, fold, label_names, source)
    with warnings.catch_warnings(record=True) as said:  # warned below, of the split made
        warnings.simplefilter("always")
        first = split_record(*args)  # a split that cannot be made is refused before anything is decoded

    def resplit(digests: list):
        """The split with pixel-identical images kept together (:mod:`medtrain.data.split`), where there are any."""
        return split_record(*args, digests=digests) if len(set(digests)) < len(digests) else first

    # where medtrain deals the splits (or folds) itself: by the digests of the images as decoded
    deals = splits is None or bool(folds)
    mapped, record, depth, facts = _stored(paths, first, image_size, store, source, resplit if deals else None,
                                           data_dir, processes)
    if mapped is None:
        modes, facts = [], {}
        images = _decode(paths, image_size, modes=modes, facts=facts)
        record = resplit(image_digests(images.numpy())) if deals else first
        depth = depth_of(modes)  # (the store's: from its first file and what was said of its files)
    if record is first:
        for w in said:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    assign = torch.from_numpy(record.assign)
    labels = np.asarray(labels)  # class indices, or (multi-label) a 0/1 matrix of one column per label
    y = torch.from_numpy(labels.astype(np.float32 if labels.ndim == 2 else np.int64))
    names = np.array([str(p) for p in paths], dtype=object)
    data = mapped if mapped is not None else {s: images[assign == i] for i, s in enumerate(PARTS)}
    parts = {s: Split(data[s], y[assign == i], names[(assign == i).numpy()].tolist(), record.part_groups(i))
             for i, s in enumerate(PARTS)}
    task = MULTILABEL if labels.ndim == 2 else BINARY if len(label_names) == 2 else MULTICLASS
    return Splits(name=name, task=task, label_names=label_names, source=str(source), record=record,
                  extra={IMAGE_DEPTH: depth, FACTS: facts, **({"skipped": skipped} if skipped else {})},
                  **parts).validate()


def load_folder(root: str | os.PathLike, image_size: int | None = None, val_fraction: float = 0.1,
                test_fraction: float = 0.2, seed: int = 0, folds: int = 0, fold: int | None = None,
                store: str = "memory", skip_bad: bool = False, data_dir: str | os.PathLike | None = None,
                processes: int | None = None) -> Splits:
    """A folder with one sub-folder of images per class (class names = sub-folder names, sorted);
    ``folds``/``fold``: the cross-validation fold held out (:func:`medtrain.data.split.assign_splits`);
    ``skip_bad``: leave out files that do not open as images, listed in ``extra["skipped"]``.

    ``store``: ``memory`` decodes every image into RAM; ``mmap`` decodes them once, one at a time, into a
    memory-mapped store under ``data_dir`` (default: the cache; :mod:`medtrain.data.store`); ``auto`` picks by size,
    counting ``processes`` training processes on this machine, each with its own copy (None: ``$LOCAL_WORLD_SIZE``
    or one; :func:`~medtrain.data.store.use_mmap`)."""
    root = Path(root)
    if path_kind(root) != "dir":
        raise MedtrainError(f"data folder not found: {root}")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise MedtrainError(f"{root} must hold one sub-folder per class (found {len(classes)})")
    paths, labels = [], []
    for i, c in enumerate(classes):
        # hidden files and folders are not data: .ipynb_checkpoints/ copies, macOS's ._name AppleDouble files
        visible = [p for p in (root / c).rglob("*")
                   if not any(part.startswith(".") for part in p.relative_to(root).parts)]
        _no_run_inside(c, root / c, visible)
        files = sorted(p for p in visible if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise _no_images(c, root / c, visible)
        paths += files
        labels += [i] * len(files)
    _check_utf8_names(root, classes, paths)
    # folders named alike (hématome in Unicode NFC and NFD: macOS writes the one, other tools the other) were
    # two classes printing as one
    check_distinct_labels(root, [classes[i] for i in labels], "image", "move their images into one folder",
                          "class folders")
    (paths, labels), skipped = _keep_readable(paths, skip_bad, labels)
    lost = [c for i, c in enumerate(classes) if i not in set(labels)]
    if lost:  # --skip-bad must not turn a 3-class task into a 2-class one
        raise MedtrainError(f"{root}: every image of class {', '.join(map(repr, lost))} is unreadable "
                            f"({len(skipped)} skipped in all); fix the files or remove the class's folder")
    return _build(own_data_name(root.name, f"{root.name}/"), paths, np.array(labels), {str(i): c for i, c in enumerate(classes)}, None,
                  image_size, val_fraction, test_fraction, seed, root,
                  [p.relative_to(root).as_posix() for p in paths], folds=folds, fold=fold, store=store,
                  skipped=skipped, data_dir=data_dir, processes=processes)


def load_csv(path: str | os.PathLike, image_size: int | None = None, val_fraction: float = 0.1,
             test_fraction: float = 0.2, seed: int = 0, group_column: str | None = None, folds: int = 0,
             fold: int | None = None, store: str = "memory", skip_bad: bool = False,
             data_dir: str | os.PathLike | None = None, table: LabelTable | None = None,
             processes: int | None = None) -> Splits:
    """A CSV of ``path,label[,split]`` listing images, read by :func:`medtrain.data.table.read_label_csv`.

    Paths are relative to the CSV's folder; classes and, without a split column, the split are those
    any CSV loader gives (:func:`~medtrain.data.split.encode_labels`,
    :func:`~medtrain.data.split.stratified_split`); rows of one group (``group_column``, see
    :func:`~medtrain.data.table.read_label_csv`) stay in one split; ``folds``/``fold``: the
    cross-validation fold held out. ``store``, ``skip_bad`` (missing files too), ``data_dir``, ``processes``: as for
    load_folder.
    A multi-label CSV (labels joined in a cell, or 0/1 label columns) is a multi-label task of its labels, in their
    order (:attr:`~medtrain.data.table.LabelTable.label_names`), as an .npz of a 0/1 label matrix is.
    ``table``: the rows of ``path`` already read (by :func:`medtrain.data.load_splits`, to tell volumes), so that
    the CSV is read (and its warnings said) once per load.
    """
    table = table if table is not None else read_label_csv(path, group_column)
    multi = table.label_names is not None  # several labels per image: a 0/1 matrix, its columns the labels
    (paths, inputs, names, splits, groups), skipped = _keep_readable(
        table.resolve(), skip_bad, table.paths, table.label_sets if multi else table.labels, table.splits,
        table.groups)
    for p in paths:
        if path_kind(p) != "file":
            raise MedtrainError(f"{table.source}: {_not_found(p)}")
    if multi:  # a label whose every positive image is unreadable (one of no positive lost nothing)
        kept = {n for s in names for n in s}
        lost = [n for n in table.label_names if n not in kept and any(n in s for s in table.label_sets)]
    else:
        lost = sorted(set(table.labels) - set(names))
    if lost:  # --skip-bad must not turn a 3-class task into a 2-class one
        what = "positive image of label" if multi else "image of class"
        raise MedtrainError(f"{table.source}: every {what} {', '.join(map(repr, lost))} is unreadable "
                            f"({len(skipped)} skipped in all); fix the files or remove the {what[-5:]}'s rows")
    if multi:
        labels = label_matrix(names, table.label_names)
        label_names = {str(i): n for i, n in enumerate(table.label_names)}
    else:
        labels, label_names = encode_labels(names)
    return _build(own_data_name(table.source.stem, table.source.name), paths, labels, label_names, splits, image_size, val_fraction,
                  test_fraction, seed, table.source, inputs, groups, folds, fold, store, skipped, data_dir, processes)
