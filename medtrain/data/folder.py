"""Images on disk: a folder with one sub-folder per class, or a CSV of ``path,label[,split]``.

Images are decoded once into a uint8 tensor. Without a split column, train / val / test are a seeded,
stratified split (scikit-learn ``train_test_split``).
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from medtrain.data.base import Split, Splits
from medtrain.tasks import BINARY, MULTICLASS
from medtrain.errors import MedtrainError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _decode(paths: list[Path], image_size: int | None) -> torch.Tensor:
    """Decode images to (N, C, H, W) uint8; grey unless some image has colour."""
    imgs = []
    for p in paths:
        try:
            with Image.open(p) as im:
                im.load()
                imgs.append(im.copy())
        except (OSError, UnidentifiedImageError) as e:
            raise MedtrainError(f"cannot read image {p}: {e}") from None
    rgb = any(im.mode not in ("L", "I", "I;16", "1", "LA") for im in imgs)
    arrays = []
    first = None
    for p, im in zip(paths, imgs):
        im = im.convert("RGB" if rgb else "L")
        if image_size:
            im = im.resize((image_size, image_size), Image.BILINEAR)
        a = np.asarray(im, dtype=np.uint8)
        if first is None:
            first = (p, a.shape)
        elif a.shape != first[1]:
            raise MedtrainError(f"images have mixed sizes: {first[0]} is {first[1][1]}x{first[1][0]}, "
                                f"{p} is {a.shape[1]}x{a.shape[0]}; pass --image-size N to resize them")
        arrays.append(a if rgb else a[..., None])
    if not arrays:
        raise MedtrainError("no images found")
    return torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy())


def _stratified(labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int) -> dict:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    counts = np.bincount(labels)
    strat = labels if counts[counts > 0].min() >= 3 else None
    rest, test = (idx, idx[:0]) if test_fraction == 0 else train_test_split(
        idx, test_size=test_fraction, random_state=seed, stratify=strat)
    strat_rest = labels[rest] if strat is not None else None
    train, val = train_test_split(rest, test_size=val_fraction / (1 - test_fraction), random_state=seed,
                                  stratify=strat_rest)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def _build(name: str, paths: list[Path], labels: np.ndarray, class_names: list[str], split_of: dict | None,
           image_size, val_fraction, test_fraction, seed, source) -> Splits:
    images = _decode(paths, image_size)
    for i, c in enumerate(class_names):
        if not np.any(labels == i):
            raise MedtrainError(f"class '{c}' has no images")
    if split_of is None:
        split_of = _stratified(labels, val_fraction, test_fraction, seed)
    parts = {s: Split(images[torch.as_tensor(ix, dtype=torch.long)], torch.as_tensor(labels[ix], dtype=torch.long))
             for s, ix in split_of.items()}
    task = BINARY if len(class_names) == 2 else MULTICLASS
    return Splits(name=name, task=task, label_names={str(i): c for i, c in enumerate(class_names)},
                  source=str(source), **parts).validate()


def load_folder(root: str | os.PathLike, image_size: int | None = None, val_fraction: float = 0.1,
                test_fraction: float = 0.2, seed: int = 0) -> Splits:
    """A folder with one sub-folder of images per class (class names = sub-folder names, sorted)."""
    root = Path(root)
    if not root.is_dir():
        raise MedtrainError(f"data folder not found: {root}")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise MedtrainError(f"{root} must hold one sub-folder per class (found {len(classes)})")
    paths, labels = [], []
    for i, c in enumerate(classes):
        files = sorted(p for p in (root / c).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise MedtrainError(f"class '{c}' has no images in {root / c}")
        paths += files
        labels += [i] * len(files)
    return _build(root.name, paths, np.array(labels), classes, None, image_size, val_fraction, test_fraction,
                  seed, root)


def load_csv(path: str | os.PathLike, image_size: int | None = None, val_fraction: float = 0.1,
             test_fraction: float = 0.2, seed: int = 0) -> Splits:
    """A CSV with columns ``path,label`` and optionally ``split`` (train/val/test); paths relative to it."""
    path = Path(path)
    if not path.is_file():
        raise MedtrainError(f"CSV file not found: {path}")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"path", "label"} <= set(rows[0]):
        raise MedtrainError(f"{path} must have a header with columns path,label[,split]")
    class_names = sorted({r["label"] for r in rows}, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
    index = {c: i for i, c in enumerate(class_names)}
    paths = [(path.parent / r["path"]) for r in rows]
    for p in paths:
        if not p.is_file():
            raise MedtrainError(f"{path}: image not found: {p}")
    labels = np.array([index[r["label"]] for r in rows])
    split_of = None
    if "split" in rows[0]:
        splits = [r["split"].strip().lower() for r in rows]
        bad = sorted(set(splits) - {"train", "val", "test"})
        if bad:
            raise MedtrainError(f"{path}: split must be train, val or test, found {', '.join(bad)}")
        split_of = {s: np.array([i for i, x in enumerate(splits) if x == s], dtype=np.int64)
                    for s in ("train", "val", "test")}
    return _build(path.stem, paths, labels, class_names, split_of, image_size, val_fraction, test_fraction,
                  seed, path)
