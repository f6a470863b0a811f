"""What predict, explain and ``eval --data`` say of the volumes they read: those whose field of view the run's
``--volume-size`` at its ``--spacing`` cuts (:class:`~medtrain.data.geometry.CutVolumeWarning`) and those windowed
though they hold no air (:class:`~medtrain.data.nifti.NoAirWarning`), each in one line for the command, with their
count and the first, as a data set's loader says them (:func:`~medtrain.data.geometry.cut_note`,
:func:`~medtrain.data.nifti.no_air_note`). Each input had been said in a line of its own: 200 scans predicted, 200
lines.

``with notes_once(): ...`` collects what :func:`medtrain.data.volumes.load_entry` (called without ``facts``) reads
inside it, and says it when the block ends without an error (an error is said alone); outside one, an input is said
on its own as before.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Optional

from medtrain.data.geometry import CUT_SAID, CutVolumeWarning, cut_alone, cut_note, cut_one, cut_share
from medtrain.data.nifti import NoAirWarning, no_air_note


class _Notes:
    def __init__(self) -> None:
        self.volumes: dict = {}  #: (spacing, size) -> [(path, extent in mm, or None: not cut)] of each volume read
        self.windowed: dict = {}  #: window -> [(path, (min, max), or None: it has air)] of each volume so windowed

    def say(self, source) -> None:
        prefix = f"{source}: " if source is not None else ""
        for (spacing, size), read in self.volumes.items():
            cut = [(p, e) for p, e in read if e is not None]
            if not cut:
                continue
            text = (cut_alone(*cut[0], spacing, size) if len(read) == 1 else
                    cut_note(len(cut), len(read), spacing, size, cut_one(*cut[0], spacing, size), "the run's "))
            warnings.warn(CutVolumeWarning(prefix + text), stacklevel=4)
        for window, read in self.windowed.items():
            no_air = [(p, r) for p, r in read if r is not None]
            if no_air:
                warnings.warn(NoAirWarning(prefix + no_air_note(len(no_air), len(read), window, no_air[0])),
                              stacklevel=4)


_ACTIVE: ContextVar[Optional[_Notes]] = ContextVar("medtrain_volume_notes", default=None)


@contextmanager
def notes_once(source=None) -> Iterator[None]:
    """Say the volumes read inside the block that are cut, or windowed without air, in one line each for all of
    them (``source``, given: the data they came from, named first as a data set's line names its CSV) once it
    ends; a block inside another says nothing of its own (the outer one says all)."""
    if _ACTIVE.get() is not None:
        yield
        return
    notes = _Notes()
    token = _ACTIVE.set(notes)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
    notes.say(source)


def active() -> bool:
    """Whether a :func:`notes_once` block is open: the volumes are a finished run's inputs (predict, explain, eval
    --data), read with that run's settings, not a data set being trained on."""
    return _ACTIVE.get() is not None


def collected(path, seen: dict, spacing, size, window) -> bool:
    """Keep a volume read by :func:`medtrain.data.volumes.load_entry` (``seen``: its ``extent`` in mm and its
    ``no_air`` value range, where it has those) for the :func:`notes_once` block around it, if there is one: then
    True, and it is not said on its own."""
    notes = _ACTIVE.get()
    if notes is None:
        return False
    extent = seen.get("extent")
    if extent is not None:  # a volume (a 2D image has no extent and is never cut)
        cut = spacing is not None and cut_share(extent, spacing, size) > CUT_SAID
        notes.volumes.setdefault((spacing, tuple(size)), []).append((path, list(extent) if cut else None))
        if window is not None:
            notes.windowed.setdefault(tuple(window), []).append((path, seen.get("no_air") or None))
    return True
