"""Command-line flags generated from the :class:`medtrain.config.Config` fields.

Every config key is a flag (``weight_decay`` -> ``--weight-decay``), so the CLI, YAML files and ``compare
--vary`` always name the same settings. Values are parsed by :func:`medtrain.config.resolve`; each flag's help
is the setting's description in :data:`medtrain.config.DESCRIPTIONS`, its default appended.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import fields

from medtrain.config import DESCRIPTIONS, Config, load_yaml

# Each setting's help text is its description in the config layer (medtrain.config.descriptions, which
# help(medtrain.Config) shows as well): one text per setting, plain (a % is a percent sign).


#: ``--devices`` and ``--num-nodes`` of a command that trains its runs one after another in one process (compare,
#: tune): one device is all it takes (``single_process_only`` refuses more), though the help had offered train's.
ONE_PROCESS = {"devices": "one device: 1, auto on a machine with one, or the index of the GPU to use written "
                          "'N,' (this command trains its runs in one process; for several devices train each run with "
                          "medtrain train --devices N)",
               "num_nodes": "1 (this command trains its runs in one process, on one machine)"}


def add_config_flags(p: argparse.ArgumentParser, own: dict | None = None, hidden: tuple = ()) -> None:
    """The settings flags of ``p``: ``own`` replaces a key's help text for this command (``out``: what the
    folder holds), ``hidden`` keys are parsed but not listed (the command refuses them: compare's ``seed``)."""
    p.add_argument("--config", metavar="YAML", help="YAML file of settings; flags override it")
    g = p.add_argument_group("settings (any key of a config file)")
    texts = {**{k: v.replace("%", "%%") for k, v in DESCRIPTIONS.items()}, **(own or {})}  # argparse's % escape
    for f in fields(Config):
        flag = "--" + f.name.replace("_", "-")
        text, default = texts.get(f.name, ""), _default(f)
        if isinstance(f.default, bool):
            shown = "" if _states_default(text) else f" (default: {'on' if f.default else 'off'})"
            g.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                           help=argparse.SUPPRESS if f.name in hidden else (text + shown).strip())
        else:
            # the default once: not when the help already states it (the autos, the cache), never "None"
            shown = "" if default is None or _states_default(text) else f" (default {_show(default)})"
            g.add_argument(flag, dest=f.name, default=argparse.SUPPRESS, metavar="V",
                           help=argparse.SUPPRESS if f.name in hidden else (text + shown).strip())


def _states_default(text: str) -> bool:
    """Whether a help text already says its default ("(default ...", "Default auto: ..."); a mere mention of
    "the default 2D network" or "its default" does not (--checkpoint's and --store's auto had gone unsaid)."""
    return "(default" in text or "Default " in text


def _default(f):
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _show(v) -> str:
    if isinstance(v, dict):
        return ",".join(f"{k}={x}" for k, x in v.items()) or "none"
    return ",".join(map(str, v)) if isinstance(v, tuple) else str(v)


def config_layers(args: argparse.Namespace) -> tuple[dict, dict]:
    """(settings from --config, settings from flags)."""
    from_file = load_yaml(args.config) if getattr(args, "config", None) else {}
    if getattr(args, "config", None) and not from_file:  # an empty file had trained the default dataset unsaid
        print(f"medtrain: note: config file {args.config} holds no settings: the flags and the defaults apply",
              file=sys.stderr)
    names = {f.name for f in fields(Config)}
    flags = {k: v for k, v in vars(args).items() if k in names}
    return from_file, flags
