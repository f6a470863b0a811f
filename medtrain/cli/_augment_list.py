"""``medtrain augment list``: every augmentation op, what it does, and the settings it reads with their defaults
(:mod:`medtrain.augment.catalogue`), so that ``--augment`` and ``--augment-params`` can be written without reading
the code. A setting that has a flag of its own (``--cutmix-alpha``) names it: ``--augment-params`` refuses it there."""
from __future__ import annotations

import argparse
import json
import textwrap


def register(asub) -> None:
    ls = asub.add_parser("list", help="every augmentation op, what it does, its settings and their defaults",
                         description="Every name --augment takes, what the op does to an image, and the settings "
                                     "it reads with their defaults: give them as --augment-params key=value "
                                     "(a YAML config's augment_params), or with their own flag where one is named.")
    which = ls.add_mutually_exclusive_group()
    which.add_argument("--images", action="store_true", help="the ops for 2D images only")
    which.add_argument("--volumes", action="store_true", help="the ops for volumes (3d_*) only")
    ls.add_argument("--json", action="store_true", help="one JSON object per line instead of text")
    ls.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    from medtrain.augment.catalogue import catalogue, default_text
    from medtrain.config.settings import AUGMENT_SETTINGS

    rows = [r for r in catalogue() if not (args.images and r["volumes"] or args.volumes and not r["volumes"])]
    if args.json:
        for r in rows:
            print(json.dumps({**r, "settings": {k: list(v) if isinstance(v, tuple) else v
                                                 for k, v in r["settings"].items()},
                              "flags": {k: "--" + k.replace("_", "-") for k in r["settings"] if k in AUGMENT_SETTINGS}}))
        return 0
    for r in rows:
        print(r["op"])
        print(textwrap.fill(r["about"], width=100, initial_indent="    ", subsequent_indent="    "))
        settings = [f"{k}={default_text(v)}" + (f" (--{k.replace('_', '-')})" if k in AUGMENT_SETTINGS else "")
                    for k, v in r["settings"].items()]
        print("    settings: " + (", ".join(settings) if settings else "none"))
    print("\n--augment takes a comma-separated list of these names (or policy YAML paths); --augment-params "
          "key=value,... sets the settings, a pair as [low,high]; '-': no default (rrc_size: the input's size).")
    return 0
