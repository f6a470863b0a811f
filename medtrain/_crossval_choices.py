"""The choices each fold of a cross-validation applied (flips, TTA, class weights, precision, accelerator), as cv.md
and the report show them, the settings a fold applied, and what the validation folds decided of their runs (said
beside pooled figures over validation folds: they read optimistic). Split out of :mod:`medtrain.crossval`."""
from __future__ import annotations

from medtrain.config.flips import FLIP_OPS
from medtrain.reports._html_settings import applied_autos


#: the settings a fold may decide for itself (``auto``: flips, TTA and the class-weight rule on its validation split,
#: :mod:`medtrain.training.choices`; precision and accelerator on its machine), with the choices table's names
CHOICE_NAMES = {"flip": "flips", "tta": "TTA", "class_weights": "class weights", "precision": "precision",
                "accelerator": "accelerator"}
CHOICES_TITLE = "Choices per fold"
#: an ``auto`` setting the folds applied differently, as the settings table shows it
PER_FOLD = f"auto (decided per fold: see {CHOICES_TITLE})"


def fold_choices(run: dict) -> dict:
    """A fold's applied value of each setting it may decide (its ``metrics.json``'s ``choices``, ``precision`` and
    ``device``, read as its run's report reads them: :func:`medtrain.reports._html_settings.applied_autos`), ``{key:
    {"chosen": text, "how": text}}``, ``how`` where its choices record says it. (The folds need not train one recipe:
    a walk's folds 0 and 2 kept the val-fitted class-weight rule, fold 1 the prior-adjusted one; no output said so.)"""
    records = run.get("choices") or {}
    out = {}
    for key, value in applied_autos(run).items():
        if key in CHOICE_NAMES and value not in (None, ""):
            how = records[key].get("how") if isinstance(records.get(key), dict) else None
            out[key] = {"chosen": str(value), **({"how": str(how)} if how else {})}
    return {k: out[k] for k in CHOICE_NAMES if k in out}


#: what a validation split may decide of a run, in the order they are said
VAL_DECISIONS = ("the epoch kept", "the probe's regularisation", "when to stop", "flips", "TTA",
                 "the class-weight rule", "the temperature", "the threshold")


def val_decided(run: dict) -> list[str]:
    """What a fold's validation split decided of its run (its ``metrics.json``): the epoch kept (not the last),
    when to stop, a choice scored on validation (flips' pilots, TTA, the class-weight rule), the temperature, the
    operating point's threshold."""
    choices = run.get("choices") or {}
    scored = [name for key, name in (("flip", "flips"), ("tta", "TTA"), ("class_weights", "the class-weight rule"))
              if isinstance(choices.get(key), dict) and any(k.startswith("val_") for k in choices[key])]
    epoch = [] if run.get("checkpoint") == "last" else ["the probe's regularisation"] if run.get("probe") else \
        ["the epoch kept"]  # a linear probe trains no epochs: validation chose its classifier's C
    return (epoch + (["when to stop"] if run.get(
        "early_stopped") else []) + scored + (["the temperature"] if run.get("calibration") else [])
        + (["the threshold"] if (run.get("operating_point") or {}).get("chosen_on") == "val" else []))


def val_note(cv: dict, figures: str) -> str:
    """'; ...' said of pooled figures over validation folds: what those folds also decided, so the figures read
    optimistic (it had named the checkpoint, TTA and class-weight rule of folds that kept their last epoch with
    flips pinned); '' for test folds. A cv.json written before the record says the fixed list it said."""
    if cv["held_out"] != "val":
        return ""
    decided = cv.get("val_decided", ["each run's checkpoint", "TTA", "class-weight rule", "temperature"])
    if not decided:
        return f"; nothing of the runs was chosen on the validation folds, so {figures} are of unseen images"
    listed = ", ".join(decided[:-1]) + f" and {decided[-1]}" if len(decided) > 1 else decided[0]
    return f"; the validation folds also chose {listed}, so {figures} read optimistic"


def applied_settings(config: dict, run: dict) -> dict:
    """A fold's ``config.yaml`` settings as it applied them, as its run's report shows them: flips off (pinned or
    decided) leave ``augment`` without the flip ops and ``augment_params`` without ``flip_p``
    (:func:`medtrain.training.choices.without_flips`); an ``auto`` it decided reads ``auto (value)``."""
    shown = dict(config)
    if ((run.get("choices") or {}).get("flip") or {}).get("chosen") is False:
        if isinstance(shown.get("augment"), (list, tuple)):
            shown["augment"] = [a for a in shown["augment"] if a not in FLIP_OPS]
        if isinstance(shown.get("augment_params"), dict):
            shown["augment_params"] = {k: v for k, v in shown["augment_params"].items() if k != "flip_p"}
    for key, choice in fold_choices(run).items():
        if shown.get(key) == "auto" and choice["chosen"] != "auto":
            shown[key] = f"auto ({choice['chosen']})"
    return shown


def choices_table(cv: dict) -> dict | None:
    """The folds' choices (cv.json's ``per_fold[i]["choices"]``) as cv.md and the report show them: ``{"title",
    "head", "rows"}`` (text, one row per fold), or ``{"title", "line"}`` where every fold applied the same; None where
    no fold records any."""
    folds = [f for f in cv.get("per_fold") or [] if f.get("choices")]
    if not folds:
        return None
    keys = [k for k in CHOICE_NAMES if any(k in f["choices"] for f in folds)]
    cells = [["–" if c is None else c["chosen"] + (f": {c['how']}" if c.get("how") else "")
              for c in (f["choices"].get(k) for k in keys)] for f in folds]
    title = (f"{CHOICES_TITLE} (as each fold applied them: an auto setting is decided by each fold, flips, TTA and "
             "the class-weight rule on its own validation split, precision and accelerator on its machine)")
    if len(folds) == len(cv["per_fold"]) and all(c == cells[0] for c in cells):
        return {"title": title, "line": f"all {len(folds)} folds: " + "; ".join(
            f"{CHOICE_NAMES[k]} {c}" for k, c in zip(keys, cells[0]))}
    return {"title": title, "head": ["fold"] + [CHOICE_NAMES[k] for k in keys],
            "rows": [[str(f["fold"])] + c for f, c in zip(folds, cells)]}
