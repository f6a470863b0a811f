"""Plumbing of :mod:`medtrain.data.medmnist`: the arrays of a ``.npz`` in MedMNIST layout, read whole (object
arrays and pickles refused, never unpickled) or by their ``.npy`` headers alone without decompressing any data, any
damage one :class:`MedtrainError` naming the file; and the ``(N, C, *spatial)`` layout their images are loaded in."""
from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from medtrain.errors import MedtrainError

NPZ_KEYS = ("train_images", "train_labels", "val_images", "val_labels", "test_images", "test_labels")


def _layout(shape: tuple, dtype, key: str, is_3d: bool) -> tuple[tuple, tuple | None]:
    """The ``(N, C, *spatial)`` shape images of ``shape`` are loaded as, and the axis order that gets them
    there (None: a reshape suffices). Shared by the in-memory path and the memory-mapped store."""
    if np.dtype(dtype) != np.uint8:
        raise MedtrainError(f"{key} must be uint8 images, got {np.dtype(dtype)}")
    shape = tuple(shape)
    if is_3d:
        if len(shape) == 4:  # (N, D, H, W) one channel
            return (shape[0], 1, *shape[1:]), None
        if len(shape) != 5:
            raise MedtrainError(f"{key} must be (N, D, H, W) volumes, got shape {shape}")
        return shape, None
    if len(shape) == 3:  # (N, H, W) grey
        return (shape[0], 1, *shape[1:]), None
    if len(shape) == 4 and _channels_first(shape):  # (N, C, H, W), as PyTorch holds images: as loaded
        return shape, None
    if len(shape) == 4 and shape[-1] in (1, 3):  # (N, H, W, C)
        return (shape[0], shape[3], shape[1], shape[2]), (0, 3, 1, 2)
    raise MedtrainError(f"{key} must be {IMAGE_LAYOUTS} images, got shape {shape}")


IMAGE_LAYOUTS = "(N, H, W), (N, H, W, C) or (N, C, H, W) with C 1 or 3"


def check_square(shape: tuple, dtype, key: str, is_3d: bool, before: str = "saving them") -> None:
    """2D images of ``shape`` (a .npz's, or arrays in memory) are square, as a folder's or CSV's must be
    (:func:`medtrain.data.folder.check_square`, its wording): a run takes square inputs (predict, export and explain
    rebuild its input as side x side), and 20x24 arrays had trained at 20x24, recorded one side, and then been
    squashed to 24x24 by the run's own predict. Their remedy is not ``--image-size``, which these sources refuse
    (they come at their size), but squares made ``before``. Volumes are left as they are read."""
    if is_3d:
        return
    h, w = _layout(shape, dtype, key, False)[0][-2:]
    if h != w:
        raise MedtrainError(f"images are not square ({key} are {w}x{h}); a run takes square inputs: crop, pad or "
                            f"resize them to N x N before {before}")


def _channels_first(shape: tuple) -> bool:
    """Whether 4D ``shape`` is 2D images ``(N, C, H, W)``: a first axis of 1 or 3 (no volume has a depth of
    1 or 3 slices) and a last one that is no channel count ``(N, H, W, C)``."""
    return shape[1] in (1, 3) and shape[-1] not in (1, 3)


def _is_volume(shape: tuple, where: str) -> bool:
    """Whether images of ``shape`` (a file not named as a MedMNIST 3D set) are volumes ``(N, D, H, W)`` or
    ``(N, C, D, H, W)``, not 2D images ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)``. A 4D shape with a
    channel count of 1 or 3 at one end only is images (channels last or first); one with no such axis a volume
    (MedMNIST's 3D sets are ``(N, D, H, W)``, D = H = W); one that could be either (1 or 3 at both ends, or a
    2 or 4 at an end of a shape whose sizes differ: grey + alpha, RGBA) is refused in one line, as PyTorch's
    (N, 1, H, W) had been read as volumes of one slice (and diverged)."""
    shape = tuple(shape)
    if len(shape) != 4:
        return len(shape) == 5
    first, last = shape[1] in (1, 3), shape[-1] in (1, 3)
    if first != last:
        return False
    if not first and (shape[1] == shape[2] == shape[3] or not {shape[1], shape[-1]} & {2, 4}):
        return True
    alpha = (f"; a last axis of {shape[-1]} looks like {'grey' if shape[-1] == 2 else 'colour'} with alpha, not read: "
             f"drop the alpha channel (images[..., :{shape[-1] - 1}])" if shape[-1] in (2, 4) and not first else "")
    raise MedtrainError(f"{where} has shape {shape}, which is ambiguous; medtrain reads 2D images as "
                        f"{IMAGE_LAYOUTS}, and volumes as (N, D, H, W){alpha}")


def _images_to_tensor(a: np.ndarray, key: str, is_3d: bool) -> torch.Tensor:
    target, perm = _layout(a.shape, a.dtype, key, is_3d)
    a = a.transpose(perm) if perm else a.reshape(target)
    return torch.from_numpy(np.ascontiguousarray(a))


# What numpy and zipfile raise for a file that is not, or no longer, a valid .npz: truncated or garbled
# archives (BadZipFile, EOFError, zlib.error, struct.error), members that are not .npy (ValueError),
# object arrays that would need pickle (ValueError), unreadable files (OSError).
_BAD_NPZ = (OSError, ValueError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error,
            NotImplementedError, KeyError, RuntimeError)


