"""Where a run's validation and test splits came from, as its loader records it: :attr:`medtrain.data.split.
SplitRecord.origin`, and ``metrics.json``'s data summary ``split_origin`` (:data:`ORIGIN_KEY`).

Each of val and test is one of:

* ``own``: as the data give it: an .npz's ``val_*``/``test_*`` arrays, a MedMNIST set's, a CSV's split column,
  images given in memory as a dict holding that split;
* ``drawn``: drawn from the other images by medtrain's seeded splitter with ``val_fraction`` (val) or
  ``test_fraction`` (test), and ``seed``;
* ``fold``: the fold cross-validation (``--folds``) holds out: val beside the data's own test split, test where
  medtrain deals the splits.

The value is ``own`` or ``drawn`` where both splits came alike, else ``"<test's> test, <val's> val"``: ``own test,
drawn val`` (images in memory given as train and test), ``drawn test, own val`` (given as train and val), ``own
test, fold val`` (cross-validation of data that come split), ``fold test, drawn val`` (cross-validation of data
medtrain splits), ``drawn test, fold val`` (cross-validation of images in memory whose test split was drawn).
A fraction is read only where it drew its split (:func:`origin_fractions`); the report shows only those.
"""
from __future__ import annotations

import re

OWN, DRAWN, FOLD = "own", "drawn", "fold"
ORIGIN_KEY = "split_origin"  #: the key of ``metrics.json``'s data summary that records it
FRACTIONS = {"val": "val_fraction", "test": "test_fraction"}  #: the setting that draws each split
_PAIR = re.compile(rf"({OWN}|{DRAWN}|{FOLD}) test, ({OWN}|{DRAWN}|{FOLD}) val")


def split_origin(val: str, test: str) -> str:
    """The recorded value of a val split that came from ``val`` and a test split from ``test`` (each :data:`OWN`,
    :data:`DRAWN` or :data:`FOLD`)."""
    return val if val == test else f"{test} test, {val} val"


def dealt_origin(given: bool, folded: bool) -> str:
    """The origin of a split :func:`medtrain.data.split.split_record` makes: of rows ``given`` their split (a split
    column, an array source's own splits) or not, ``folded`` for cross-validation or not."""
    if not folded:
        return OWN if given else DRAWN
    return split_origin(FOLD, OWN) if given else split_origin(DRAWN, FOLD)


def origin_parts(origin) -> dict | None:
    """``{"val": ..., "test": ...}`` of a recorded value; None for anything else (no value: a run recorded before)."""
    if origin in (OWN, DRAWN):
        return {"val": origin, "test": origin}
    m = _PAIR.fullmatch(origin) if isinstance(origin, str) else None
    return {"val": m[2], "test": m[1]} if m and m[1] != m[2] else None


def origin_fractions(origin) -> set[str] | None:
    """The settings (``val_fraction``, ``test_fraction``) that drew a split of a recorded ``origin``; None where
    ``origin`` is no recorded value."""
    parts = origin_parts(origin)
    return None if parts is None else {FRACTIONS[s] for s, o in parts.items() if o == DRAWN}
