"""``medtrain export RUN --format onnx|torchscript``: the run as one checked file (see :mod:`medtrain.export`)."""
from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("export", help="export a run to ONNX or TorchScript (checked against PyTorch)",
                       description="Export a run's network with its colour space, normalisation and softmax inside: "
                                   "float32 images in [0, 1] in, class probabilities out, batch dimension dynamic.")
    p.add_argument("run_dir", metavar="RUN")
    p.add_argument("--format", default="onnx", choices=["onnx", "torchscript"], help="file format (default onnx)")
    p.add_argument("--out", default=None, help="output file (default RUN/model.onnx or RUN/model.pt)")
    p.add_argument("--exporter", default=None, choices=["dynamo", "torchscript"],
                   help="ONNX: torch.onnx.export's dynamo exporter (default; falls back to the TorchScript-based "
                        "one if it fails) or the TorchScript-based one")
    p.add_argument("--no-tta", action="store_true",
                   help="leave the run's test-time views out of the graph: one forward pass per image (half the "
                        "time of flip TTA; the run's temperature and threshold were fitted on the averaged views)")
    p.set_defaults(func=run, out_kind="file")


def run(args) -> int:
    from pathlib import Path

    from medtrain.errors import MedtrainError
    from medtrain.export import TOLERANCE, export_run

    if args.exporter and args.format != "onnx":  # it had been ignored without a word
        raise MedtrainError(f"--exporter chooses the ONNX exporter; --format {args.format} has none")
    want = {"onnx": (".onnx",), "torchscript": (".pt", ".pth", ".ts", ".torchscript")}[args.format]
    if args.out and Path(args.out).suffix.lower() not in want:  # an ONNX file named model.pt had been written
        kind = {"onnx": "an ONNX", "torchscript": "a TorchScript"}[args.format]
        others = f" (or {', '.join(want[1:])})" if len(want) > 1 else ""
        raise MedtrainError(f"--out {args.out}: {kind} file is named *{want[0]}{others}")
    if not args.out:
        _check_default_out(args)
    res = export_run(args.run_dir, args.format, args.out, exporter=args.exporter or "dynamo", tta=not args.no_tta)
    if res["fallback"]:
        print(f"medtrain: the dynamo exporter failed ({res['fallback']}); used the TorchScript-based exporter")
    print(f"{res['path']}: {res['format']} via {res['exporter']}; max |exported - PyTorch| = {res['max_abs_diff']:.2e} "
          f"on {res['check']} (limit {TOLERANCE:g})")
    if res.get("mc_dropout"):  # said in the metadata only, it had gone unnoticed: 5 of 156 decisions differed
        print(f"medtrain: note: the run predicts with MC dropout ({res['mc_dropout']} passes averaged); the exported "
              f"file is one pass with dropout off, so its probabilities differ from medtrain predict's (the check "
              f"above is against that one pass), and what the run fitted on its scores (temperature, operating-point "
              f"threshold) was fitted on the mean of the passes: its decisions can differ too (the file's metadata "
              f"says so)",
              file=sys.stderr)
    return 0


def _check_default_out(args) -> None:
    """Without --out the file goes into the run folder (``export_run``'s default, RUN/model.onnx or RUN/model.pt):
    one that cannot be written (an archive, a colleague's) is said before the export's work, with --out as the way
    on ("cannot write in RUN (Permission denied)" had come at the end and named none). A folder that is no run is
    left to ``export_run`` to say so."""
    from pathlib import Path

    from medtrain._io import WriteFailed, check_output
    from medtrain.errors import MedtrainError
    from medtrain.rundir import is_run

    if not is_run(args.run_dir):
        return
    default = Path(args.run_dir) / ("model.onnx" if args.format == "onnx" else "model.pt")
    try:
        check_output(default, probe=True)
    except MedtrainError as e:
        message = f"{e}; give --out FILE to write the exported file elsewhere"
        raise (WriteFailed(message, e.path, e.reason) if isinstance(e, WriteFailed) else MedtrainError(message)) \
            from None