def _read_npz(path: Path, keys: tuple = NPZ_KEYS, split: str | None = None) -> dict:
    """The six MedMNIST arrays of ``path`` (or ``keys`` of them), fully read; any damage is one MedtrainError
    naming the file. ``split``: only ``keys`` are needed, the images of that split (for ``predict``)."""
    try:
        # Our own file handle: np.load leaks its own when the zip directory turns out to be garbage.
        with open(path, "rb") as f:
            head = f.read(len(_LFS))
            if head and not head.startswith(_NUMPY_MAGIC + _PICKLE):  # np.load tries pickle for any other file
                raise _not_npz(path, head)
            f.seek(0)
            npz = np.load(f, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise MedtrainError(f"{path} is a single .npy array, not a .npz archive in MedMNIST layout")
            with npz:
                missing = [k for k in (NPZ_KEYS if split is None else keys) if k not in npz.files]
                if missing and split is not None:
                    raise _no_split(path, split, npz.files, labels=any(k.endswith("_labels") for k in keys))
                if missing:
                    raise MedtrainError(f"{path} lacks the key(s) {', '.join(missing)} of the MedMNIST layout")
                out = {}
                for k in keys:
                    try:
                        out[k] = np.asarray(npz[k])
                    except ValueError as e:
                        raise _pickled(path, e, k) from None
                return out
    except ValueError as e:
        raise _pickled(path, e) from None
    except _BAD_NPZ as e:
        raise _damaged(path, e) from None


def _no_split(path: Path, split: str, files, labels: bool = False) -> MedtrainError:
    """``split``'s images (predict, explain, eval) or labels (eval: ``labels`` are being read) missing from ``path``,
    worded for every caller: it had said "... to predict" to eval too, and told eval of images without labels to
    pick another split. A split offered instead holds what is being read: eval had been offered a split of images
    without labels, which it then refused for them."""
    held = ", ".join(sorted(files)) or "no arrays"
    if f"{split}_images" in files:  # the images are there: what is missing is their labels, which scoring needs
        return MedtrainError(f"{path} has no {split}_labels (it holds {held}); scoring its {split}_images needs "
                             f"their labels: add them, or predict the images (medtrain predict)")
    imaged = [s for s in ("train", "val", "test") if f"{s}_images" in files]
    splits = [s for s in imaged if not labels or f"{s}_labels" in files]
    way = (f"pick a split it holds{' with labels' if splits != imaged else ''}: --split {' or '.join(splits)}" if splits else
           f"scoring needs labels, and none of its splits has them (no {', '.join(f'{s}_labels' for s in imaged)}): "
           "add them, or predict the images (medtrain predict)"
           if imaged else "save the images as train_images, val_images or test_images (MedMNIST layout)")
    return MedtrainError(f"{path} has no {split} split (no {split}_images; it holds {held}); {way}")


_LFS = b"version https://git-lfs"
# a zip (a local file header, or the end record of an empty archive), or a single .npy
_NUMPY_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")
# a pickle (protocol 2 or later): left to np.load, whose refusal (allow_pickle=False) _pickled says as such
_PICKLE = (b"\x80",)


def _not_npz(path: Path, head: bytes) -> MedtrainError:
    """A file that is no zip (nor .npy) at all: a text file, a Git LFS pointer, said as such (numpy had tried to
    unpickle it, refused, and it had been called pickled arrays)."""
    if head.startswith(_LFS):
        return MedtrainError(f"{path} is a Git LFS pointer, not the .npz it stands for; fetch the file (git lfs pull)")
    return MedtrainError(f"{path} is not a .npz (zip) file (it does not start as a zip archive does); save the "
                         f"arrays with np.savez")


def _pickled(path: Path, e: ValueError, key: str | None = None) -> MedtrainError:
    """numpy's refusal (allow_pickle=False) of object arrays or a pickle, said as such (nothing was unpickled);
    any other ValueError: a damaged file."""
    if "allow_pickle" not in str(e):
        return _damaged(path, e)
    what = f"{path}: {key}" if key else str(path)
    return MedtrainError(f"{what} holds pickled (object) arrays, which medtrain does not load (unpickling could "
                         f"run code); save images and labels as numeric arrays")


def _damaged(path: Path, e: Exception) -> MedtrainError:
    return MedtrainError(f"{path} is not a readable .npz file, it may be truncated or damaged ({type(e).__name__})")


def _npz_headers(path: Path) -> dict:
    """``{key: (shape, fortran_order, dtype)}`` of the six arrays, read from the .npy headers inside the
    archive without decompressing any data."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = set(zf.namelist())
            missing = [k for k in NPZ_KEYS if f"{k}.npy" not in members]
            if missing:
                raise MedtrainError(f"{path} lacks the key(s) {', '.join(missing)} of the MedMNIST layout")
            headers = {}
            for k in NPZ_KEYS:
                with zf.open(f"{k}.npy") as f:
                    headers[k] = _npy_header(f)
            return headers
    except _BAD_NPZ as e:
        raise _damaged(path, e) from None


def _npy_header(f) -> tuple:
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return read(f)
