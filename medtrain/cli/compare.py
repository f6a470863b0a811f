"""``medtrain compare --vary KEY=V1,V2 ... --seeds N``: a grid of runs and its summary table."""
from __future__ import annotations

from pathlib import Path

OUT_HELP = ("the grid's folder: a run directory per cell and seed (OUT/KEY=V,.../seedS), summary.md, summary.csv, "
            "summary.tex, report.html, seeds.png and grid.json (the grid it holds: another grid that would drop its "
            "cells is refused; the same grid, or one adding values or seeds, reuses them) (default runs/compare)")


def register(sub) -> None:
    p = sub.add_parser("compare", help="train a grid of settings x seeds and tabulate mean ± std",
                       description="Each cell is a normal run directory under --out; finished cells are skipped.")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2",
                   help="a setting and its values (repeatable; the grid is their product); values holding a comma "
                        "are separated by ';' instead: \"augment=none;flip,shift\". config=A.yaml,B.yaml compares "
                        "whole recipes: each cell's settings are its YAML file's, under the other flags (as train "
                        "--config reads it), the cell named by the file's stem (OUT/config=A/seedS)")
    p.add_argument("--seeds", type=int, default=1, metavar="N",
                   help="every cell trains seeds 0..N-1 (default 1); --seed is refused")
    from medtrain.cli._options import ONE_PROCESS, add_config_flags

    add_config_flags(p, own={"out": OUT_HELP, **ONE_PROCESS}, hidden=("seed",))
    p.set_defaults(func=run, out_kind="dir")


def run(args) -> int:
    from medtrain.compare import compare, parse_vary
    from medtrain.cli._options import config_layers
    from medtrain.config import layered
    from medtrain.errors import MedtrainError

    from_file, flags = config_layers(args)
    grid = parse_vary(args.vary)
    if from_file and "config" in grid:  # two files under the flags: which of them wins would be unsaid
        raise MedtrainError(f"--config {args.config} beside --vary config=...: give the settings all recipes share "
                            f"as flags (they override each recipe's file, as train's flags override --config)")
    base = layered(from_file, flags)  # flags over the file, as train reads them (--data unsets its dataset)
    out = base.pop("out", None) or "runs/compare"
    if "seed" in base:  # it had been dropped silently: every cell runs seeds 0..N-1
        raise MedtrainError(f"--seed {base['seed']}: compare runs seeds 0..N-1 of --seeds N in every cell")
    if args.seeds < 1:
        raise MedtrainError(f"--seeds must be >= 1, got {args.seeds}")
    compare(base, grid, list(range(args.seeds)), out)
    closing(Path(out), bool(grid))
    return 0


def closing(out: Path, varied: bool = True) -> None:
    """The last line: the files the grid wrote beside its cells (the table had ended the output without them), and
    where each cell's runs are: ``KEY=V,...`` folders, or the one cell ``base`` of a grid without ``--vary`` (whose
    line had named ``KEY=V,...`` folders it does not have)."""
    from medtrain._compare_grid import GRID_FILE
    from medtrain.reports.html import SEEDS_FILE
    from medtrain.rundir import REPORT_FILE

    cells = f"each cell's runs: {out / 'KEY=V,...'}/seedS" if varied else f"its runs: {out / 'base'}/seedS"
    print(f"wrote summary.md, summary.csv, summary.tex, {REPORT_FILE}, {SEEDS_FILE} and {GRID_FILE} in {out}; {cells}")
