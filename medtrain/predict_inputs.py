"""What ``medtrain predict``, ``medtrain explain`` and ``medtrain eval --data`` take as inputs, read as the run
read its own images: :func:`iter_inputs` lists image files, folders, CSVs of paths, ``.npz`` splits, NIfTI
volumes and DICOM series lazily as :class:`Item` s; :func:`conform` makes one decoded image the network's
input (channels, size); :func:`python_items` does the same for what a Python caller passes;
(:mod:`medtrain.cli._stdin` reads the paths of a command line's ``-`` from standard input). Image files and PIL images
are held to the bit depth of the run's training images (:attr:`medtrain.runmodel.RunModel.image_depth`), where it
recorded one.

Split out of :mod:`medtrain.predictor` (the predictor runs the network; this module only reads).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple

import numpy as np
import torch

from medtrain.runmodel import RunModel
from medtrain.data.dicom import image_shape, is_dicom_file
from medtrain.data.folder import (IMAGE_SUFFIXES, check_depth, decode_image, read_image_mode,
                                  resize_square)
from medtrain.data.medmnist import load_npz_images
from medtrain.data.nifti import is_nifti
from medtrain.data.input_csv import read_id_column, read_input_csv
from medtrain._io import NOT_REGULAR, file_problem, path_kind, why_not_read
from medtrain.errors import MedtrainError
from medtrain._predict_squash import (GreyForColourWarning, ResizedWarning, _greyed,  # noqa: F401 (the warnings
                                       _squashed)  # re-exported)


class Item(NamedTuple):
    """One input: its name in the output (a path, or an index into a .npz split), its decoder and what ``predict``
    writes beside its name: ``((column, value),)``, a CSV's patient column (:func:`id_columns`), else none."""

    name: str
    load: Callable[[], torch.Tensor]
    ids: tuple = ()


class Skipped(NamedTuple("Skipped", [("name", str), ("reason", str)])):
    """An input left out (``--skip-bad``): named as a person knows it (:func:`shown_name`), and why (that name not
    repeated). A .npz row's bare index had named no file."""

    __slots__ = ()

    def __new__(cls, name, reason: str):
        shown = shown_name(name)
        return super().__new__(cls, shown, str(reason).removeprefix(f"{shown}: ").removeprefix(f"{name}: "))


class InputName(str):
    """An input's name as the outputs write it (predict's ``input`` column, ``maps.npz``'s ``inputs``: a .npz row's
    index), carrying the file it is a row of and which row, for :func:`shown_name`."""

    def __new__(cls, value, source="", where=""):  # defaults: pickle and copy rebuild it from its value alone
        self = super().__new__(cls, value)
        self.source, self.where = str(source), where
        return self


def shown_name(name, short: bool = False) -> str:
    """The input ``name`` as a person knows it: a .npz row as ``FILE (SPLIT split, image I)``, another by its name;
    ``short``: the file's name without its folders (an overlay's title)."""
    source, where = getattr(name, "source", "") or str(name), getattr(name, "where", "")
    source = (Path(source).name or source) if short else source
    return f"{source} ({where})" if where else source


# --------------------------------------------------------------------------- inputs


