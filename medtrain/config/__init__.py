"""Run configuration: one flat set of keys shared by the CLI, YAML files and Python.

Keys are flat (``dropout``, ``weight_decay``...) so that ``medtrain compare --vary KEY=...`` can vary any
of them, and a YAML file holds the same keys (``--config cfg.yaml``; flags given on the command line
override it). :func:`resolve` validates every value and raises :class:`MedtrainError` naming the key.

``settings`` holds the :class:`Config` dataclass and the names its keys take, ``values`` reads a value into its
field's type, ``checks`` validates a whole configuration.
"""
from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from medtrain._yaml import read_yaml_mapping
from medtrain.config.checks import check_read, parse_transfer, validate, validate_transfer
from medtrain.config.descriptions import DESCRIPTIONS
from medtrain.config.settings import (AUTO_NUMBERS, CHECKPOINTS, CHOICES, CLASS_WEIGHT_RULES,
                                      DROPOUT_KINDS, KEYS, LOGGERS, MONITORS, OPTIMIZERS, PARALLEL_STRATEGIES,
                                      PRECISIONS, PROBE_CLASSIFIERS, SCHEDULES, STRATEGIES, TTA_MODES, Config,
                                      unknown_setting)
from medtrain.config.values import coerce, kind_of
from medtrain.errors import MedtrainError

__all__ = ["AUTO_NUMBERS", "CHECKPOINTS", "CHOICES", "CLASS_WEIGHT_RULES", "DESCRIPTIONS", "DROPOUT_KINDS", "KEYS", "LOGGERS",
           "MONITORS", "OPTIMIZERS", "PARALLEL_STRATEGIES", "PRECISIONS", "PROBE_CLASSIFIERS", "SCHEDULES", "STRATEGIES", "TTA_MODES", "Config",
           "PATH_KEYS", "Resolved", "check_read", "coerce", "kind_of", "layered", "load_yaml", "parse_transfer", "resolve",
           "same_setting",
           "settings_of", "validate",
           "validate_transfer"]


#: settings naming a file or folder, which :func:`resolve` names absolutely where it exists
PATH_KEYS = ("data", "pretrained")


def _absolute(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def _is_policy_path(item) -> bool:
    return isinstance(item, str) and item.lower().endswith((".yaml", ".yml"))


def resolve(*layers: dict | None) -> Config:
    """Merge dictionaries of settings (later ones win) over the defaults and validate the result."""
    # merged by layered's rule (_merge), each layer read as it is reached: the first layer at fault is the one named
    merged = _merge((_read_layer(layer) for layer in layers), replaced=None)
    if merged.get("pretrained") and "transfer" not in merged:  # --pretrained alone means: fine-tune from it
        merged["transfer"] = "finetune"
    for key in PATH_KEYS:  # a run directory works from any folder: its config names these absolutely
        value = merged.get(key)
        if isinstance(value, str) and value and os.path.exists(os.path.expanduser(value)):
            merged[key] = _absolute(value)
    if isinstance(merged.get("augment"), (list, tuple)):  # a policy YAML among the ops: named absolutely as well
        merged["augment"] = type(merged["augment"])(
            _absolute(a) if _is_policy_path(a) and os.path.exists(os.path.expanduser(a)) else a
            for a in merged["augment"])
    for key in ("out", "data_dir"):  # "~/runs/a" quoted or from a YAML file: the home folder, as the shell would
        if isinstance(merged.get(key), str) and merged[key].startswith("~"):
            merged[key] = os.path.expanduser(merged[key])
    if "devices" in merged:
        merged["devices"] = devices_form(merged["devices"])
    c = Resolved(**merged)  # its values as asked: train takes it as it is (settings_of is for a user's Config)
    validate(c)
    return c


def _check_one_source(given: Mapping) -> None:
    if given.get("data") is not None and given.get("dataset") is not None:  # one of them was silently ignored
        raise MedtrainError(f"give --dataset NAME or --data PATH, not both (got {given['dataset']} and "
                            f"{given['data']})")


def layered(*layers: Mapping | None) -> dict:
    """Layers of settings (a config file's, then the flags'; later ones win) as one layer, merged by the
    rule :func:`resolve` merges by (:func:`_merge`): a later layer's data source replaces an earlier one's (``--data`` over a file's
    ``dataset``, which the merged layer no longer holds), and one layer giving both is refused. For the commands
    that pass their settings on as one dict (``tune``, ``compare``, ``train --resume``): a plain
    ``{**from_file, **flags}`` had held a file's ``dataset`` beside ``--data`` and been refused ("not both"),
    where ``train`` with the same file and flags trains."""
    return _merge(({k.replace("-", "_"): v for k, v in (layer or {}).items()} for layer in layers))


_DROPPED = object()


def _merge(layers: Iterable[Mapping], replaced: Any = _DROPPED) -> dict:
    """The rule :func:`layered` and :func:`resolve` merge by: later layers win, a later layer's data source replaces
    an earlier one's, one layer giving both is refused. ``replaced``: what the replaced source becomes, dropped
    where not given (a layer passed on to be resolved again); :func:`resolve` holds it as None, so that the
    default ``dataset`` does not come back beside a ``data`` given."""
    merged: dict[str, Any] = {}
    for given in layers:
        _check_one_source(given)
        for source, other in (("data", "dataset"), ("dataset", "data")):
            if given.get(source) is not None:
                if replaced is _DROPPED:
                    merged.pop(other, None)
                else:
                    merged[other] = replaced
                break
        merged.update(given)
    return merged


def _read_layer(layer: Mapping | None) -> dict:
    """One layer of settings as :func:`resolve` takes it: a mapping of known keys (``-`` read as ``_``), each value
    read into its setting's type."""
    if layer is not None and not isinstance(layer, Mapping):  # a list or a number: an AttributeError had said it
        raise MedtrainError(f"settings must be a dict of setting names and values (or the path of a YAML "
                            f"config file, where a path is taken); got {type(layer).__name__}")
    given = {}
    for k, v in (layer or {}).items():
        key = k.replace("-", "_")
        if key not in KEYS:
            raise unknown_setting(key)
        given[key] = coerce(key, v)
    return given


class Resolved(Config):
    """A :class:`Config` that :func:`resolve` made (or :meth:`of` marks), which ``train`` takes as it is. A Config a
    user builds goes through :func:`settings_of`, which cannot tell a field left at its default from one asked for: a
    resolved ``transfer: scratch`` beside a ``pretrained`` source (a scratch control: ``--pretrained A --transfer
    scratch``, compare's ``--vary transfer=scratch,...``) had been read as left at its default and fine-tuned. A
    subclass, so that whatever reads a Config reads this one alike."""

    @classmethod
    def of(cls, config: Config) -> "Resolved":
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)})

    def __eq__(self, other) -> bool:  # the same settings are equal, resolved or not (``resolve() == Config()``)
        return isinstance(other, Config) and all(getattr(self, f.name) == getattr(other, f.name)
                                                 for f in dataclasses.fields(Config))

    __hash__ = None


