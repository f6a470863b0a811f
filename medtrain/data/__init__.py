"""Data sources, all loaded into :class:`medtrain.data.base.Splits` (uint8 tensors, in memory or mapped
from a store in the cache: :mod:`medtrain.data.store`)."""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import torch

from medtrain._io import path_kind, why_not_read
from medtrain._io.cache import VOLUMES, folder as cache_folder

from medtrain.data._origin import FOLD, ORIGIN_KEY, OWN, origin_fractions, origin_parts, split_origin
from medtrain.data.arrays import arrays_origin
from medtrain.data.base import BINARY, MULTICLASS, MULTILABEL, ORDINAL, SPLITS, TASKS, Split, Splits
from medtrain.data.folder import load_csv, load_folder
from medtrain.data.geometry import parse_spacing
from medtrain.data.intensity import parse_window
from medtrain.data.medmnist import fetch, load_medmnist, load_npz, names
from medtrain.data.split import split_record
from medtrain.data.store import local_processes
from medtrain.data.table import LabelTable, read_label_csv
from medtrain.errors import MedtrainError


def load_splits(config, processes: int | None = None) -> Splits:
    """Load the data a :class:`medtrain.config.Config` names (``dataset`` or ``data``).

    ``spacing`` and ``window`` are checked first (a malformed value is an error whatever the data), and
    are refused for data they cannot apply to: anything but a folder or CSV of DICOM/NIfTI entries.
    """
    spacing = parse_spacing(getattr(config, "spacing", None))
    store = getattr(config, "store", "auto")
    window = parse_window(getattr(config, "window", None))
    folds, fold = getattr(config, "folds", 0), getattr(config, "fold", None)
    if folds and fold is None:
        raise MedtrainError(f"folds {folds} needs the fold to hold out (0..{folds - 1}); `medtrain train "
                            f"--folds {folds}` (or `medtrain.crossval.cross_validate(config)`) runs every fold")
    group_column = getattr(config, "group_column", None)
    data_dir = getattr(config, "data_dir", None)  # where a memory-mapped store goes (None: the default cache)
    # processes: the training processes of this machine, each holding its own copy of in-memory data (store auto
    # counts them all; Lightning's launcher sets no LOCAL_WORLD_SIZE), passed by training (medtrain.api); a command
    # that only reads a run's data (eval, explain, the advisor) is one process, whatever devices the run trained on
    processes = local_processes() if processes is None else processes
    if not config.data:
        _refuse_volume_settings(config, spacing, window, f"MedMNIST set {config.dataset}")
        _refuse_group_column(group_column, f"MedMNIST set {config.dataset}")
        _ignore_image_size(config)
        return official_splits(load_medmnist(config.dataset, config.size, config.data_dir, store=store,
                                             processes=processes), folds, fold, config.seed)
    p = Path(config.data)
    suffix = p.suffix.lower()
    if path_kind(p) is None:
        raise MedtrainError(f"--data {p}: {why_not_read(p)}")
    table = _label_table(p, group_column)  # read once: to tell volumes, then by the loader
    if _holds_volumes(p, group_column, table):
        from medtrain.data.volumes import load_volume_folder

        _ignore_store(config, table)
        is_csv = suffix == ".csv"
        return load_volume_folder(p.parent if is_csv else p, csv=p if is_csv else None, spacing=spacing,
                                  size=config.volume_size, window=window, skip_bad=config.skip_bad,
                                  image_size=config.image_size,
                                  seed=config.seed, val_fraction=config.val_fraction,
                                  test_fraction=config.test_fraction, cache_dir=config.data_dir,
                                  group_column=group_column, folds=folds, fold=fold, table=table)
    kw = dict(image_size=config.image_size, val_fraction=config.val_fraction,
              test_fraction=config.test_fraction, seed=config.seed, folds=folds, fold=fold, store=store,
              data_dir=data_dir)
    if suffix == ".npz":
        _refuse_volume_settings(config, spacing, window, f"{p}, a .npz of fixed-size arrays")
        _refuse_group_column(group_column, f"{p}, a .npz of fixed-size arrays")
        _ignore_image_size(config)
        return official_splits(load_npz(p, store=store, data_dir=data_dir, processes=processes), folds, fold,
                               config.seed, arrays_origin(p))
    if suffix == ".csv":
        _refuse_volume_settings(config, spacing, window, f"{p}, a CSV of 2D images")
        _ignore_volume_size(config, f"{p} lists 2D images")
        return load_csv(p, group_column=group_column, skip_bad=config.skip_bad, table=table, processes=processes, **kw)
    if path_kind(p) == "dir":
        from medtrain.data._dicom_folder import dicom_tree, load_dicom_folder

        tree = dicom_tree(p)
        if tree is not None:  # class folders of 2D DICOM files: read as their labels.csv would be
            _refuse_group_column(group_column, f"{p}, a folder of DICOM files without a CSV (each file is grouped by "
                                               f"its PatientID)")
            return load_dicom_folder(p, skip_bad=config.skip_bad, window=window, spacing=spacing, tree=tree, **kw)
        _refuse_volume_settings(config, spacing, window, f"{p}, a folder of 2D images")
        _ignore_volume_size(config, f"{p} holds 2D images")
        _refuse_group_column(group_column, f"{p}, a folder of images without a CSV")
        return load_folder(p, skip_bad=config.skip_bad, processes=processes, **kw)
    raise MedtrainError(f"--data must be a .npz file, a .csv file or a folder: {p} is none of these")


