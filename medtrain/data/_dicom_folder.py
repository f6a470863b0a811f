"""A folder with one sub-folder per class of single-frame 2D DICOM files (``FOLDER/normal/*.dcm``), read exactly
as a ``labels.csv`` listing the same files is read (:func:`medtrain.data.volumes.load_volume_folder`): each file by
:func:`medtrain.data.volumes.load_entry` (Hounsfield units, a CT window, MONOCHROME1 inverted, colour kept as RGB,
cached), its patient's hash its group, the classes and the split those of the CSV.

:func:`dicom_tree` tells such a folder (None for a folder of images, which :func:`medtrain.data.folder.load_folder`
reads) and :func:`load_dicom_folder` loads it; :func:`medtrain.data.load_splits` picks between them (this module
imports :mod:`~medtrain.data.volumes`, which imports :mod:`~medtrain.data.folder`: the folder loader cannot call it).
A tree that mixes DICOM files with image files (PNG, JPEG...) or NIfTI volumes is refused in one line, as a CSV
mixing them is. A 3D series stays a CSV's (one row per series folder): a sub-folder of a class whose first two
DICOM files belong to one series is refused with that advice, not read as its slices.
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path

from medtrain._io import path_kind
from medtrain.data.base import Splits
from medtrain.data import dicom
from medtrain.data._table_checks import check_distinct_labels
from medtrain.data._folder_files import IMAGE_SUFFIXES, _check_utf8_names
from medtrain.data.nifti import is_nifti
from medtrain.data.table import LabelTable
from medtrain.data.volumes import load_volume_folder
from medtrain.errors import MedtrainError

def dicom_tree(root: str | os.PathLike) -> dict[str, list[Path]] | None:
    """Each class's DICOM files (by name or ``DICM`` marker, sorted; DICOMDIR and hidden files left out, as are
    other files, a README.txt) where ``root`` is a folder of class folders holding DICOM files; None where it holds
    none (a folder of images, or no class folders: :func:`medtrain.data.folder.load_folder` reads or refuses it).

    Raises:
        MedtrainError: for a tree that also holds image files or NIfTI volumes, a class without DICOM files, a
            series in a sub-folder of a class, or class folder or file names that are not UTF-8 or alike.
    """
    root = Path(root)
    if path_kind(root) != "dir":
        return None
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        return None
    # hidden files and folders are not data (as in load_folder): .ipynb_checkpoints/, macOS's ._name files
    visible = {c: [p for p in (root / c).rglob("*") if not any(part.startswith(".") for part in
                                                                  p.relative_to(root).parts)] for c in classes}
    found = {c: sorted(p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES and not is_nifti(p)
                       and p.name not in dicom._IGNORED_FILES and p.is_file() and dicom.is_dicom_file(p))
             for c, files in visible.items()}
    first = next((fs[0] for fs in found.values() if fs), None)
    if first is None:
        return None
    every = [p for files in visible.values() for p in sorted(files) if p.is_file()]
    image = next((p for p in every if p.suffix.lower() in IMAGE_SUFFIXES), None)
    if image is not None:
        raise MedtrainError(f"{root} mixes image files ({image}) and DICOM files ({first}); use one kind per data "
                            f"set")
    volume = next((p for p in every if is_nifti(p)), None)
    if volume is not None:
        raise MedtrainError(f"{root} mixes 2D DICOM files ({first}) and NIfTI volumes ({volume}); use one kind per "
                            f"data set")
    for c, files in found.items():
        if not files:
            raise MedtrainError(f"class '{c}' has no DICOM files in {root / c}, while other classes of {root} have")
        _refuse_series(root, c, files)
    _check_utf8_names(root, classes, [p for c in classes for p in found[c]])
    check_distinct_labels(root, [c for c in classes for _ in found[c]], "image", "move their images into one folder",
                          "class folders")
    return found


def _refuse_series(root: Path, c: str, files: list[Path]) -> None:
    """A sub-folder of class ``c`` whose first two DICOM files are of one series is a 3D series: read as its
    slices, each would be a 2D image of the class. Series are listed in a CSV (one row per series folder)."""
    by_folder: dict[Path, list[Path]] = {}
    for p in files:
        by_folder.setdefault(p.parent, []).append(p)
    for folder, inside in sorted(by_folder.items()):
        if folder == root / c or len(inside) < 2:
            continue
        uid = dicom.series_uid(inside[0])
        if uid is not None and uid == dicom.series_uid(inside[1]):
            rel = folder.relative_to(root).as_posix()
            raise MedtrainError(f"{folder} holds a DICOM series ({len(inside)} files), a 3D volume: class folders "
                                f"take single 2D DICOM files; list series folders in a CSV of path,label[,split], "
                                f"e.g. write {root / 'labels.csv'} with a line {rel},{c} per series, and pass "
                                f"--data {shlex.quote(str(root))}")


def load_dicom_folder(root: str | os.PathLike, image_size: int | None = None, val_fraction: float = 0.1,
                      test_fraction: float = 0.2, seed: int = 0, folds: int = 0, fold: int | None = None,
                      store: str = "memory", skip_bad: bool = False, window=None, spacing=None,
                      data_dir: str | os.PathLike | None = None, tree: dict | None = None) -> Splits:
    """A folder of class folders of 2D DICOM files (:func:`dicom_tree`) as
    :func:`medtrain.data.volumes.load_volume_folder` loads a CSV of the same ``path,label`` rows (class folders
    sorted, their files sorted): the same images, classes, groups (each file's PatientID hash), split and ``extra``.
    ``window``: a CT window (preset name or ``(level, width)`` HU); decoded images are cached under ``data_dir``
    (default: the cache), never in a memory-mapped store (``store="mmap"`` is refused); ``skip_bad`` leaves out
    unreadable files, but not every file of a class. Other arguments as for :func:`medtrain.data.load_folder`."""
    root = Path(root)
    tree = tree if tree is not None else dicom_tree(root)  # (load_splits found it already: not walked twice)
    if tree is None:
        raise MedtrainError(f"{root} is not a folder of class folders holding DICOM files")
    if store == "mmap":
        raise MedtrainError(f"--store mmap: {root}, a folder of DICOM files, is not converted to a memory-mapped "
                            f"store: each decoded image is cached as one small uint8 file and held in memory; leave "
                            f"--store out")
    inputs = [p.relative_to(root).as_posix() for files in tree.values() for p in files]
    names = [c for c, files in tree.items() for _ in files]
    # read as the labels.csv listing them is: the one loader of DICOM entries (HU, window, patient groups, split)
    return load_volume_folder(root, csv=root, table=LabelTable(root / "labels.csv", inputs, names, None),
                              window=window, spacing=spacing, skip_bad=skip_bad, image_size=image_size, seed=seed,
                              val_fraction=val_fraction, test_fraction=test_fraction, cache_dir=data_dir, folds=folds,
                              fold=fold)
