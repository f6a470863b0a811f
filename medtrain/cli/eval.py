"""``medtrain eval RUN_DIR``: re-evaluate a run's saved weights (the kept epoch)."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("eval", help="re-evaluate saved weights on the test split",
                       description="Re-evaluate a run's saved weights (the kept epoch, with its TTA, temperature and "
                                   "threshold) on a split of its data; prints AUC/ACC with CIs and writes "
                                   "RUN_DIR/eval_<split>.json.")
    p.add_argument("run_dir")
    p.add_argument("--split", default="test", choices=["train", "val", "test"],
                   help="the split of the run's data to evaluate (default test)")
    p.set_defaults(func=run)


def run(args) -> int:
    from medtrain.api import evaluate

    evaluate(args.run_dir, split=args.split)
    return 0
