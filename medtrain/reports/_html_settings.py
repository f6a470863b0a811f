"""The settings table of a run's report (and of a cross-validation's): the settings as the run applied them (an
``auto`` with what it became), less those its data did not read: ``val_fraction`` and ``test_fraction`` where the
data came split (as the run recorded where its val and test came from, or a guess from its settings for a run
recorded before), with the sentence that says why, ``size`` for one's own data, ``volume_size`` for 2D images.
:mod:`medtrain.reports.html` renders the tables from these."""
from __future__ import annotations

from pathlib import Path

from medtrain._io.cache import ARRAYS
from medtrain.data import FOLD, ORIGIN_KEY, OWN, origin_fractions, origin_parts
from medtrain.data.arrays import FILE as ARRAYS_FILE


def fractions_read(config: dict, metrics: dict | None = None) -> set[str]:
    """Which of ``val_fraction`` and ``test_fraction`` drew the run's splits: as its loader recorded where val and
    test came from (``metrics``' data summary ``split_origin``, :mod:`medtrain.data._origin`): images given in
    memory as train and test have val drawn (``val_fraction``) and their own test split, cross-validation of a
    folder holds a fold out as test (``test_fraction`` unread). A run written before that was recorded: both, or
    none where :func:`brings_own_split` guesses from ``config`` that the data come split."""
    recorded = _recorded_fractions(metrics)
    if recorded is not None:
        return recorded
    return set() if brings_own_split(config) else {"val_fraction", "test_fraction"}


def _recorded_fractions(metrics: dict | None) -> set[str] | None:
    """The fractions that drew a split as ``metrics``' data summary records (None where it records nothing)."""
    data = (metrics or {}).get("data")
    return origin_fractions(data.get(ORIGIN_KEY)) if isinstance(data, dict) else None


def brings_own_split(config: dict, metrics: dict | None = None) -> bool:
    """Whether the run's data come split, so that ``val_fraction`` and ``test_fraction`` are not read. Where
    ``metrics`` (``metrics.json``) records where the splits came from, as it says (:func:`fractions_read`).

    Else (a run written before that was recorded) a guess from the settings: a MedMNIST set (``dataset``, no
    ``data``) or an ``.npz`` (``data.official_splits``: its train/val/test arrays, or folds of its train+val), except
    the ``.npz`` medtrain writes for images given in memory (``<cache>/arrays/<sha256>/arrays.npz``,
    :mod:`medtrain.data.arrays`), whose missing splits were drawn with those fractions. The guess misses data that
    bring their own split by other means, whose fractions a table then shows, though not read: a CSV with a split
    column naming train, val and test, and images given in memory with all three splits."""
    recorded = _recorded_fractions(metrics)
    if recorded is not None:
        return not recorded
    data = str(config.get("data") or "")
    if not data:
        return bool(config.get("dataset"))
    p = Path(data)
    return p.suffix.lower() == ".npz" and not (p.name == ARRAYS_FILE and p.parent.parent.name == ARRAYS)


def _own_source(config: dict, split: str | None) -> str:
    """Where data that come split hold their ``split`` split (None: all three)."""
    data = str(config.get("data") or "")
    p = Path(data)
    if not data:
        return "the MedMNIST set's official " + (f"{split} split" if split else "train/val/test split")
    if p.name == ARRAYS_FILE and p.parent.parent.name == ARRAYS:
        return f"the {split or 'train, val and test'} images given in memory"
    if p.suffix.lower() == ".npz":
        return f"the .npz's {split or 'train, val and test'} arrays"
    return "the CSV's split column" if p.suffix.lower() in (".csv", ".tsv") else "as the data give it"