def _refuse_volume_settings(config, spacing, window, what: str) -> None:
    """Spacing and CT windows act on DICOM/NIfTI only; elsewhere they would be silently ignored."""
    for key, value in (("spacing", spacing), ("window", window)):
        if value is not None:
            raise MedtrainError(f"--{key} {getattr(config, key)} applies to DICOM/NIfTI data only, not to {what}")


class StoreNotAppliedWarning(UserWarning):
    """``store: mmap`` on DICOM/NIfTI data, which are not converted to a store (:mod:`medtrain.data.store`)."""


def store_not_applied(config, table: LabelTable | None = None) -> str | None:
    """Why ``config``'s ``store: mmap`` does not apply, where its data are DICOM/NIfTI entries (a CSV or a folder
    with a labels.csv): each entry's decoded uint8 image is cached as one small file and the data are held in
    memory, so ``mmap`` had been ignored without a word (a user walkthrough: ``--store mmap`` made no store).
    None where it applies, or the store is ``auto`` or ``memory`` (what is done). ``table``: the data's label CSV
    where it has been read (:func:`_label_table`)."""
    if getattr(config, "store", "auto") != "mmap" or not config.data:
        return None
    p = Path(config.data)
    if path_kind(p) is None or not _holds_volumes(p, getattr(config, "group_column", None), table):
        return None
    where = cache_folder(VOLUMES, config.data_dir)
    kind = "CSV" if p.suffix.lower() == ".csv" else "folder"
    return (f"{p}, a {kind} of DICOM/NIfTI entries, is not converted to a memory-mapped store: its decoded images "
            f"are cached as one small uint8 file per entry in {where} and held in memory")


def _ignore_store(config, table: LabelTable | None = None) -> None:
    """A new run given ``--store mmap`` on DICOM/NIfTI data is refused where the setting is typed
    (:func:`medtrain.config.checks.check_typed_for_a_new_run`); a run saved with it (by an older medtrain, which
    ignored it) is read as it was trained, with a one-line warning, so that eval, predict and explain still
    read it."""
    why = store_not_applied(config, table)
    if why is not None:
        warnings.warn(StoreNotAppliedWarning(f"store mmap not applied: {why}"), stacklevel=3)


