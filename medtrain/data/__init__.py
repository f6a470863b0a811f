"""Data sources, all loaded into :class:`medtrain.data.base.Splits` (uint8 tensors, in memory or mapped
from a store in the cache: :mod:`medtrain.data.store`)."""
from __future__ import annotations

from pathlib import Path

from medtrain._io import path_kind

from medtrain.data.base import BINARY, MULTICLASS, MULTILABEL, ORDINAL, TASKS, Split, Splits
from medtrain.data.folder import load_csv, load_folder
from medtrain.data.geometry import parse_spacing
from medtrain.data.intensity import parse_window
from medtrain.data.medmnist import fetch, load_medmnist, load_npz, names
from medtrain.data.table import read_label_csv
from medtrain.errors import MedtrainError


def load_splits(config) -> Splits:
    """Load the data a :class:`medtrain.config.Config` names (``dataset`` or ``data``).

    ``spacing`` and ``window`` are checked first (a malformed value is an error whatever the data), and
    are refused for data they cannot apply to: anything but a folder or CSV of DICOM/NIfTI entries.
    """
    spacing = parse_spacing(getattr(config, "spacing", None))
    store = getattr(config, "store", "auto")
    window = parse_window(getattr(config, "window", None))
    if not config.data:
        _refuse_volume_settings(config, spacing, window, f"MedMNIST set {config.dataset}")
        return load_medmnist(config.dataset, config.size, config.data_dir, store=store)
    p = Path(config.data)
    suffix = p.suffix.lower()
    if path_kind(p) is None:
        raise MedtrainError(f"--data {p}: no such file or folder")
    if _holds_volumes(p):
        from medtrain.data.volumes import load_volume_folder

        is_csv = suffix == ".csv"
        return load_volume_folder(p.parent if is_csv else p, csv=p if is_csv else None, spacing=spacing,
                                  size=config.volume_size, window=window, skip_bad=config.skip_bad,
                                  seed=config.seed, val_fraction=config.val_fraction,
                                  test_fraction=config.test_fraction, cache_dir=config.data_dir)
    kw = dict(image_size=config.image_size, val_fraction=config.val_fraction,
              test_fraction=config.test_fraction, seed=config.seed, store=store)
    if suffix == ".npz":
        _refuse_volume_settings(config, spacing, window, f"{p}, a .npz of fixed-size arrays")
        return load_npz(p, store=store)
    if suffix == ".csv":
        _refuse_volume_settings(config, spacing, window, f"{p}, a CSV of 2D images")
        return load_csv(p, **kw)
    if path_kind(p) == "dir":
        _refuse_volume_settings(config, spacing, window, f"{p}, a folder of 2D images")
        return load_folder(p, **kw)
    raise MedtrainError(f"--data must be a .npz file, a .csv file or a folder: {p} is none of these")


def _refuse_volume_settings(config, spacing, window, what: str) -> None:
    """Spacing and CT windows act on DICOM/NIfTI only; elsewhere they would be silently ignored."""
    for key, value in (("spacing", spacing), ("window", window)):
        if value is not None:
            raise MedtrainError(f"--{key} {getattr(config, key)} applies to DICOM/NIfTI data only, not to {what}")


VOLUME_SUFFIXES = (".nii", ".gz", ".dcm")


def _holds_volumes(p: Path) -> bool:
    """A CSV listing NIfTI/DICOM entries, or a folder with a labels.csv next to such files."""
    if path_kind(p) == "dir":
        if path_kind(p / "labels.csv") != "file":
            return False
        p = p / "labels.csv"
    if p.suffix.lower() != ".csv" or path_kind(p) != "file":
        return False
    entry = read_label_csv(p).resolve()[0]
    return entry.suffix.lower() in VOLUME_SUFFIXES or path_kind(entry) == "dir"


__all__ = ["Split", "Splits", "load_splits", "load_medmnist", "load_npz", "load_folder", "load_csv", "fetch",
           "names", "BINARY", "MULTICLASS", "MULTILABEL", "ORDINAL", "TASKS"]
