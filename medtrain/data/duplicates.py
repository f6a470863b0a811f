"""Pixel-identical images within and across splits: a test image that is also a training image scores as
if seen (the MedMNIST v2 files hold some: PneumoniaMNIST has 8 images in both train and val; users' folders
hold copies under other names). Found by a digest of each image's bytes (as prepared: size, channels, uint8),
so a copy under another file name, format or folder is found; a resized or re-encoded (JPEG) copy is not.

:func:`find_duplicates` counts them for a run's ``metrics.json`` and report (``data.duplicates``) and
:func:`warn_duplicates` says so in one line when any image is in two splits, or copies disagree on their label;
:func:`seen_in` finds the images of other data (``medtrain eval --data``) among a run's own splits.

Where medtrain splits the data itself (a folder, a CSV without a split column, cross-validation folds), the
copies are kept in one split (:func:`copy_sets`, used by :mod:`medtrain.data.split`), as a patient's images are.
"""
from __future__ import annotations

import hashlib
import warnings
from typing import Optional

import numpy as np

#: (earlier, later) split pairs: an image of the later split found in the earlier one
PAIRS = (("train", "val"), ("train", "test"), ("val", "test"))
_NAMES = {"train": "training", "val": "validation", "test": "test"}
_PARTS = ("train", "val", "test")  #: split codes 0, 1, 2 (as medtrain.data.split.PARTS, which imports this module)


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
    of val identical to a training image, "train-test": ..., "val-test": ...}}`` for a :class:`~medtrain.data.Splits`,
    and, where some are, ``"other_label"``: images identical to an image of another label (in any split)."""
    names = ("train", "val", "test")
    digests = {name: image_digests(splits.split(name).images) for name in names}
    within = {name: len(d) - len(set(d)) for name, d in digests.items()}
    sets = {name: set(d) for name, d in digests.items()}
    across = {f"{a}-{b}": sum(x in sets[a] for x in digests[b]) for a, b in PAIRS}
    found = {"within": within, "across": across}
    labels: dict = {}
    for name in names:
        y = splits.split(name).labels
        for d, label in zip(digests[name], y.reshape(len(y), -1).tolist() if len(y) else []):
            labels.setdefault(d, []).append(tuple(label))
    other = sum(len(ys) for ys in labels.values() if len(set(ys)) > 1)
    if other:  # (only then: runs of data without such copies record what they always recorded)
        found["other_label"] = other
    return found


def _across(found: dict, unit: str) -> list[str]:
    """``found``'s images of one split pixel-identical to images of another, in words, one pair of splits each."""
    parts = []
    for a, b in PAIRS:
        n = found["across"].get(f"{a}-{b}", 0)
        if n:
            parts.append(f"{n} {_NAMES[b]} {unit}(s) are pixel-identical to {_NAMES[a]} {unit}s")
    return parts


def duplicates_line(found: dict, name: str, unit: str = "image") -> str | None:
    """One line saying which splits share images, or None where none do."""
    parts = _across(found, unit)
    said = [f"{'; '.join(parts)}: their scores are not of unseen images"] if parts else []
    if found.get("other_label"):
        said.append(f"{found['other_label']} {unit}(s) are pixel-identical copies of one another with different "
                    "labels (check those labels; where medtrain split the data, each set of copies is in one split)")
    if not said:
        return None
    return f"{name}: {'; '.join(said)} (data.duplicates in metrics.json)"


def warn_duplicates(found: dict, name: str, unit: str = "image") -> None:
    line = duplicates_line(found, name, unit)
    if line:
        warnings.warn(DuplicateImagesWarning(line), stacklevel=2)


def copy_sets(groups: Optional[list[str]], splits: Optional[list[str]], digests: Optional[list[bytes]]) -> tuple:
    """(the groups to deal, each row's unit or None): where some rows hold one image (equal ``digests``; a split
    column's test rows, which stay test, apart from the rest), without ``groups`` each row's set of copies
    (numbered by first row), with them the groups joined where patients share an image (each named by the
    least of its patients: patients that share none keep their own name). Without copies, ``(groups, None)``."""
    if digests is None:
        return groups, None
    keys = list(digests) if splits is None else [(d, s == "test") for d, s in zip(digests, splits)]
    ids: dict = {}
    same = np.array([ids.setdefault(k, len(ids)) for k in keys], np.int64)
    if len(ids) == len(keys):
        return groups, None
    if groups is None:
        return None, same
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    # union-find over "same patient" and "same image": the components of the graph joining each row to its patient
    # and to its image (rows 0..n-1, patients n.., images after them), scipy's rather than one written by hand
    names, patient = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    n, rows = len(keys), np.arange(len(keys))
    edges = (np.concatenate([rows, rows]), np.concatenate([n + patient, n + len(names) + same]))
    size = n + len(names) + len(ids)
    part = connected_components(coo_matrix((np.ones(2 * n), edges), shape=(size, size)), directed=False)[1][:n]
    least = {}
    for c, name in zip(part, names[patient]):
        least[c] = min(least.get(c, name), name)
    joined = [str(least[c]) for c in part]
    return (groups if joined == list(groups) else joined), None