class ImageSizeNotAppliedWarning(UserWarning):
    """An ``image_size`` (or ``volume_size``) that the data do not read (a MedMNIST set, a .npz: their arrays come at
    their size)."""


def at_their_size(config) -> tuple[str, str] | None:
    """(what the data are, how to get another size) where ``config``'s data come at their size, so that
    ``image_size`` (which resizes the images read from files) does not apply: a MedMNIST set, a .npz; else None."""
    if not config.data:
        from medtrain.data._medmnist_names import SIZES, SIZES_3D

        sizes = SIZES_3D if str(config.dataset).endswith("3d") else SIZES
        return f"MedMNIST set {config.dataset}", f"its --size picks {', '.join(map(str, sizes[:-1]))} or {sizes[-1]} pixels"
    p = Path(config.data)
    if p.suffix.lower() == ".npz" and path_kind(p) != "dir":
        return f"{p}, a .npz of fixed-size arrays", "resize them before saving"
    return None


def not_volumes(config) -> str | None:
    """What ``config``'s data are where ``volume_size`` (which resizes DICOM/NIfTI volumes as they are read) does
    not apply to them: a MedMNIST set or a .npz (at their size), a CSV or folder of 2D images; None where the data
    are DICOM/NIfTI entries (a walk: ``--volume-size 16`` on a .npz of volumes trained at 28 and recorded 16)."""
    what = at_their_size(config)
    if what is not None:
        return f"{what[0]} ({what[1]})"
    p = Path(config.data)
    kind = path_kind(p)
    if kind is None:  # missing: its loader says so
        return None
    if p.suffix.lower() == ".csv" or kind == "dir" and (p / "labels.csv").is_file():
        return None if _holds_volumes(p, getattr(config, "group_column", None)) else f"{p}, a table of 2D images"
    return f"{p}, a folder of 2D images" if kind == "dir" else None


def _ignore_image_size(config) -> None:
    """A new run that is given --image-size on data at their size is refused where the setting is typed
    (:func:`medtrain.config.checks.check_typed_for_a_new_run`: a walkthrough's --image-size 32 had trained at 28
    pixels without a word and been recorded as 32). A run saved by an older medtrain holds that ``image_size``
    and was trained at the data's size: it is read as it was trained, ignoring it, with a one-line warning (it
    had been refused here, naming a flag nobody typed, and the run could no longer be evaluated or explained)."""
    size = getattr(config, "image_size", None)
    what = at_their_size(config)
    if size is not None and what is not None:
        warnings.warn(ImageSizeNotAppliedWarning(
            f"image_size {size} not applied: {what[0]} comes at its size (image_size resizes image folders and "
            "CSVs only); read as it is"), stacklevel=3)
    if what is not None:
        _ignore_volume_size(config, f"{what[0]} comes at its size")


def _ignore_volume_size(config, what: str) -> None:
    """A ``volume_size`` other than the default from a config file, on data that are no DICOM/NIfTI volumes, said not
    applied in one line (typed, it is refused): it had been recorded and not read (a claims walk)."""
    volume = getattr(config, "volume_size", None)
    default = {f.name: f.default for f in dataclasses.fields(config)}.get("volume_size") \
        if dataclasses.is_dataclass(config) else volume
    if volume != default:
        warnings.warn(ImageSizeNotAppliedWarning(
            f"volume_size {volume} not applied: {what} (volume_size resizes DICOM/NIfTI volumes only); read as "
            "they are"), stacklevel=4)


def _refuse_group_column(group_column, what: str) -> None:
    if group_column is not None:
        raise MedtrainError(f"--group-column {group_column} applies to CSV data only, not to {what}")


