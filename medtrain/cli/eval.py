"""``medtrain eval RUN_DIR``: re-evaluate a run's saved weights (the kept epoch)."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("eval", help="re-evaluate saved weights on the test split",
                       description="Re-evaluate a run's saved weights (the kept epoch, with its TTA, temperature and "
                                   "threshold) on a split of its data; prints AUC/ACC with CIs and writes "
                                   "RUN_DIR/eval_<split>.json.")
    p.add_argument("run_dir")
    p.add_argument("--split", default="test", choices=["train", "val", "test"],
                   help="the split of the run's data to evaluate (default test); with --data, the split of an .npz")
    p.add_argument("--data", metavar="PATH",
                   help="external testing: score the run on labelled data it never saw, every input as test (a CSV "
                        "path,label[,patient], a folder of class sub-folders or an .npz), with the run's TTA, "
                        "temperature and threshold; writes RUN_DIR/eval_external_<stem>_<hash>.json and its per-image "
                        "predictions_external_<stem>_<hash>.csv (the hash, of the data's resolved path, tells apart "
                        "data of one file name; the same data again writes over its own files), and adds the site to "
                        "RUN_DIR/report.html's External testing section")
    p.add_argument("--skip-bad", action="store_true",
                   help="with --data: list and skip inputs that are missing or do not decode (in the JSON's "
                        "'skipped') instead of stopping")
    p.add_argument("--vs", metavar="OTHER_RUN",
                   help="compare the run with another run scored on the same test images, paired: the difference "
                        "in AUC and ACC with a paired bootstrap interval (MOVER's for a binary AUC with fewer than 30 images of a class), DeLong's and McNemar's p-values; writes "
                        "RUN_DIR/eval_vs_<parent>-<other>_<hash>.json (OTHER_RUN's folder name and its parent's, "
                        "e.g. --vs runs/b writes eval_vs_runs-b_<hash>; the hash, of its resolved path, tells apart "
                        "runs of one name); with --data, both runs are scored on that external data and compared "
                        "there, in eval_vs_<parent>-<other>_on_<stem>_<hash>.json")
    p.set_defaults(func=run)


def run(args) -> int:
    from medtrain.cli.predict import squash_note
    from medtrain.errors import MedtrainError

    if args.skip_bad and not args.data:
        raise MedtrainError("--skip-bad applies to --data (a run's own splits were read when it trained)")
    if args.data == "-":  # predict and explain read paths from stdin; these would carry no labels
        raise MedtrainError("--data - : eval scores labelled data, and paths on standard input carry no labels; give "
                            "a CSV of path,label, a folder of class sub-folders or an .npz")
    if args.vs:
        from medtrain.versus import compare_runs

        if not args.data and args.split != "test":
            raise MedtrainError("--vs compares the two runs' test predictions, or both scored on --data; --split "
                                "chooses the split of a --data .npz only")
        with squash_note():
            compare_runs(args.run_dir, args.vs, data=args.data, split=args.split, skip_bad=args.skip_bad)
        return 0
    if args.data:
        from medtrain.external import evaluate_external
        from medtrain.runmodel import load_run_module

        run = load_run_module(args.run_dir)  # once, for the scores and the note (what the run did with its own images)
        with squash_note(run):  # one line for the inputs squashed to the model's square, as predict says it
            evaluate_external(args.run_dir, args.data, split=args.split, skip_bad=args.skip_bad, run=run)
        return 0
    from medtrain.api import evaluate

    evaluate(args.run_dir, split=args.split)
    return 0
