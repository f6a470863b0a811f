"""Pixel-identical images within and across splits: a test image that is also a training image scores as
if seen (the MedMNIST v2 files hold some: PneumoniaMNIST has 8 images in both train and val; users' folders
hold copies under other names). Found by a digest of each image's bytes (as prepared: size, channels, uint8),
so a copy under another file name, format or folder is found; a resized or re-encoded (JPEG) copy is not.

:func:`find_duplicates` counts them for a run's ``metrics.json`` and report (``data.duplicates``) and
:func:`warn_duplicates` says so in one line when any image is in two splits; :func:`seen_in` finds the images
of other data (``medtrain eval --data``) among a run's own splits.
"""
from __future__ import annotations

import hashlib
import warnings

import numpy as np

#: (earlier, later) split pairs: an image of the later split found in the earlier one
PAIRS = (("train", "val"), ("train", "test"), ("val", "test"))
_NAMES = {"train": "training", "val": "validation", "test": "test"}


class DuplicateImagesWarning(UserWarning):
    """Images of one split are pixel-identical to images of another: their scores are not of unseen images."""


def image_digests(images) -> list[bytes]:
    """A 16-byte BLAKE2b digest of each image ``(N, C, *spatial)`` (its shape and bytes): equal digests, equal
    images. Rows are read one at a time, so a memory-mapped store is not loaded whole."""
    out = []
    for i in range(len(images)):
        x = np.ascontiguousarray(np.asarray(images[i]))
        h = hashlib.blake2b(digest_size=16)
        h.update(repr((x.dtype.str, x.shape)).encode())
        h.update(x.tobytes())
        out.append(h.digest())
    return out


def find_duplicates(splits) -> dict:
    """``{"within": {split: images identical to an earlier image of that split}, "across": {"train-val": images
    of val identical to a training image, "train-test": ..., "val-test": ...}}`` for a :class:`~medtrain.data.Splits`."""
    digests = {name: image_digests(splits.split(name).images) for name in ("train", "val", "test")}
    within = {name: len(d) - len(set(d)) for name, d in digests.items()}
    sets = {name: set(d) for name, d in digests.items()}
    across = {f"{a}-{b}": sum(x in sets[a] for x in digests[b]) for a, b in PAIRS}
    return {"within": within, "across": across}


def duplicates_line(found: dict, name: str, unit: str = "image") -> str | None:
    """One line saying which splits share images, or None where none do."""
    parts = []
    for a, b in PAIRS:
        n = found["across"].get(f"{a}-{b}", 0)
        if n:
            parts.append(f"{n} {_NAMES[b]} {unit}(s) are pixel-identical to {_NAMES[a]} {unit}s")
    if not parts:
        return None
    return (f"{name}: {'; '.join(parts)}: their scores are not of unseen images (data.duplicates in "
            "metrics.json)")


def warn_duplicates(found: dict, name: str, unit: str = "image") -> None:
    line = duplicates_line(found, name, unit)
    if line:
        warnings.warn(DuplicateImagesWarning(line), stacklevel=2)


def seen_in(images, splits, names=("train", "val")) -> dict:
    """How many of ``images`` are pixel-identical to an image of each of ``splits``' ``names``, and ``any``: how
    many to an image of one of them (an image in both splits counts once there)."""
    mine = image_digests(images)
    out, found = {}, np.zeros(len(mine), bool)
    for name in names:
        theirs = set(image_digests(splits.split(name).images))
        hit = np.array([x in theirs for x in mine], bool)
        out[name], found = int(hit.sum()), found | hit
    out["any"] = int(found.sum())
    return out
