"""``medtrain advise --source RUN --target DATASET``: which transfer strategy the target calls for."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("advise", help="recommend a transfer strategy from a source run to a target dataset",
                       description="Measure the target's size (images per class) and its similarity to the "
                                   "source data in the source model's features, and recommend a quadrant of "
                                   "small/large x similar/different.")
    p.add_argument("--source", required=True, metavar="RUN_DIR",
                   help="the source model A: a medtrain run directory (required)")
    p.add_argument("--target", required=True, metavar="DATASET", help="a MedMNIST name or a local data path (required)")
    p.add_argument("--max-images", type=int, default=1000, help="training images drawn from each dataset for the similarity measures (default 1000)")
    p.add_argument("--small-per-class", type=int, default=1000,
                   help="below this many training images per class the target is small (default 1000)")
    p.add_argument("--similar-below", type=float, default=0.75,
                   help="domain-classifier accuracy below which the datasets are similar (default 0.75)")
    p.add_argument("--verify", action="store_true", help="train the recommendation and its alternatives briefly")
    p.add_argument("--budget-epochs", type=int, default=3, help="epochs per --verify run (default 3)")
    p.add_argument("--out", default=None, help="--verify run directories (default runs/advise/<target>)")
    p.add_argument("--json", dest="json_out", default=None, metavar="PATH", help="also write the advice as JSON")
    p.set_defaults(func=run, out_kind="dir")


def run(args) -> int:
    from pathlib import Path

    import math

    from medtrain._io import check_output, write_json
    from medtrain.errors import MedtrainError
    from medtrain.transfer.advisor import advise, verify

    if args.max_images < 10:
        raise MedtrainError(f"--max-images must be >= 10, got {args.max_images}")
    if args.budget_epochs < 1:
        raise MedtrainError(f"--budget-epochs must be >= 1, got {args.budget_epochs}")
    if args.small_per_class < 1:  # a count of images per class: -1 had made every target "large"
        raise MedtrainError(f"--small-per-class must be >= 1 (training images per class), got {args.small_per_class}")
    if not (math.isfinite(args.similar_below) and 0.5 <= args.similar_below <= 1):  # nan, inf had been taken
        raise MedtrainError(f"--similar-below is a domain-classifier accuracy: give a number from 0.5 (chance) to 1, "
                            f"got {args.similar_below}")
    if args.json_out:  # before the measuring: a folder or an unwritable place had failed only at the end
        check_output(args.json_out, what="--json ", probe=True)
    advice = advise(args.source, args.target, max_images=args.max_images, small_per_class=args.small_per_class,
                    similar_below=args.similar_below)
    print(advice.report(), flush=True)
    out = {"advice": advice.to_dict()}
    if args.verify:
        target_name = Path(args.target).stem
        rows = verify(advice, args.out or f"runs/advise/{target_name}", epochs=args.budget_epochs)
        out["verify"] = rows
    if args.json_out:
        write_json(args.json_out, out)
    return 0
