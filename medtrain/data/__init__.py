"""Data sources, all loaded into :class:`medtrain.data.base.Splits` (uint8 tensors in memory)."""
from __future__ import annotations

from pathlib import Path

from medtrain.data.base import BINARY, MULTICLASS, MULTILABEL, ORDINAL, TASKS, Split, Splits
from medtrain.data.folder import load_csv, load_folder
from medtrain.data.medmnist import fetch, load_medmnist, load_npz, names


def load_splits(config) -> Splits:
    """Load the data a :class:`medtrain.config.Config` names (``dataset`` or ``data``)."""
    if config.data:
        p = Path(config.data)
        kw = dict(image_size=config.image_size, val_fraction=config.val_fraction,
                  test_fraction=config.test_fraction, seed=config.seed)
        if p.suffix == ".npz":
            return load_npz(p)
        if p.suffix.lower() == ".csv":
            return load_csv(p, **kw)
        if p.is_dir():
            return load_folder(p, **kw)
        from medtrain.errors import MedtrainError

        raise MedtrainError(f"--data must be a .npz file, a .csv file or a folder: {p} is none of these")
    return load_medmnist(config.dataset, config.size, config.data_dir)


__all__ = ["Split", "Splits", "load_splits", "load_medmnist", "load_npz", "load_folder", "load_csv", "fetch",
           "names", "BINARY", "MULTICLASS", "MULTILABEL", "ORDINAL", "TASKS"]