def settings_of(config: Config) -> dict:
    """A :class:`Config`'s settings as a layer for :func:`resolve`. A dataclass cannot tell a field left at its
    default from one typed: ``Config(data="mine.npz")`` holds ``dataset`` at its default, which :func:`resolve`
    had refused beside ``data`` ("not both") though the user named one source. Where ``data`` is given and
    ``dataset`` is its default, ``data`` is the source (as ``{"data": ...}`` is). Where ``pretrained`` is given and
    ``transfer`` is its default, ``transfer`` is left to :func:`resolve`'s rule (``--pretrained`` alone fine-tunes):
    ``Config(pretrained=...)`` had trained from scratch, while the CLI, a dict and a compare cell fine-tuned (a
    scratch control beside a pretrained source is asked for as a dict, ``{"transfer": "scratch", ...}``)."""
    d = dataclasses.replace(config).to_dict()  # Config's own rule (__post_init__), also for a data set after it was made
    if d.get("pretrained") and d.get("transfer") == KEYS["transfer"].default:
        del d["transfer"]
    return d


def devices_form(devices):
    """``devices`` in one form, whichever way it was given: a count or -1 as an int (the CLI's ``'2'``, YAML's and
    Python's ``2``), indices as a list of ints (``'0,1'``, ``(0, 1)``, ``[0, 1]``); ``auto`` and values
    :func:`validate` refuses are kept as they are. A run recorded with either form is the same setting."""
    if isinstance(devices, str):
        text = devices.strip()
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        if re.fullmatch(r"\d+(\s*,\s*\d+)*\s*,?", text) and "," in text:
            return [int(i) for i in text.split(",") if i.strip()]
    if isinstance(devices, tuple) and all(isinstance(i, int) and not isinstance(i, bool) for i in devices):
        return list(devices)
    return devices


def same_setting(key: str, recorded, given) -> bool:
    """Whether ``given``, a setting given again for a run, names what the run recorded as ``recorded``.

    :func:`resolve` names ``data``, ``pretrained`` and a policy file of ``augment`` absolutely only where they
    exist (a hub name ``timm:NAME`` is no path); one moved or deleted since the run started keeps its typed,
    relative name, which is the recorded one when made absolute against the current folder: the same command
    given again for a fine-tune whose source was moved had been refused as other settings."""
    if recorded == given:
        return True
    if key == "devices":
        return devices_form(recorded) == devices_form(given)
    if key in PATH_KEYS and isinstance(given, str) and given:
        return recorded == _absolute(given)
    if key == "augment" and isinstance(given, (list, tuple)) and isinstance(recorded, (list, tuple)):
        return len(given) == len(recorded) and all(
            r == g or (_is_policy_path(g) and r == _absolute(g)) for r, g in zip(recorded, given))
    return False


def load_yaml(path: str | os.PathLike, what: str = "config file") -> dict:
    """Read a YAML ``what`` (a config file, a search space file) of flat keys."""
    return read_yaml_mapping(path, what)[1]
