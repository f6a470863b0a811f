"""``medtrain train``: train, select on validation, evaluate on test, write the run directory."""
from __future__ import annotations

import argparse
import shlex


def register(sub) -> None:
    p = sub.add_parser("train", help="train a classifier and evaluate it",
                       description="Train a classifier; the epoch it keeps (--checkpoint) is evaluated on the test split. "
                                   "With --folds K: K runs, each holding out another fold, and cv.json/cv.md "
                                   "(per-fold metrics, mean ± std, pooled out-of-fold AUC) in --out.")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run from its last checkpoint with its own settings (other "
                        "flags must repeat them; only progress, data_dir, store, accelerator, strategy, out may "
                        "change, and the run stays in RUN_DIR whatever --out says)")
    from medtrain.cli._options import add_config_flags

    add_config_flags(p)
    p.set_defaults(func=run, out_kind="dir")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from medtrain import config as config_mod
    from medtrain.api import train
    from medtrain.cli._options import config_layers
    from medtrain.errors import MedtrainError
    from medtrain.reuse import defaults_then, resume_named
    from medtrain import rundir

    from_file, flags = config_layers(args)
    if args.resume is not None:  # --resume "" refused by train(), not taken for no --resume
        train(config_mod.layered(from_file, flags), resume=args.resume)
        closing(Path(args.resume))
        return 0
    cfg = config_mod.resolve(from_file, flags)
    out = rundir.out_folder(cfg)  # --out "" refused (cross-validation's folder too)
    try:
        _check_read(args, cfg, from_file, flags)
    except MedtrainError as e:  # an older run's own command, refused by a check added since: its --resume named
        raise MedtrainError(f"{e}{resume_named(cfg, out, {*from_file, *flags})}") from None
    # a default changed since a run of format 0 in out was written: the run's value, named (the rule train() and
    # compare's reuse apply too)
    cfg = defaults_then(cfg, out, {*from_file, *flags})
    if cfg.folds and cfg.fold is None:  # every fold, then the cross-validation summary
        from medtrain.crossval import cross_validate

        cross_validate(cfg)
        closing(out, folds=cfg.folds)
        return 0
    train(config_mod.Resolved.of(cfg))  # as resolved: a --transfer scratch beside --pretrained stays scratch
    closing(out)
    return 0


def _check_read(args: argparse.Namespace, cfg, from_file: dict, flags: dict) -> None:
    """Refuse a setting typed here and read by nothing (milestones off multistep, a linear probe's training flags);
    a config file's (a compare cell's) is kept, but for a linear probe's unread settings."""
    from pathlib import Path

    from medtrain import config as config_mod
    from medtrain import rundir

    config_mod.check_read(cfg, flags)
    if from_file and cfg.transfer == "linear-probe" and not rundir.is_run(Path(args.config).parent):
        # (a run's own config.yaml is what it trained with, carried as resume carries it: a compare cell's records
        # the grid's epochs or flip, which its probe never read)
        from medtrain.training.build import resolve_auto

        # a probe's auto lr, batch size and checkpoint resolve alike for images and volumes
        config_mod.checks.check_probe_read(cfg, flags, (args.config, from_file), lambda c: resolve_auto(c, 2))


def closing(out, folds: int = 0) -> None:
    """The last line of a finished run: where its report and numbers are, and the commands that use it (the
    summary table had ended the output without either)."""
    from medtrain.cli import _first_process
    from medtrain.crossval import CV_FILE, CV_TABLE, fold_dir
    from medtrain.rundir import METRICS_FILE, REPORT_FILE, is_finished

    if not _first_process():  # the other processes of a multi-device run print nothing
        return
    if folds and (out / CV_FILE).is_file():
        print(f"report: {out / REPORT_FILE}; numbers: {out / CV_FILE}, {out / CV_TABLE}; the folds' runs: "
              f"{fold_dir(out, 0)} .. {fold_dir(out, folds - 1)} (medtrain eval|predict|export|explain FOLD_RUN)")
    elif not folds and is_finished(out):
        print(f"report: {out / REPORT_FILE}; metrics: {out / METRICS_FILE}; next: medtrain eval|predict|export|"
              f"explain {shlex.quote(str(out))}")
