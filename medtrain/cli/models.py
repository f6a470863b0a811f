"""``medtrain models``: the architecture zoo, and optionally what each network costs.

    medtrain models                      # families, names, source library, paper
    medtrain models --json
    medtrain models --measure --names resnet18,mobilenetv2_100 [--csv | --json]
    medtrain models --dataset breastmnist --epochs 5     # short-budget accuracy beside the cost

The measurements are :mod:`medtrain.models.benchmark`'s (see there for the columns).
"""
from __future__ import annotations

import argparse
import json
import math
import sys

from medtrain.errors import MedtrainError, suggest

EPOCHS, PLOT = 5, "models_accuracy.png"  #: --dataset's defaults


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "models",
        help="list the architecture zoo (--measure: size, MACs, latency)",
        description=__doc__.split("\n\n")[0].replace("``", ""),  # the docstring's RST quotes are no help text
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--csv", action="store_true", help="print CSV (with --measure)")
    p.add_argument("--measure", action="store_true", help="measure size, MACs and speed of each network")
    p.add_argument("--names", metavar="A,B", help="only these names (default: the whole zoo)")
    p.add_argument("--quick", action="store_true", help="one representative network per family")
    p.add_argument("--budget", type=float, metavar="S",  # no argparse default: one given without --measure is told
                   help="with --measure: seconds per timing (latency or throughput) per network (default 10); "
                        "each timing is the "
                        "median of at least 3 timed forwards after a warm-up, whatever the budget (column Reps)")
    p.add_argument("--dataset", metavar="NAME",
                   help="train each network briefly on this MedMNIST dataset: accuracy vs. cost table and scatter")
    # --epochs, --plot: no argparse defaults, so that one given without --dataset is told from one not given
    p.add_argument("--epochs", type=int, help=f"with --dataset: training epochs per network (default {EPOCHS})")
    p.add_argument("--plot", help=f"with --dataset: the scatter PNG (default {PLOT})")
    p.add_argument("--runs", default=None, help="with --dataset: where the run directories go (default: a temp dir)")
    p.set_defaults(func=run)


def run(args) -> int:
    from medtrain.models import benchmark  # here, not at import: `medtrain --help` need not load the zoo

    if not args.dataset:
        given = [flag for flag, v in (("--epochs", args.epochs), ("--plot", args.plot), ("--runs", args.runs))
                 if v is not None]
        if given:  # they had been ignored silently
            raise MedtrainError(f"{', '.join(given)} {_apply(given)} with --dataset only (a short training of each "
                                f"network)")
    if not args.measure and args.budget is not None:  # it had been ignored silently (a walk: --budget -1, exit 0)
        raise MedtrainError(f"--budget {_apply(['--budget'])} with --measure only (seconds per timing)")
    if args.names is not None and not args.names.strip(" ,"):  # '' had meant the whole zoo, without a word
        raise MedtrainError("--names is empty: give network names, A,B (or leave --names out for the whole zoo)")
    if not args.dataset and not args.measure:
        given = [flag for flag, on in (("--names", args.names), ("--csv", args.csv), ("--quick", args.quick)) if on]
        if given:  # the listing has no such view: they had been ignored silently, the whole zoo printed
            raise MedtrainError(f"{', '.join(given)} {_apply(given)} with --measure or --dataset; `medtrain models` "
                                f"alone lists the whole zoo")
        fams = benchmark.families()
        if args.json:
            print(json.dumps(fams))
        else:
            for fam, entry in fams.items():
                print(f"{fam} [{entry['source']}] -- {entry['paper']}")
                print("    " + ", ".join(entry["names"]))
            print("\nAny other timm model name is accepted too (one of fixed input size, a ViT, is built at the run's "
                  "image size); a size a network cannot take is refused before training. Append -separable for the "
                  "depthwise-separable twin.")
        return 0
    if args.names:
        check_names(args.names)
    if args.dataset:
        return run_accuracy(args)
    budget = 10.0 if args.budget is None else args.budget
    if not (math.isfinite(budget) and budget > 0):  # inf had timed forever, nan been taken
        raise MedtrainError(f"--budget must be a finite number of seconds > 0, got {budget}")
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = [benchmark.measure(n, budget, devices, log=lambda s: print(s, file=sys.stderr, flush=True))
            for n in benchmark.select(args.names, args.quick, images_only=True)]
    if args.json:
        print(json.dumps(rows))
    elif args.csv:
        print(benchmark.csv_text(rows), end="")
    else:
        print(benchmark.markdown(rows), end="")
    return 0