def official_splits(splits: Splits, folds: int = 0, fold: int | None = None, seed: int = 0,
                    origin: str | None = OWN) -> Splits:
    """Data that come split (MedMNIST, a .npz): the record of its splits (inputs named ``train/17``...)
    and, with ``folds``, fold ``fold`` of train+val held out as validation (the test split untouched), each
    part's images with those names as sources (without folds: none, so files name an image by its index).
    ``origin``: where the file's val and test splits came from (:mod:`medtrain.data._origin`): the data's own, or,
    for images given in memory, as :func:`medtrain.data.arrays.arrays_origin` says (None: not known, not recorded)."""
    names = [s for s in SPLITS for _ in range(len(splits.split(s)))]
    inputs = [f"{s}/{i}" for s in SPLITS for i in range(len(splits.split(s)))]
    labels = torch.cat([splits.split(s).labels for s in SPLITS]).numpy()
    record = split_record(inputs, labels, names, 0.1, 0.2, seed, None, folds, fold, label_names=splits.label_names,
                          source=splits.source or splits.name)
    given = origin_parts(origin)
    record.origin = None if given is None else split_origin(FOLD if record.folds is not None else given["val"],
                                                            given["test"])
    if not folds:
        return dataclasses.replace(splits, record=record)
    images = torch.cat([splits.split(s).images for s in SPLITS])
    assign = torch.from_numpy(record.assign)
    labels_t = torch.from_numpy(labels)
    # each image named as splits.csv names it: the fold's val split is drawn from train+val, so the index in it
    # (what a predictions file writes without sources) named no image
    parts = {s: Split(images[assign == i], labels_t[assign == i],
                      [x for x, a in zip(inputs, record.assign) if a == i]) for i, s in enumerate(SPLITS)}
    return dataclasses.replace(splits, record=record, **parts).validate()


def _label_table(p: Path, group_column: str | None = None) -> LabelTable | None:
    """The label CSV of the data at ``p`` (the CSV, or a folder's labels.csv), read; None where there is none."""
    if path_kind(p) == "dir":
        if path_kind(p / "labels.csv") != "file":
            return None
        p = p / "labels.csv"
    if p.suffix.lower() != ".csv" or path_kind(p) != "file":
        return None
    return read_label_csv(p, group_column)


def _holds_volumes(p: Path, group_column: str | None = None, table: LabelTable | None = None) -> bool:
    """A CSV listing DICOM files or series folders or NIfTI volumes (or a folder with such a labels.csv),
    rather than 2D image files; a CSV mixing the two kinds is refused, since one reader must read them all.
    That is: the data :func:`medtrain.data.volumes.load_volume_folder` reads from a CSV. Class folders of 2D DICOM
    files (no CSV) are not, though they are DICOM: :func:`medtrain.data._dicom_folder.dicom_tree` tells them, and
    their loader refuses ``--store mmap`` itself. ``table``: the data's :func:`_label_table`, where it has been
    read (:func:`load_splits` hands it on to the loader: the CSV is read once per load)."""
    table = table if table is not None else _label_table(p, group_column)
    if table is None:
        return False
    from medtrain.data.dicom import is_dicom_file
    from medtrain.data.nifti import is_nifti

    first: dict[bool, str] = {}
    for entry in table.resolve():
        kind = path_kind(entry)
        volume = kind == "dir" or is_nifti(entry) or is_dicom_file(entry)  # a missing file: by its suffix
        if kind is None and not volume:  # missing, of no telling name: the reader names it (or --skip-bad)
            continue
        first.setdefault(volume, str(entry))
        if len(first) == 2:
            raise MedtrainError(f"{table.source} mixes image files ({first[False]}) and DICOM/NIfTI entries "
                                f"({first[True]}); "
                                f"use one kind per data set")
    return first.get(True) is not None


__all__ = ["Split", "Splits", "load_splits", "load_medmnist", "load_npz", "load_folder", "load_csv", "fetch",
           "names", "BINARY", "MULTICLASS", "MULTILABEL", "ORDINAL", "TASKS",
           # where a run's val and test splits came from (medtrain.data._origin), read by reports, rundir, probe
           "FOLD", "ORIGIN_KEY", "OWN", "origin_fractions", "origin_parts"]
