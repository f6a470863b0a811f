"""Which MedMNIST set an .npz is, by its name, split sizes and labels (:func:`identify`): the set as released
(named by its flag, printed beside the published rows) only where MedMNIST's own file name and ``n_samples`` say so;
a file only named like one (``pneumoniamnist_small.npz``) keeps the set's task and label names where its labels fit
them, but is the user's own data. ``medmnist.INFO`` (:func:`_info`) and the released sizes live here."""
from __future__ import annotations

from pathlib import Path

from medtrain.data.base import SPLITS
from medtrain.tasks import MULTILABEL

SIZES = (28, 64, 128, 224)
SIZES_3D = (28, 64)


def _info() -> dict:
    from medmnist import INFO

    return INFO


class NamedLikeMedmnistWarning(UserWarning):
    """An .npz named like a MedMNIST set but not that set as released (split sizes, name or labels): a 300/80/120
    ``pneumoniamnist_small.npz`` had been printed beside the published rows of the official 624-image test split."""


def named_like(stem: str) -> str | None:
    """The MedMNIST flag a file's stem starts with (``pneumoniamnist``, ``pneumoniamnist_64``,
    ``pneumoniamnist_small``: ``pneumoniamnist``), else None: where its labels fit, their task and names are that
    set's (a subset of OrganAMNIST keeps its lateral label names, which turn flips off)."""
    flag = stem.split("_")[0]
    return flag if flag in _info() else None


def medmnist_flag(stem: str) -> str | None:
    """The flag of a stem named as MedMNIST names its files: exactly a flag, or ``<flag>_<size>`` for a size the set
    is released in (:data:`SIZES`, :data:`SIZES_3D`); else None."""
    flag, _, size = stem.partition("_")
    if flag not in _info():
        return None
    return flag if not size or size in map(str, SIZES_3D if flag.endswith("3d") else SIZES) else None


def _labels_fit(info: dict, labels: list) -> bool:
    """Whether every split's labels (checked by :func:`_check_labels`) are of ``info``'s label set: as many columns
    for a multi-label set, else one class index per image within its classes."""
    k = len(info["label"])
    if info["task"] == MULTILABEL:
        return all(a.ndim == 2 and a.shape[1] == k for a in labels)
    return all(a.size == len(a) and (not a.size or (a.min() >= 0 and a.max() < k)) for a in labels)


def identify(path: Path, labels: list, name: str | None = None) -> tuple[str, dict | None, str | None]:
    """The name of the data in ``path`` (the run line's, ``metrics.json``'s ``dataset``, by which the published rows
    are looked up) and the ``medmnist.INFO`` entry its task and label names come from (None: inferred); ``labels``:
    its train, val and test label arrays, ``name``: the caller's (:func:`load_medmnist`'s flag).

    A MedMNIST set, named by its flag, only where its stem is one as MedMNIST names its files (:func:`medmnist_flag`)
    and its splits hold INFO's ``n_samples``; else the user's own data named by its whole stem (its file name where
    the stem is a flag), with no published rows. Named like a set (:func:`named_like`), it keeps the set's task and
    label names where its labels fit them; third, why it is not the set (a :class:`NamedLikeMedmnistWarning`)."""
    like = named_like(path.stem)
    info = _info()[like] if like else None
    sizes = [len(a) for a in labels]
    official = info is not None and medmnist_flag(path.stem) == like and sizes == [
        info["n_samples"][s] for s in SPLITS]
    if official:
        return name or like, info, None
    own = name if name and name not in _info() else own_data_name(path.stem, path.name)
    if info is None:
        return own, None, None
    fits = _labels_fit(info, labels)
    want, got = "/".join(str(info["n_samples"][s]) for s in SPLITS), "/".join(map(str, sizes))
    why = ([f"its splits are {got}, not {want}"] if got != want else
           [f"MedMNIST names its files {like}.npz or {like}_N.npz (N "
            f"{', '.join(map(str, SIZES_3D if like.endswith('3d') else SIZES[1:]))})"])
    if not fits:
        why.append(f"its labels are not {info['python_class']}'s {len(info['label'])} "
                   f"{'labels' if info['task'] == MULTILABEL else 'classes'}: read as its own")
    return own, info if fits else None, (f"{path.name}: named like {info['python_class']} but {'; '.join(why)}: "
                                         f"shown as {own}, without the published rows")


def own_data_name(name: str, written: str) -> str:
    """A user's folder or CSV named by ``name`` (its stem), unless that is a MedMNIST flag: then ``written`` (its file
    name, a folder's with a trailing ``/``), since the published rows are found by the data's name and a folder named
    ``breastmnist`` is not the set they were measured on."""
    return written if name in _info() else name