def _apply(flags: list) -> str:
    return "applies" if len(flags) == 1 else "apply"


def check_names(names: str) -> None:
    """Each name of ``--names`` known to ``create_model``; an unknown one names the nearest of the zoo, or (none
    near) where to look: the error had listed all ~60 names of the zoo."""
    import difflib

    from medtrain.models.factory import check_model_name, list_models

    for name in (n.strip() for n in names.split(",") if n.strip()):
        try:
            check_model_name(name)
        except MedtrainError:
            zoo = list_models()
            if difflib.get_close_matches(name, zoo, n=1, cutoff=0.5):
                raise suggest(name, zoo, "model") from None
            raise MedtrainError(f"unknown model '{name}' in --names; `medtrain models` lists the zoo (any timm "
                                f"model name is accepted too)") from None


def run_accuracy(args) -> int:
    """Short-budget accuracy of each network on a dataset beside its cost: a table and a scatter PNG.

    Each network is trained with the default recipe (only ``--epochs`` shortened) as an ordinary run
    directory, so every number can be traced to its ``metrics.json``; MACs are counted for the network
    as built for the dataset (its channels, classes and image size), times the networks the run averages
    (``members``: two for the default 3D network in bf16).
    """
    import tempfile
    from pathlib import Path

    from medtrain import config as config_mod
    from medtrain._progress import Overall
    from medtrain.api import train_or_reuse
    from medtrain.data import load_splits
    from medtrain.rundir import is_finished, read_config
    from medtrain.models import benchmark, create_model
    from medtrain.models.cost import count_cost, count_parameters
    from medtrain.reports.plots import cost_accuracy_scatter

    epochs, plot = EPOCHS if args.epochs is None else args.epochs, args.plot or PLOT
    if epochs < 1:
        raise MedtrainError(f"--epochs must be >= 1, got {epochs}")
    base = config_mod.resolve({"dataset": args.dataset, "epochs": epochs, "progress": False, "bootstrap": 0})
    splits = load_splits(base)
    size = int(splits.spatial_shape[-1])
    runs = Path(args.runs or tempfile.mkdtemp(prefix="medtrain-models-"))
    rows = []
    names = benchmark.select(args.names, args.quick)
    with Overall(len(names), "models", done=sum(is_finished(runs / n) for n in names)) as bar:
        for name in names:
            net = create_model(name, in_chans=splits.in_chans, num_classes=splits.num_classes, input_size=size)
            reused = is_finished(runs / name)
            m = train_or_reuse(config_mod.resolve(base.to_dict(), {"model": name, "out": str(runs / name)}))
            members = read_config(runs / name).get("members")  # as the run resolved `auto` (config.yaml)
            members = members if isinstance(members, int) and members > 1 else 1
            macs = members * count_cost(net, size, in_chans=splits.in_chans).macs
            row = {"name": name, "params": members * count_parameters(net)["total"], "macs": macs,
                   "members": members,
                   "test_auc": m["test"]["auc"], "test_acc": m["test"]["acc"], "val_auc": m["val"]["auc"],
                   "wall_s": m["wall_s"]}
            rows.append(row)
            bar.write(f"{name}: {macs / 1e6:.0f} MMACs, test AUC {row['test_auc']:.3f}, val AUC "
                      f"{row['val_auc']:.3f}, {row['wall_s']:.0f} s", file=sys.stderr)
            if not reused:
                bar.advance()
    cost_accuracy_scatter([(r["name"], r["macs"], r["test_auc"]) for r in rows], plot,
                          f"{args.dataset}, {epochs} epochs, {size} px")
    if args.json:
        print(json.dumps(rows))
        return 0
    if args.csv:  # it had printed the Markdown table, --csv ignored
        print(benchmark.csv_text(rows, ["name", "members", "params", "macs", "test_auc", "test_acc", "val_auc",
                                        "wall_s"]), end="")
        return 0
    print(f"| model | params (M) | MMACs @{size} | test AUC | test ACC | val AUC | wall (s) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| `{r['name']}` | {r['params'] / 1e6:.2f} | {r['macs'] / 1e6:.1f} | {r['test_auc']:.3f} | "
              f"{r['test_acc']:.3f} | {r['val_auc']:.3f} | {r['wall_s']:.0f} |")
    return 0
