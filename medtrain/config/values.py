"""Reading a setting's value from YAML, the command line or Python into the type of its :class:`Config` field.

Hand-written because the keys are read from three sources with one set of rules (``auto`` for numbers the run
resolves, booleans spelt any YAML/CLI way, ``k=v,k=v`` mappings, comma lists), each failure a
:class:`MedtrainError` naming the key; neither argparse nor YAML alone covers all three.
"""
from __future__ import annotations

import math
import os
import reprlib
from typing import Any

import numpy as np
import yaml

from medtrain._yaml import DuplicateKey, read_yaml
from medtrain.config.settings import AUTO_NUMBERS, CLASS_WEIGHT_NAMES, CLASS_WEIGHT_RULES, KEYS
from medtrain.errors import MedtrainError


# A value in a message is shown shortened, and its repr is built only that far: six levels of nested YAML anchors
# in 1 KB of config had made a 58 MB error line (and two more levels would exhaust memory)
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 60, 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = _SHORT.maxfrozenset = 4
_SHOWN = 80  #: the most characters of a value a message shows


#: ``data`` given as images in memory where only a path is read (its repr, thousands of pixels, had been the
#: message): a Config, a YAML file, ``train_or_reuse``; ``medtrain.train``'s dict writes them as a .npz first
#: (:mod:`medtrain.data.arrays`)
IN_MEMORY = ("data: images in memory ({}) are read by medtrain.train({{'data': (images, labels), ...}}) only, a dict "
             "of settings; here give data=PATH of an .npz in MedMNIST layout (np.savez(PATH, train_images=X, "
             "train_labels=Y, and val_*, test_*)) or of a CSV of path,label")


def _cut(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."


def _shown(value: Any) -> str:
    """``repr(value)``, at most :data:`_SHOWN` characters."""
    return _cut(_SHORT.repr(value))


def kind_of(f) -> tuple[str, bool]:
    """The value type a field takes (``"str"``, ``"int"``, ``"float"``, ``"bool"``, ``"tuple"``, ``"dict"``,
    ``"any"``) and whether it may be None, read from its annotation (a string under postponed evaluation)."""
    t = str(f.type)
    optional = t.startswith("Optional[")
    t = t.removeprefix("Optional[").removesuffix("]") if optional else t
    return {"str": "str", "int": "int", "float": "float", "bool": "bool", "tuple": "tuple", "dict": "dict"}.get(
        t, "any"), optional


def _coerce_bool(value: Any) -> bool:
    if isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(value)
    if not isinstance(value, (bool, int)):
        raise ValueError(value)
    return bool(value)


def _not_finite(value: Any) -> bool:
    """nan, inf, or a string that reads as one ("nan" from ``k=[nan,0.3]`` on the command line)."""
    try:
        return not isinstance(value, bool) and not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def coerce(name: str, value: Any) -> Any:
    """Convert a YAML/CLI value to the type of field ``name``; a value it cannot be is a MedtrainError."""
    f = KEYS[name]
    kind, optional = kind_of(f)
    if isinstance(value, np.generic):  # np.int64(3), np.float32(0.3): what a sweep over np.arange/linspace gives
        value = float(str(value)) if isinstance(value, np.floating) else value.item()  # float32 0.3 stays 0.3
    if name in AUTO_NUMBERS and isinstance(value, str) and value.lower() == "auto":  # auto is stored as None
        return None
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null") and optional):
        if optional or kind == "any":
            return None
        raise MedtrainError(f"{name} needs a value, got none")
    try:
        if name == "color_space" and isinstance(value, str):  # read in any case; kept in one ('LAB' had been kept as
            return value.lower()  # typed: a rerun with 'lab' refused as other settings, compare trained both)
        if name == "tta" and isinstance(value, bool):
            return "hflip" if value else "none"
        if name in ("class_weights", "flip"):  # auto, or a boolean spelled any way a bool key accepts
            if isinstance(value, str) and value.lower() == "auto":
                return "auto"
            rules = CLASS_WEIGHT_RULES if name == "class_weights" else ()  # a decision rule auto can choose
            if isinstance(value, str) and value.lower() in rules:
                return value.lower()
            if name == "class_weights" and isinstance(value, str) and value.lower() in CLASS_WEIGHT_NAMES:
                # the rule's name as the run's summary and metrics.json say it ("class weights balanced: ...")
                return CLASS_WEIGHT_NAMES[value.lower()]
            try:
                return "true" if _coerce_bool(value) else "false"
            except ValueError:
                allowed = ("auto", "true", "false") + rules
                also = " (balanced = true, plain = false)" if rules else ""
                raise MedtrainError(f"{name} must be {', '.join(allowed[:-1])} or {allowed[-1]}{also}, "
                                    f"got {_shown(value)}") from None
        if kind == "bool":
            return _coerce_bool(value)
        if kind == "int":
            if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            if not isinstance(value, (int, float, str)):
                raise ValueError(value)
            if isinstance(value, str) and not value.strip().lstrip("+-").isdigit():
                number = float(value)  # "1e3", "2.0"; "1.5" is not an integer and is refused, not truncated
                if not number.is_integer():
                    raise ValueError(value)
                return int(number)
            return int(value)
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError(value)
            if not math.isfinite(float(value)):  # nan passes every range check; inf is no setting
                raise MedtrainError(f"{name} must be a finite number, got {_shown(value)}")
            return float(value)
        if kind == "str":
            if isinstance(value, os.PathLike):  # data, out, pretrained, data_dir given as a pathlib.Path
                value = os.fspath(value)
            if name == "data" and not isinstance(value, (str, int, float)):  # an array, a tuple, a DataFrame
                raise MedtrainError(IN_MEMORY.format(type(value).__name__))
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ValueError(value)
            return str(value)
        if kind == "dict":  # a mapping or "k=v,k=v"
            if isinstance(value, str):  # "a=1,b=[0.1,0.2]" read as the YAML mapping {a: 1, b: [0.1, 0.2]}
                try:
                    value = read_yaml("{" + value.replace("=", ": ") + "}")
                except DuplicateKey as e:  # "flip_p=0.1,flip_p=0.9": the reader's line numbers mean nothing here
                    raise MedtrainError(f"{name}: {_cut(str(e.key))} is given twice in {_shown(value)}; keep one"
                                        ) from None
                except yaml.YAMLError:
                    raise ValueError(value) from None
            if not isinstance(value, dict):
                raise ValueError(value)
            for key, v in value.items():
                if any(map(_not_finite, v if isinstance(v, (list, tuple)) else [v])):
                    raise MedtrainError(f"{name} {_cut(str(key))}: {_shown(v)} holds a number that is not finite")
            return dict(value)
        if kind == "tuple":
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, (list, tuple)):
                raise ValueError(value)
            if name == "milestones":
                return tuple(float(v) for v in value)
            if not all(isinstance(v, str) and v for v in value):
                raise ValueError(value)
            return tuple(value)
    except (TypeError, ValueError, OverflowError):
        if isinstance(value, bool) and kind in ("str", "tuple"):  # `augment: no` had been "cannot read False as tuple"
            none = "; none is no augmentation" if name == "augment" else ""
            raise MedtrainError(f"{name}: YAML reads an unquoted no, off, yes or on as {str(value).lower()}, not as a "
                                f"word; quote it (\"no\") where the word is meant{none}") from None
        raise MedtrainError(f"{name}: cannot read {_shown(value)} as {kind}") from None
    return value