def fractions_note(config: dict, metrics: dict | None = None) -> str | None:
    """Why a run's settings table leaves out ``val_fraction``/``test_fraction`` (:func:`settings_shown`), from where
    its splits came (``split_origin``; a run recorded before: :func:`brings_own_split`'s guess): ``test_fraction is
    not shown: the test split is the data's own (the test images given in memory), and test_fraction is not
    read``. None where both
    are shown. (Every run had said 'the .npz's train, val and test arrays', a CSV's split column and a dict's too.)"""
    hidden = [s for s, key in (("val", "val_fraction"), ("test", "test_fraction"))
              if key in config and key not in fractions_read(config, metrics)]
    if not hidden or not (config.get("data") or config.get("dataset")):
        return None
    parts = origin_parts(((metrics or {}).get("data") or {}).get(ORIGIN_KEY)) or {
        "val": FOLD if config.get("folds") else OWN, "test": OWN}
    keys = " and ".join(f"{s}_fraction" for s in hidden)
    if len(hidden) == 2 and parts["val"] == parts["test"] == OWN:
        why = f"these data come split ({_own_source(config, None)})"
    else:
        said = {"val": "validation", "test": "the test split"}
        why = "; ".join(f"{said[s]} is the data's own ({_own_source(config, s)})" if parts[s] == OWN else
                        "validation is a fold of train+val" if s == "val" else
                        "the test split is the fold held out (--folds)" for s in hidden)
    return f"{keys} {'are' if len(hidden) == 2 else 'is'} not shown: {why}, and {'the fractions are' if len(hidden) == 2 else keys + ' is'} not read."


def settings_shown(config: dict, metrics: dict | None = None, unread=()) -> dict:
    """What a configuration table (a run's report, a cross-validation's) shows of ``config``: the settings as the
    run applied them, less those these data did not read (``config.yaml`` keeps every key as given).

    An ``auto`` that training resolved reads with what it became (``precision = auto (bf16-mixed)``, ``accelerator
    = auto (cpu)``, ``flip = auto (off)``: ``metrics``' ``precision``, ``device`` and ``choices``, as
    ``metrics.json`` holds them). Left out: ``size`` where ``data`` is set (it picks a MedMNIST set's release,
    28/64/128/224, not read for one's own data: a 224-px folder run's report had shown "size = 28");
    ``val_fraction``/``test_fraction`` where they drew no split (:func:`fractions_read`: the data's own splits);
    ``volume_size`` where ``metrics``' data summary gives the images' shape as 2D ``(C, H, W)``; ``unread``, the
    settings the run's procedure never read (a linear probe's, :data:`medtrain.config.checks.PROBE_UNREAD`, handed on
    by the report's writer, :func:`medtrain._run_report.write_report`: a probe's report had listed epochs, lr, augment
    and schedule)."""
    metrics = metrics or {}
    shown = dict(config)
    chosen = chosen_on_auto(metrics)
    for key, value in applied_autos(metrics).items():
        if value in (None, "", "auto"):
            continue
        if shown.get(key) == "auto" or (key in chosen and str(shown.get(key)) == str(value)):
            shown[key] = f"auto ({value})"
    shape = (metrics.get("data") or {}).get("shape")
    unread = set(unread) | ({"size"} if config.get("data") else set())
    unread |= {"val_fraction", "test_fraction"} - fractions_read(config, metrics)
    unread |= {"volume_size"} if shape is not None and len(shape) == 3 else set()
    return {k: v for k, v in shown.items() if k not in unread}


def chosen_on_auto(metrics: dict) -> set[str]:
    """The settings of ``metrics``' ``choices`` that an ``auto`` decided (their ``how`` not ``pinned (...)``). Training
    writes the report from the settings it ran with, where the TTA is already the one chosen (``tta: none`` after
    ``--tta auto`` chose none): the table had shown ``tta = none`` as if pinned, beside ``flip = auto (on)``."""
    choices = metrics.get("choices") or {}
    return {k for k, c in choices.items()
            if isinstance(c, dict) and "how" in c and not str(c["how"]).startswith("pinned")}


def applied_autos(metrics: dict) -> dict:
    """What a run's ``auto`` settings became, as its report shows them: ``precision``, ``accelerator`` (``metrics``'
    ``device``) and each of its ``choices`` (``flip``: on/off, ``tta``, ``class_weights``); None where not recorded."""
    choices = metrics.get("choices") or {}
    return {"precision": metrics.get("precision"), "accelerator": metrics.get("device"),
            **{k: {True: "on", False: "off"}.get(c.get("chosen"), c.get("chosen"))
               for k, c in choices.items() if isinstance(c, dict) and "chosen" in c}}