def _is_series(folder: Path) -> bool:
    """A folder of DICOM slices (one series), rather than a folder to search; slices named without
    ``.dcm`` (``IM0007``, as scanners export them) count."""
    return any(is_dicom_file(p) for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _file_item(path: Path, run: RunModel) -> Item:
    problem = file_problem(path)
    if problem is not None:  # a FIFO or a device: a bad input, refused before it is opened (which may not end)
        return Item(str(path), lambda e=MedtrainError(f"{path}: {problem}"): _raise(e))
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return Item(str(path), lambda: _read_2d(path, run))
    if is_nifti(path) or is_dicom_file(path):
        return Item(str(path), lambda: _read_entry(path, run))
    raise MedtrainError(f"{path}: not an image, DICOM, NIfTI, CSV or .npz file")


def _folder_items(folder: Path, run: RunModel) -> Iterator[Item]:
    """The images of a folder and its sub-folders in sorted order (for a 3D run, DICOM series folders
    are one volume each); hidden files and folders (``.ipynb_checkpoints/``, macOS's ``._name`` files) are
    skipped, as :func:`medtrain.data.load_folder` skips them. Symbolic links to folders are followed, as
    training follows a linked class folder; a link back to a folder it lies in (a loop) is not."""
    volumes = len(run.input_shape) == 4
    above = {str(folder): (os.path.realpath(folder),)}  # the real folders each pending folder lies in, itself too
    for root, dirs, files in os.walk(folder, followlinks=True):
        chain = above.pop(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and os.path.realpath(os.path.join(root, d)) not in chain)
        for d in dirs:
            above[os.path.join(root, d)] = chain + (os.path.realpath(os.path.join(root, d)),)
        here = Path(root)
        if volumes and _is_series(here):  # its DICOM files are one volume; a NIfTI file beside them is another
            dirs.clear()
            yield Item(str(here), lambda p=here: _read_entry(p, run))
            for name in sorted(f for f in files if not f.startswith(".")):
                if is_nifti(here / name):
                    yield _file_item(here / name, run)
            continue
        for name in sorted(f for f in files if not f.startswith(".")):
            p = here / name
            if p.suffix.lower() in IMAGE_SUFFIXES or is_nifti(p) or is_dicom_file(p):
                yield _file_item(p, run)


def _csv_items(path: Path, run: RunModel) -> Iterator[Item]:
    """The entries of a CSV of paths as training's CSV reader reads and finds them
    (:func:`medtrain.data.input_csv.read_path_column`: its ``path`` column, or its first column when it has no header),
    each a lazy :class:`Item` with its row's patient ID where the CSV has a patient column (:func:`~medtrain.data.input_csv.read_id_column`). A
    missing entry or one of an unknown kind is a bad input (skipped with ``skip_bad``), not an error about the CSV."""
    entries, column, cells = read_input_csv(path, _group_column(run))  # one read: its paths and patient column
    for row, entry in entries:
        ids = ((column, cells[row]),) if column is not None else ()
        kind = path_kind(entry)
        if kind is None:  # as a missing input given on the command line, not "damaged"
            missing = MedtrainError(f"{entry}: {why_not_read(entry)} (row {row} of {path})")
            yield Item(str(entry), lambda e=missing: _raise(e), ids)
            continue
        if kind == "dir":
            yield Item(str(entry), lambda p=entry: _read_entry(p, run), ids)
            continue
        try:
            yield _file_item(entry, run)._replace(ids=ids)
        except MedtrainError as e:
            yield Item(str(entry), lambda e=e: _raise(e), ids)


def _group_column(run: RunModel | None) -> str | None:
    """The run's ``--group-column``, which its inputs' CSVs' patient column is found by first; none without a run."""
    return run.cfg.group_column if run is not None else None


def id_columns(inputs: Iterable, run: RunModel) -> list[str]:
    """The columns ``predict`` writes after ``input``: the patient column of each CSV among ``inputs`` that has one
    (:func:`~medtrain.data.input_csv.read_id_column`; each name once, in the inputs' order); none for other inputs (a CSV that cannot be read is
    left to :func:`iter_inputs` to refuse)."""
    names: list[str] = []
    for given in inputs:
        path = Path(given)
        if path.suffix.lower() == ".csv" and path_kind(path) == "file":
            try:
                name, _ = read_id_column(path, _group_column(run))
            except MedtrainError:  # said by iter_inputs, in the inputs' order
                continue
            if name is not None and name not in names:
                names.append(name)
    return names


def _raise(e: Exception):
    raise e


def _npz_items(path: Path, split: str, run: RunModel, alone: bool) -> Iterator[Item]:
    """A .npz split's images, named by their index; ``PATH:INDEX`` beside other inputs, whose rows an index
    alone would not tell apart (two .npz files both had rows 0, 1, ...); each carries its file and split
    (:class:`InputName`), which errors and overlays name."""
    images = load_npz_images(path, split)  # (N, C, *spatial); the other splits and the labels need not be there
    if images.ndim - 2 != len(run.input_shape) - 1:  # 2D images for a 3D run: said as for a PNG, not as a size
        raise _dims_error(path, images.ndim - 2, run)
    prefix = "" if alone else f"{path}:"
    for i in range(len(images)):
        yield Item(InputName(f"{prefix}{i}", path, f"{split} split, image {i}"), lambda i=i: images[i])


def iter_inputs(inputs: Iterable, run: RunModel, split: str = "test", alone: bool | None = None) -> Iterator[Item]:
    """Every input as an :class:`Item`, lazily; a missing path or an unknown kind of file is an error, a FIFO
    or a device a bad input (skipped with ``skip_bad``).
    ``alone``: whether these are all the inputs (default: whether there is one), which decides how a .npz's
    rows are named (its index alone, or ``PATH:INDEX`` beside other inputs). An image file of another bit depth than
    the run's training images (:attr:`RunModel.image_depth`) is refused as it is read
    (:func:`medtrain.data.folder.check_depth`; a bad input); a run that records none checks nothing. DICOM, NIfTI and .npz arrays are
    not held to it: the first are windowed by the run's own rule, the last are uint8 images already."""
    inputs = list(inputs)
    alone = len(inputs) == 1 if alone is None else alone
    for given in inputs:
        path = Path(given)
        kind = path_kind(path)
        if kind is None and file_problem(path) == NOT_REGULAR:  # a FIFO or a device, whatever its name
            yield _file_item(path, run)  # (fifo.csv): a bad input, never opened
        elif kind is None:  # missing, or a link loop
            raise MedtrainError(f"{path}: {why_not_read(path)}")
        elif kind == "dir":
            yield from _folder_items(path, run)
        elif path.suffix.lower() == ".npz":
            yield from _npz_items(path, split, run, alone=alone)
        elif path.suffix.lower() == ".csv":
            yield from _csv_items(path, run)
        else:
            yield _file_item(path, run)


# --------------------------------------------------------------------------- decoding as the run did


def _dims_error(path: Path, got: int, run: RunModel) -> MedtrainError:
    want = len(run.input_shape) - 1
    return MedtrainError(f"{path}: a {got}D {'volume' if got == 3 else 'image'} has the wrong dimensionality; "
                         f"the model takes {want}D {'volumes' if want == 3 else 'images'}")


def _read_2d(path: Path, run: RunModel) -> torch.Tensor:
    if len(run.input_shape) != 3:
        raise _dims_error(path, 2, run)
    x, mode = read_image_mode(path)
    check_depth(path, mode, run.image_depth)  # its bit depth from its header, as it was read
    size = run.input_shape[-1]
    # the run's size (folder runs: --image-size), resized as training did; the decoded image, not the file decoded
    # again (the same pixels: PIL's bilinear resize is per channel)
    return _resized(x, path, size) if tuple(x.shape[1:]) != (size, size) else x


def _read_entry(path: Path, run: RunModel) -> torch.Tensor:
    """A DICOM file or series or a NIfTI volume, windowed, resampled and resized as the run's volumes; a colour
    2D DICOM image ``(3, H, W)``, as a colour PNG is read."""
    from medtrain.data.volumes import load_entry

    arr, _ = load_entry(path, **_entry_settings(run), window=run.cfg.window)
    image = path_kind(path) != "dir" and not is_nifti(path)  # a 2D DICOM image: (H, W), or colour (3, H, W)
    if (2 if image else arr.ndim) != len(run.input_shape) - 1:
        raise _dims_error(path, 2 if image else arr.ndim, run)
    if image:  # squashed like an image file, and said so
        shape = image_shape(path)
        if shape is not None and shape[0] != shape[1]:
            _squashed(path, shape[1], shape[0], run.input_shape[-1])  # W x H
    x = torch.from_numpy(np.ascontiguousarray(arr))
    return x if image and arr.ndim == 3 else x[None]


def _entry_settings(run: RunModel) -> dict:
    """The geometry :func:`_read_entry` decodes a volume to: the run's ``--spacing`` (``2,1,1`` too, as training
    parses it) and its input's side."""
    from medtrain.data.geometry import parse_spacing

    return {"spacing": parse_spacing(run.cfg.spacing), "size": run.input_shape[-1]}


def model_affine(name: str, run: RunModel) -> np.ndarray | None:
    """The affine from an index ``(x, y, z)`` of the run's input grid (its volume ``(D, H, W)`` taken as ``(W, H,
    D)``) to the scan's millimetres, for the input ``name`` when it is a NIfTI file or a DICOM series folder that
    :func:`_read_entry` decodes (:func:`medtrain.data.volumes.grid_affine`; a series' in RAS, its LPS patient
    coordinates with x and y negated); None for a 2D run or another input.

    Raises:
        MedtrainError: naming the file or folder, for a header or slice geometry that cannot be read."""
    from medtrain.data.volumes import grid_affine

    kind = path_kind(name)
    if len(run.input_shape) != 4 or not (kind == "dir" or kind == "file" and is_nifti(name)):
        return None
    return grid_affine(name, **_entry_settings(run))


def conform(x, name: str, run: RunModel) -> torch.Tensor:
    """One image ``(C, *spatial)`` (or ``(*spatial)`` for one channel; a 2D image also ``(H, W, C)`` when its
    first size is no channel count and its last is) as the network takes it, a 2D image resized to its square;
    a grey image for an RGB network is repeated over the channels, as the folder loader converts it, and an
    RGB(A) image whose colour channels are equal is a grey one for a grey network. A volume of another size is
    refused (training resizes no .npz volume; NIfTI and DICOM are read at its size). Errors say :func:`shown_name`."""
    name = shown_name(name)  # a .npz row: its file, split and index (the name alone is its index)
    if _is_pil(x):  # decoded as its file is: EXIF orientation, palette, grey + alpha, 16-bit window
        x = decode_image(x, name)
    if not isinstance(x, torch.Tensor):
        x = np.asarray(x)
        x = torch.from_numpy(x if x.flags.writeable else x.copy())  # read-only (PIL, memory maps): torch warned
    if x.dtype != torch.uint8:
        raise MedtrainError(f"{name}: images must be uint8 (0..255), got {x.dtype}")
    want = run.input_shape
    dims = len(want) - 1
    if x.ndim == dims:
        x = x[None]
    if x.ndim != dims + 1:
        kind = "volumes (C, D, H, W)" if dims == 3 else "2D images (C, H, W)"
        raise MedtrainError(f"{name}: shape {tuple(x.shape)} has the wrong dimensionality; the model takes {kind}")
    if dims == 2 and x.shape[0] not in (1, 3, 4, want[0]) and x.shape[-1] in (1, 3, 4, want[0]):
        x = x.permute(2, 0, 1)  # (H, W, C) as NumPy, PIL and MedMNIST's .npz hold colour images: unambiguous here
    if x.shape[0] == 1 and want[0] == 3:
        x = x.expand(3, *x.shape[1:])
        _greyed(name)  # said once per call, with the others (training says the same of grey images among colour)
    if x.shape[0] in (3, 4) and want[0] == 1 and (x[1:3] == x[:1]).all():
        x = x[:1]  # a grey picture stored as RGB(A) (many exporters do): its one channel; colour is refused below
    if x.shape[0] in (3, 4) and want[0] == 1:  # its colours differ: said as such (a 2-level tint had read as a
        apart = int((x[:3].amax(0).int() - x[:3].amin(0).int()).max())  # channel count: "3 channel(s) ... takes 1")
        raise MedtrainError(f"{name}: a colour image (its channels differ by up to {apart} grey levels), but the model "
                            f"takes grey images: an RGB(A) image is taken only where its three channels are equal (a "
                            f"grey image stored as colour); convert it to grey first if that is what it is")
    if x.shape[0] != want[0]:
        raise MedtrainError(f"{name}: {x.shape[0]} channel(s), but the model takes {want[0]}")
    if dims == 2 and tuple(x.shape[1:]) != want[1:]:  # resized as an image file of that size is
        x = _resized(x, name, want[-1])
    if tuple(x.shape[1:]) != want[1:]:  # a volume: training resizes none given as arrays (a .npz), nor does this
        raise MedtrainError(f"{name}: size {'x'.join(map(str, x.shape[1:]))}, but the model takes "
                            f"{'x'.join(map(str, want[1:]))} (a volume in a .npz or an array is not resized; a "
                            "NIfTI file or DICOM series is read at the model's size)")
    return x.contiguous()


def _resized(x: torch.Tensor, name: str, size: int) -> torch.Tensor:
    """A ``(C, H, W)`` uint8 image resized to the model's square, as :func:`_read_2d` resizes a file."""
    from PIL import Image

    if x.shape[1] != x.shape[2]:
        _squashed(name, x.shape[2], x.shape[1], size)  # W x H
    channels = [np.asarray(resize_square(Image.fromarray(c.numpy()), size)) for c in x]  # per channel: any count
    return torch.from_numpy(np.stack(channels))


def python_items(images, run: RunModel, split: str = "test") -> Iterator[Item]:
    """What a Python caller passes to ``predict`` or ``explain`` as :class:`Item` s: a path, a list of paths
    and arrays, a uint8 batch ``(N, C, *spatial)`` (an array in a list is one image unless it has the batch
    axis too), one grey ``(H, W)`` image or ``(D, H, W)`` volume, one colour image ``(C, H, W)`` or
    ``(H, W, C)`` for a network of C > 1 channels (``(H, W, 3)``, ``(H, W, 4)`` for any network), or a PIL
    image. Paths and PIL images are held to the run's bit depth as in :func:`iter_inputs` (uint8 arrays are images
    already)."""
    if _is_table(images):  # its rows had been read as one image of objects: a raw TypeError from torch
        raise _table_error(images)
    spatial = len(run.input_shape) - 1
    chans = run.input_shape[0]
    if isinstance(images, (str, os.PathLike)) or getattr(images, "ndim", None) == spatial or _is_pil(images):
        images = [images]
    elif getattr(images, "ndim", None) == spatial + 1 and (
            chans > 1 and chans in (images.shape[0], images.shape[-1])
            or images.shape[-1] in (3, 4) and images.shape[0] not in (3, 4)):
        # one colour image, channels first or last (for a grey network: last), as a file or PIL image is one: it
        # had been split along its first axis, each slice predicted as an image (3 or 28 rows for one image, no
        # warning; found in user walkthroughs)
        images = [images]
    if isinstance(images, (np.ndarray, torch.Tensor)):  # a batch alone: one image per entry of its first axis
        images = [images[j] for j in range(len(images))]
    batch = spatial + 2

    def items_of(i, x):
        if _is_table(x):
            raise _table_error(x)
        if isinstance(x, (str, os.PathLike)):  # explain's inputs too: a .npz among others is named PATH:INDEX
            return iter_inputs([x], run, split=split, alone=len(images) == 1)
        if getattr(x, "ndim", 0) == batch:  # a batch: its images, named by position
            return [Item(f"image {i}.{j}", lambda y=y: y) for j, y in enumerate(x)]
        return [Item(f"image {i}", lambda x=x: _pil_checked(x, f"image {i}", run.image_depth) if _is_pil(x) else x)]

    return (item for i, x in enumerate(images) for item in items_of(i, x))


def _pil_checked(im, name: str, depth: str | None):
    """A PIL image, held to the run's bit depth by its mode (:func:`iter_inputs`); :func:`conform` decodes it."""
    check_depth(name, im.mode, depth)
    return im


def _is_table(x) -> bool:
    """A data frame (pandas, polars...): a table of columns, not images; a column of it (a Series) is a list."""
    return any(c.__name__ == "DataFrame" for c in type(x).__mro__) and hasattr(x, "columns")


def _table_error(table) -> MedtrainError:
    columns = [str(c) for c in table.columns]
    col = "path" if "path" in columns else (columns[0] if columns else "path")
    shown = ", ".join(columns[:5]) + (", ..." if len(columns) > 5 else "")
    return MedtrainError(f"images are given as a whole DataFrame (columns: {shown or 'none'}); pass the column of "
                         f"image paths or images, e.g. df[{col!r}]")


def _is_pil(x) -> bool:
    from PIL import Image

    return isinstance(x, Image.Image)
