"""Data sources, all loaded into :class:`medtrain.data.base.Splits` (uint8 tensors in memory)."""
from __future__ import annotations

from pathlib import Path

from medtrain.data.base import BINARY, MULTICLASS, MULTILABEL, ORDINAL, TASKS, Split, Splits
from medtrain.data.folder import load_csv, load_folder
from medtrain.data.medmnist import fetch, load_medmnist, load_npz, names
from medtrain.data.table import read_label_csv


def load_splits(config) -> Splits:
    """Load the data a :class:`medtrain.config.Config` names (``dataset`` or ``data``)."""
    if config.data:
        p = Path(config.data)
        kw = dict(image_size=config.image_size, val_fraction=config.val_fraction,
                  test_fraction=config.test_fraction, seed=config.seed)
        if p.suffix == ".npz":
            return load_npz(p)
        if _holds_volumes(p):
            from medtrain.data.volumes import load_volume_folder

            return load_volume_folder(p.parent if p.suffix.lower() == ".csv" else p,
                                      csv=p if p.suffix.lower() == ".csv" else None,
                                      spacing=_spacing(config.spacing), size=config.volume_size, window=config.window,
                                      skip_bad=config.skip_bad, seed=config.seed, val_fraction=config.val_fraction,
                                      test_fraction=config.test_fraction, cache_dir=config.data_dir)
        if p.suffix.lower() == ".csv":
            return load_csv(p, **kw)
        if p.is_dir():
            return load_folder(p, **kw)
        from medtrain.errors import MedtrainError

        raise MedtrainError(f"--data must be a .npz file, a .csv file or a folder: {p} is none of these")
    return load_medmnist(config.dataset, config.size, config.data_dir)


VOLUME_SUFFIXES = (".nii", ".gz", ".dcm")


def _holds_volumes(p: Path) -> bool:
    """A CSV listing NIfTI/DICOM entries, or a folder with a labels.csv next to such files."""
    if p.is_dir():
        if not (p / "labels.csv").is_file():
            return False
        p = p / "labels.csv"
    if p.suffix.lower() != ".csv" or not p.is_file():
        return False
    entry = read_label_csv(p).resolve()[0]
    return entry.suffix.lower() in VOLUME_SUFFIXES or entry.is_dir()


def _spacing(text):
    if text is None:
        return None
    vals = [float(v) for v in str(text).split(",")]
    return vals[0] if len(vals) == 1 else tuple(vals)


__all__ = ["Split", "Splits", "load_splits", "load_medmnist", "load_npz", "load_folder", "load_csv", "fetch",
           "names", "BINARY", "MULTICLASS", "MULTILABEL", "ORDINAL", "TASKS"]
