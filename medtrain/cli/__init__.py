"""The ``medtrain`` command line.

Each sub-command lives in its own module of this package and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (called with the parsed namespace, returning an exit code) and, for a
command with ``--out``, ``out_kind`` (``"dir"`` or ``"file"``), checked before the command runs.
User errors (:class:`medtrain.errors.MedtrainError`) become one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from medtrain._io import check_output
from medtrain.errors import MedtrainError

# Sub-command modules, in the order `medtrain --help` lists them. A module missing from the
# installed package is skipped, so partial installs still give a working command.
SUBCOMMANDS = ["train", "eval", "predict", "export", "explain", "compare", "tune", "advise", "models", "cost",
               "augment"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medtrain", description="Train, compare and analyse CNN classifiers on medical images."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"medtrain.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"medtrain.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        out, kind = getattr(args, "out", None), getattr(args, "out_kind", None)
        if out and kind:  # before any work: a wrong --out was a traceback at the end (predict, export, compare)
            check_output(out, folder=kind == "dir", what="--out ")
        return int(args.func(args) or 0)
    except MedtrainError as e:
        print(f"medtrain: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("medtrain: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
