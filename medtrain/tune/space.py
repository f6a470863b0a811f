"""The search space of ``medtrain tune``: the same flat keys as ``train``, each with a range or a list.

YAML, one entry per setting::

    lr: {low: 1.0e-4, high: 1.0e-2, log: true}   # a float setting: a (log-)uniform range
    epochs: {low: 5, high: 20, step: 5}          # an int setting: integers low..high (step optional)
    dropout: [0.0, 0.25, 0.5]                    # any setting: a list of values to choose from
    augment: ["none", "flip,shift"]              # values are written as on the command line

Every value a range or list can produce is validated with the base settings before any training (the checks
``train`` makes of its settings before reading data: types, ranges, model and augmentation names), so a search
never fails half-way on a value those checks refuse; only what training itself finds out (e.g. a
``pretrained`` run that cannot be read) fails at the trial that draws it. Settings that change the data, its
split or the processes a trial runs in (:data:`NOT_SEARCHED`) are refused: trials are ranked on one
validation split, trained the same way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from medtrain import config as config_mod
from medtrain._train_inputs import check_settings
from medtrain.config.settings import unknown_setting
from medtrain.errors import MedtrainError, suggest

#: Settings a search may not vary: the run directory and where data and output go belong to the search.
FIXED = ("out", "data_dir", "progress")

_DATA = "it changes the data or its train/val/test split, and trials are ranked on one validation split"
_SPLIT = "it draws the train/val/test split of local data, and trials are ranked on one validation split"
_PROCESS = "it changes where a trial runs, not the model; set it for every trial on the command line"
#: Settings a search may not vary, and why (one line each, in the error).
NOT_SEARCHED = {
    "dataset": _DATA, "data": _DATA, "size": _DATA, "image_size": _DATA, "volume_size": _DATA, "spacing": _DATA,
    "window": _DATA, "val_fraction": _DATA, "test_fraction": _DATA,
    "group_column": _DATA, "skip_bad": _DATA, "folds": _DATA, "fold": _DATA, "seed": _SPLIT,
    "positive_class": "it changes what the scores measure, and trials are ranked on one metric",
    "accelerator": _PROCESS, "devices": _PROCESS, "num_nodes": _PROCESS, "strategy": _PROCESS, "store": _PROCESS,
    "logger": _PROCESS,
}

#: The built-in space (``--space`` not given): the settings that matter most for a CNN trained from scratch.
BUILTIN = {
    "lr": {"low": 1e-4, "high": 3e-2, "log": True},
    "weight_decay": {"low": 1e-5, "high": 1e-1, "log": True},
    "dropout": {"low": 0.0, "high": 0.5},
    "label_smoothing": {"low": 0.0, "high": 0.2},
}


@dataclass(frozen=True)
class Param:
    """One searched setting: a float or int range, or a list of choices."""

    key: str
    kind: str  #: "float", "int" or "choice"
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple = ()

    def suggest(self, trial):
        if self.kind == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            return trial.suggest_int(self.key, self.low, self.high, log=self.log, step=self.step or 1)
        return trial.suggest_categorical(self.key, list(self.choices))

    def to_dict(self) -> dict | list:
        if self.kind == "choice":
            return list(self.choices)
        d = {"low": self.low, "high": self.high}
        if self.log:
            d["log"] = True
        if self.step is not None:
            d["step"] = self.step
        return d


def _number(key: str, what: str, v, kind: str):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise MedtrainError(f"search space {key}: {what} must be a number, got {v!r}")
    if kind == "int":
        if not float(v).is_integer():
            raise MedtrainError(f"search space {key}: {key} is an integer setting, {what} {v!r} is not")
        return int(v)
    return float(v)


def _param(key: str, spec, base: dict) -> Param:
    key = str(key).replace("-", "_")
    if key not in config_mod.KEYS:  # learning_rate is offered lr (config.settings.ALIASES)
        raise unknown_setting(key, what="search space: setting")
    if key in FIXED:
        raise MedtrainError(f"search space {key}: {key} is set by the search itself, not searched")
    if key == "monitor":  # trials scored on different metrics cannot be ranked (val_loss was maximised as an AUC)
        raise MedtrainError("search space monitor: the metric the search ranks trials by is --monitor, not searched")
    if key in NOT_SEARCHED:  # e.g. trials on other data were ranked across different validation sets
        raise MedtrainError(f"search space {key}: not searched: {NOT_SEARCHED[key]}")
    kind, _ = config_mod.kind_of(config_mod.KEYS[key])
    if isinstance(spec, list):
        if not spec:
            raise MedtrainError(f"search space {key}: the list of values is empty")
        bad = [v for v in spec if not (v is None or isinstance(v, (bool, int, float, str)))]
        if bad:
            raise MedtrainError(f"search space {key}: values are written as on the command line, got {bad[0]!r}")
        p = Param(key, "choice", choices=tuple(dict.fromkeys(spec)))
        values = list(p.choices)
    elif isinstance(spec, dict):
        if kind not in ("int", "float"):
            raise MedtrainError(f"search space {key}: a range needs a number setting; give a list of values")
        unknown = sorted(set(spec) - {"low", "high", "log", "step"})
        if unknown:
            raise suggest(str(unknown[0]), ("low", "high", "log", "step"), f"search space {key}: range key")
        if "low" not in spec or "high" not in spec:
            raise MedtrainError(f"search space {key}: a range needs low and high")
        low, high = _number(key, "low", spec["low"], kind), _number(key, "high", spec["high"], kind)
        if not low < high:
            raise MedtrainError(f"search space {key}: empty range (low {low:g} must be below high {high:g})")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise MedtrainError(f"search space {key}: log must be true or false, got {log!r}")
        if log and low <= 0:
            raise MedtrainError(f"search space {key}: a log range needs low > 0, got {low:g}")
        step = None if spec.get("step") is None else _number(key, "step", spec["step"], kind)
        if step is not None and (step <= 0 or step > high - low or log):
            raise MedtrainError(f"search space {key}: step must be > 0 and at most high - low, without log")
        p = Param(key, kind, low, high, log, step)
        values = [low, high]
    else:
        raise MedtrainError(f"search space {key}: give a range {{low: .., high: ..}} or a list of values, "
                            f"got {spec!r}")
    for v in values:  # every reachable value must be one train accepts, with the base settings
        try:
            check_settings(config_mod.resolve(base, {key: v}))
        except MedtrainError as e:
            raise MedtrainError(f"search space {key}: value {v!r} is refused by train ({e})") from None
    return p


def parse_space(spec: dict | None, base: dict) -> list[Param]:
    """The parameters of a YAML search space (``None``: :data:`BUILTIN`), validated against ``base``."""
    spec = BUILTIN if spec is None else spec
    if not isinstance(spec, dict) or not spec:
        raise MedtrainError("the search space must be a mapping of at least one setting to a range or a list")
    return [_param(k, v, base) for k, v in spec.items()]


def load_space(path) -> dict:
    """Read a search-space YAML file (a mapping; the settings are checked by :func:`parse_space`)."""
    return config_mod.load_yaml(path, "search space file")


def candidates(p) -> list:
    """The values of searched setting ``p`` checked before the search: its choices, or a range's ends (the
    highest value its step reaches: ``epochs: {low: 1, high: 10, step: 4}`` draws 9 at most)."""
    if p.kind == "choice":
        return list(p.choices)
    high = p.high if p.step is None else p.low + ((p.high - p.low) // p.step) * p.step
    return [p.low, type(p.low)(high)]
