"""``medtrain train``: train, select on validation, evaluate on test, write the run directory."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("train", help="train a classifier and evaluate it",
                       description="Train a classifier; the epoch it keeps (--checkpoint) is evaluated on the test split. "
                                   "With --folds K: K runs, each holding out another fold, and cv.json/cv.md "
                                   "(per-fold metrics, mean ± std, pooled out-of-fold AUC) in --out.")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run from its last checkpoint with its own settings (other "
                        "flags must repeat them; progress, data_dir, store, accelerator, strategy may change; devices and "
                        "num_nodes may not)")
    from medtrain.cli._options import add_config_flags

    add_config_flags(p)
    p.set_defaults(func=run, out_kind="dir")


def run(args: argparse.Namespace) -> int:
    from medtrain import config as config_mod
    from medtrain.api import train
    from medtrain.cli._options import config_layers

    from_file, flags = config_layers(args)
    if args.resume:
        train({**from_file, **flags}, resume=args.resume)
        return 0
    cfg = config_mod.resolve(from_file, flags)
    if cfg.folds and cfg.fold is None:  # every fold, then the cross-validation summary
        from medtrain.crossval import cross_validate

        cross_validate(cfg)
        return 0
    train(cfg)
    return 0
