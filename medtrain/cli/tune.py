"""``medtrain tune``: hyperparameter search with Optuna over ``train``'s settings (:mod:`medtrain.tune`)."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("tune", help="search hyperparameters (Optuna TPE + pruning), scored on validation",
                       description="Each trial is a run directory OUT/trials/NNN (OUT/trials-NAME/NNN for a "
                                   "--study-name other than tune) trained without the test split; "
                                   "a trial behind the median of earlier trials at the same epoch is pruned (stopped "
                                   "there, never at its last epoch; its run folder is removed); "
                                   "with flip auto, the flips are decided once for the study by two pilot runs on "
                                   "the base settings and pinned for every trial (not where the space searches flip, "
                                   "augment, tta or transfer); "
                                   "the study lives in a database, so an interrupted search continues when the "
                                   "same command is run again. The best trial is evaluated on test once, at the end; "
                                   "OUT/report.html shows the search on one page.")
    p.add_argument("--space", metavar="YAML",
                   help="search space: setting -> {low, high[, log][, step]} or a list of values (default: lr, "
                        "weight_decay, dropout, label_smoothing)")
    p.add_argument("--trials", type=int, metavar="N",
                   help="stop when the study holds N finished trials (a failed trial is replaced by another; N, "
                        "at most 10, failing in a row stop the search)")
    p.add_argument("--budget", type=float, metavar="MINUTES",
                   help="a deadline for the whole search, from the command's start (the flip pilots count): no "
                        "trial starts that the longest trial so far says would end after it (the first always "
                        "starts); a trial training at the deadline stops at the end of the epoch it is in (an "
                        "epoch is not interrupted), then finishes its run (validation, its report), recorded pruned "
                        "(why: budget). The best trial's test evaluation and the reports come after the deadline (a "
                        "few seconds on a MedMNIST test split), not counted")
    p.add_argument("--storage", metavar="URL",
                   help="SQLAlchemy URL of the study database (default sqlite:///OUT/study.db); give the same "
                        "URL on several machines to share one study")
    p.add_argument("--study-name", default="tune", metavar="NAME",
                   help="the study's name in the storage (default tune)")
    from medtrain.cli._options import ONE_PROCESS, add_config_flags

    add_config_flags(p, own={"out": "the study's folder: the trials' run directories OUT/trials/NNN, the reports "
                                    "(report.html, trials.csv/.md, best_config.yaml, best.json; both in OUT/trials-NAME for "
                                    "another --study-name) and the default study.db (default runs/tune)", **ONE_PROCESS})
    p.set_defaults(func=run, out_kind="dir")


def run(args: argparse.Namespace) -> int:
    from medtrain.cli._clock import command_started

    started = command_started()  # the budget counts from the command's start (importing medtrain.tune takes seconds)
    from medtrain.cli._options import config_layers
    from medtrain.config import layered
    from medtrain.tune import load_space, tune

    base = layered(*config_layers(args))  # flags over the file, as train reads them (--data unsets its dataset)
    out = base.pop("out", None) or "runs/tune"
    space = load_space(args.space) if args.space else None
    tune(base, space, out, trials=args.trials, budget_minutes=args.budget, storage=args.storage,
         study_name=args.study_name, log=print, started=started)
    return 0
