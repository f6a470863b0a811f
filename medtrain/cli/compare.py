"""``medtrain compare --vary KEY=V1,V2 ... --seeds N``: a grid of runs and its summary table."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("compare", help="train a grid of settings x seeds and tabulate mean ± std",
                       description="Each cell is a normal run directory under --out; finished cells are skipped.")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2",
                   help="a setting and its values (repeatable; the grid is their product); values holding a comma "
                        "are separated by ';' instead: \"augment=none;flip,shift\"")
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per cell")
    from medtrain.cli._options import add_config_flags

    add_config_flags(p)
    p.set_defaults(func=run, out_kind="dir")


def run(args) -> int:
    from medtrain.compare import compare, parse_vary
    from medtrain.cli._options import config_layers
    from medtrain.errors import MedtrainError

    from_file, flags = config_layers(args)
    base = {**from_file, **flags}
    out = base.pop("out", None) or "runs/compare"
    if "seed" in base:  # it had been dropped silently: every cell runs seeds 0..N-1
        raise MedtrainError(f"--seed {base['seed']}: compare runs seeds 0..N-1 of --seeds N in every cell")
    if args.seeds < 1:
        raise MedtrainError(f"--seeds must be >= 1, got {args.seeds}")
    compare(base, parse_vary(args.vary), list(range(args.seeds)), out)
    return 0