def copy_set_labels(labels: np.ndarray, unit: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The label each set of copies is dealt by: its most common class (a tie: the lowest), or, for multi-label
    rows, its first row's labels."""
    if labels.ndim != 1:
        return labels[first]
    counts = np.zeros((len(first), int(labels.max()) + 1), np.int64)
    np.add.at(counts, (unit, labels.astype(np.int64)), 1)
    return counts.argmax(1).astype(labels.dtype)


def warn_not_kept(source, digests: list, error: Exception) -> None:
    """Say that copies were split as distinct images, since kept in one split they left a split without a class
    (``error``, the refusal): data that trained before are not refused for holding copies."""
    prefix = f"{source}: " if source is not None else ""
    warnings.warn(DuplicateImagesWarning(
        f"{prefix}{len(digests) - len(set(digests))} image(s) are pixel-identical copies of others, which could not "
        f"be kept in one split ({str(error).removeprefix(prefix)}); they were split as distinct images, so some "
        "scores are not of unseen images"), stacklevel=4)


def moved_note(record, was: Optional[dict] = None) -> Optional[str]:
    """Why the split ``record`` (a :class:`~medtrain.data.split.SplitRecord`) differs from one a run recorded (``was``:
    ``{input: split}`` of its ``splits.csv``; None: not known), where keeping copies in one split moved inputs, in
    words for an error; None where it did not (or ``was`` is not the split made without). Whether the older split
    put copies in two splits is said as it was: keeping one set of copies together re-deals the rest of the data
    too, so many inputs move where no copy straddled splits."""
    if record is None or record.ungrouped is None:
        return None
    if was is not None and was != _older(record):
        return None
    shared = record.ungrouped_shared
    old = (f"its old split put {shared} input(s) in another split than a pixel-identical copy" if shared else
           "in its old split no copy was in another split than its twin, but the other inputs moved with them")
    return (f"medtrain now keeps pixel-identical images (copies under other names) in one split, which moved "
            f"{int((record.ungrouped != record.assign).sum())} of the {len(record.inputs)} inputs of this data to "
            f"another split than the one a run trained before that change used ({old}); train the run again")


def _older(record) -> dict:
    """``{input: split}`` of the split ``record`` holds as medtrain made it before it kept copies together."""
    return {x: _PARTS[int(a)] for x, a in zip(record.inputs, record.ungrouped)}


def as_trained_before(splits, was: dict, name: str):
    """``splits`` as medtrain split the same data before it kept pixel-identical images in one split (the record's
    ``ungrouped``), where ``was`` (``{input: split}`` of a run's ``splits.csv``; ``name``: the run) is that split:
    the split the run trained on, so its eval, --resume and explain read it (it had been refused as if its data
    had changed, and told its split leaked where no copy straddled splits). Copies it holds in two splits are
    said in one line (:class:`DuplicateImagesWarning`), with their counts. None where ``was`` is another split."""
    record = splits.record
    if record is None or record.ungrouped is None or was != _older(record):
        return None
    import dataclasses

    import torch

    new = dataclasses.replace(record, assign=record.ungrouped, ungrouped=None, ungrouped_folds=None,
                              ungrouped_shared=0, folds=record.ungrouped_folds if record.folds is not None else None)
    at = np.zeros(len(record.assign), np.int64)  # each input's row in its part of ``splits``
    for i in range(len(_PARTS)):
        at[record.assign == i] = np.arange(int((record.assign == i).sum()))
    olds = [splits.split(p) for p in _PARTS]
    named = all(s.sources is not None for s in olds)
    parts = {}
    for j, part in enumerate(_PARTS):
        rows = np.flatnonzero(new.assign == j)
        came = record.assign[rows]  # the part of ``splits`` each comes from
        images = torch.empty((len(rows), *olds[0].images.shape[1:]), dtype=olds[0].images.dtype)
        labels = torch.empty((len(rows), *olds[0].labels.shape[1:]), dtype=olds[0].labels.dtype)
        for i, old in enumerate(olds):
            m = came == i
            if m.any():
                index = torch.from_numpy(at[rows[m]])
                images[torch.from_numpy(m)] = old.images[index]
                labels[torch.from_numpy(m)] = old.labels[index]
        sources = [olds[a].sources[k] for a, k in zip(came, at[rows])] if named else None
        parts[part] = type(olds[0])(images, labels, sources, new.part_groups(j))
    extra = {k: v for k, v in splits.extra.items() if k != "duplicates"}  # (counted again of the split read)
    out = dataclasses.replace(splits, record=new, extra=extra, **parts).validate()
    said = _across(find_duplicates(out), "volume" if len(out.spatial_shape) == 3 else "image")
    if said:
        warnings.warn(DuplicateImagesWarning(
            f"{name} was trained on the split medtrain made before it kept pixel-identical images in one split (its "
            f"splits.csv), and is read so: in it {'; '.join(said)}: their scores are not of unseen images; train "
            "the run again for a split without them"), stacklevel=3)
    return out


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
