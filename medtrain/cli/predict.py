"""``medtrain predict RUN INPUT...``: apply a finished run to new images (see :mod:`medtrain.predict`)."""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from medtrain.errors import MedtrainError


def register(sub) -> None:
    p = sub.add_parser("predict", help="predict new images, folders, CSVs, .npz splits or volumes with a run",
                       description="Class probabilities of new inputs, preprocessed as the run's own images "
                                   "(size, channels, colour space, normalisation, TTA, MC dropout, calibration temperature).")
    p.add_argument("run_dir", metavar="RUN")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files, folders (recursive), a CSV with a path column, a MedMNIST-layout .npz, "
                        "NIfTI files or DICOM series folders (3D runs); - reads their paths from standard input, one "
                        "a line, relative to the current folder (find scans -name '*.png' | medtrain "
                        "predict RUN -); a file named - is ./-. A CSV's patient column (the run's --group-column, "
                        "else patient, patient_id, subject or group) is copied into every row of its images, after "
                        "input and named as in the CSV; its other columns are not")
    p.add_argument("--out", default=None, help="output file (default predictions.csv, or predictions.json with --json), "
                                                    "written whole or not at all; - for standard output, where CSV "
                                                    "rows stream out as predicted (an input failing part-way leaves "
                                                    "those before it, exit status 2)")
    p.add_argument("--json", action="store_true", help="write JSON instead of CSV")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="the split of a .npz input (default test)")
    p.add_argument("--skip-bad", action="store_true", help="list and skip unreadable or unfit inputs instead of stopping")
    p.add_argument("--no-calibration", action="store_true",
                   help="raw probabilities, without the run's calibration temperature (the same decisions at its "
                        "operating point, whose threshold is then stated on the raw probabilities: mapped through T)")
    p.add_argument("--no-tta", action="store_true",
                   help="one view per image instead of the run's test-time views (half the time of flip TTA; "
                        "the run's temperature and threshold were fitted on the averaged views)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="images per forward pass (default: 256 for inputs up to 64 px, fewer for larger ones: 20 at "
                        "224 px, 4 at 512 px)")
    p.set_defaults(func=run, out_kind="file")


@contextlib.contextmanager
def squash_note(run=None):
    """Say the inputs squashed to the model's square in one line on stderr afterwards (predict, explain, eval
    --data): :func:`medtrain.predict_inputs.squashes_once`, which ``Predictor.predict`` says as a warning; explain had
    printed two raw warning lines per image. ``run`` (the :class:`~medtrain.runmodel.RunModel` predicting): the line
    says whether its training images were resized so too; without it, nothing is claimed of them."""
    from medtrain._predict_squash import squashes_once

    with squashes_once(run, say=lambda line: print(f"medtrain: {line}", file=sys.stderr)):
        yield


def run(args) -> int:
    from medtrain._io import STDOUT, is_stream
    from medtrain.predict import id_columns, inputs_except_out, load, write_predictions
    from medtrain.cli._stdin import with_stdin_paths

    _check_out_suffix(args.out, args.json)  # before the run is loaded
    inputs = with_stdin_paths(args.inputs, "predict")  # before the run is loaded: a wrong `-` is said at once
    if args.batch_size is not None and args.batch_size < 1:  # the flag named (load's check speaks of batch_size)
        raise MedtrainError(f"--batch-size must be a whole number >= 1, got {args.batch_size}")
    predictor = load(args.run_dir, batch_size=args.batch_size, calibrated=not args.no_calibration, tta=not args.no_tta)
    out = args.out or ("predictions.json" if args.json else "predictions.csv")
    items = inputs_except_out(inputs, predictor, out, split=args.split,  # --out img.png of img.png: refused
                              skip_bad=args.skip_bad)
    ids = id_columns(inputs, predictor.run)  # a CSV's patient column, carried into the output to join on
    show = sys.stderr.isatty()  # a progress line on a terminal, nothing in logs

    def progress(n: int) -> None:
        print(f"\rpredicted {n} input(s)", end="", file=sys.stderr, flush=True)

    with squash_note(predictor.run):
        n, skipped = write_predictions(predictor, items, out, as_json=args.json, skip_bad=args.skip_bad,
                                       progress=progress if show else None, ids=ids)
        if show and n:
            print(file=sys.stderr)
        for s in skipped:
            print(f"medtrain: skipped {s.name}: {s.reason}", file=sys.stderr)
    # `--out -` / /dev/stdout: the predictions are the standard output, this line must not join them
    print(f"{n} input(s) predicted -> {'standard output' if out == STDOUT else out}"
          + (f" ({len(skipped)} skipped)" if skipped else "")
          + _what_was_written(predictor.settings(), _temperature_rule(args.run_dir)),
          file=sys.stderr if is_stream(out) else sys.stdout)
    return 0


def _check_out_suffix(out, as_json: bool) -> None:
    """Refuse an --out named for the other format (``--json --out p.csv``, or ``--out p.json`` without --json): JSON
    had been written into a .csv name (a bad-input walk), which a spreadsheet then fails to read. Other names (a
    .txt, no suffix) are written as asked."""
    suffix = Path(out).suffix.lower() if out else ""
    wrong = {".csv": "CSV", ".tsv": "CSV"} if as_json else {".json": "JSON"}
    if suffix in wrong:
        writes = "JSON (--json)" if as_json else "CSV (without --json)"
        raise MedtrainError(f"--out {out}: predict writes {writes}, not {wrong[suffix]}; give a name ending in "
                            f"{'.json' if as_json else '.csv'}{'' if as_json else ', or add --json'}")


def _temperature_rule(run_dir) -> str | None:
    """How the run decided its temperature (``metrics.json``'s ``calibration.rule``: ``"fitted"``, ``"kept 1:
    ..."``); None where it does not say (a model handed on without its ``metrics.json``, an older run)."""
    from medtrain._io.run_files import read_metrics
    from medtrain.errors import MedtrainError

    try:
        rule = read_metrics(run_dir)["calibration"]["rule"]
    except (MedtrainError, KeyError, TypeError):
        return None
    return rule if isinstance(rule, str) else None


def _what_was_written(s: dict, rule: str | None = None) -> str:
    """The probabilities' calibration and the operating point's rule and threshold, for the closing line: a CSV
    handed on without its run folder is read with them (the JSON output records them in its header). The threshold
    is on the scale of the probabilities written: with ``--no-calibration``, the run's mapped through its temperature
    (:func:`medtrain.operating_point.threshold_on_raw_scale`), both named. ``rule``:
    how the run decided its temperature (:func:`_temperature_rule`), which says why a temperature of 1 is 1."""
    said = []
    if s["temperature"] == 1:
        kept = "kept 1: "
        if rule and rule.startswith(kept + "T = "):  # fitted, and rejected: it raised the validation ECE
            why = f"temperature kept at 1: the fitted {rule[len(kept):]}"
        elif rule and rule.startswith(kept):  # none fitted: validation has no error to scale
            why = f"no temperature fitted: {rule[len(kept):]}"
        else:  # fitted as 1, or a run that does not say how
            why = "temperature 1"
        said.append(f"probabilities as the network gives them ({why})")
    elif s["temperature"] is not None:
        from medtrain.evaluation.calibration import temperature_text  # digits that tell a fitted 1.0022 from 1

        t = temperature_text(s["temperature"])
        said.append(f"temperature-scaled (T = {t})" if s["calibrated"] else
                    f"raw probabilities (the run's temperature {t} not applied)")
    # raw probabilities of a run with T != 1: the threshold(s) on them, the run's mapped through T (the line had
    # stated the calibrated threshold beside raw columns, which contradicted the decisions)
    mapped = not s["calibrated"] and s["temperature"] not in (None, 1)
    scale = "raw" if mapped else "calibrated"
    if s["operating_point"] and "thresholds" in s:  # a multi-label run: one threshold per label
        from medtrain.operating_point import kept_clause

        t, kept = list(s["thresholds"].values()), s.get("not_chosen") or []
        said.append(f"prediction_at_operating_point: {s['operating_point']}, the labels whose {scale} probability "
                    f">= their own threshold ({len(t)} thresholds, {min(t):.3g} to {max(t):.3g}"
                    + (f", the run's on the calibrated probabilities mapped through T = {s['temperature']:.3g}"
                       if mapped else "") + (f"; {kept_clause(kept)}" if kept else "")
                    + "; each in a CSV's threshold_at_operating_point:<label> columns, --json's header)")
    elif s["operating_point"]:
        said.append(f"prediction_at_operating_point: {s['operating_point']}, {s['positive_class']} where its "
                    f"{scale} probability >= {s['threshold']:.6g}"
                    + (f" (the run's threshold {s['threshold_on_calibrated']:.6g} on the calibrated probability, "
                       f"mapped through T = {s['temperature']:.3g})" if mapped else ""))
    return "; " + "; ".join(said) if said else ""
