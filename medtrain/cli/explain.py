"""``medtrain explain RUN [INPUT...]``: saliency maps of a finished run (see :mod:`medtrain.explain`)."""
from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("explain", help="saliency maps (Grad-CAM, Grad-CAM++, occlusion) of a run's predictions",
                       description="Where the network looks: one map per input at the model's input resolution "
                                   "(a 2D image of another size is resized to it, as predict resizes it; a NIfTI "
                                   "file or DICOM series is read at its size; a .npz or array volume of another "
                                   "size is refused), of one "
                                   "forward pass without test-time views or dropout (MC dropout's too), in [0, 1], "
                                   "written to DIR/maps.npz and DIR/explanations.csv (a row per overlay: input, "
                                   "class, p, method, layer, peak) with an overlay PNG per input (volumes: the three "
                                   "orthogonal slices through the map's peak) and, for a NIfTI input or a DICOM "
                                   "series folder, NNNN_<name>_map.nii.gz: the map (float32, the model's grid) "
                                   "under the affine that lays it over the scan in 3D Slicer, ITK-SNAP or FSLeyes "
                                   "(through the run's --spacing and --volume-size; a DICOM series' in RAS, its "
                                   "patient coordinates with x and y negated, over the series as Slicer loads it).")
    p.add_argument("run_dir", metavar="RUN")
    # default=[]: without a default argparse counts a nargs="*" positional as required, and its error named INPUT
    p.add_argument("inputs", nargs="*", default=[], metavar="INPUT",
                   help="as for predict: image files, folders, a CSV with a path column, a MedMNIST-layout .npz, "
                        "NIfTI files or DICOM series folders, - for paths read from standard input, one a line "
                        "(find scans -name '*.png' | medtrain explain RUN -); none: the run's own --split")
    p.add_argument("--method", default="gradcam", choices=["gradcam", "gradcam++", "occlusion"],
                   help="saliency method (default gradcam). gradcam++ warns, with the measurements, that its maps "
                        "hardly depend on the class asked for on these global-pooling networks: use gradcam or "
                        "occlusion to tell classes apart")
    p.add_argument("--target", default=None, metavar="CLASS",
                   help="class name or index to explain (default: each input's predicted class, as predict "
                        "decides it: a binary run with an operating point (train --operating-point), the class at "
                        "that point, its positive class where that class's calibrated probability >= the "
                        "threshold, else the other (predict's prediction_at_operating_point); otherwise the most "
                        "probable class; multi-label: its label of highest probability, even where none is above "
                        "0.5)")
    p.add_argument("--layer", default=None, metavar="NAME",
                   help="Grad-CAM layer, a module name of the network (default: the deepest stage whose map is "
                        "at least 7 cells a side)")
    p.add_argument("--out", default="explanations", metavar="DIR",
                   help="output folder (default explanations): a folder of its own, not a run folder nor "
                        "an input's folder; an earlier explanation's overlays and NIfTI maps in it are replaced, "
                        "other files kept")
    p.add_argument("--split", default="test", choices=["train", "val", "test"],
                   help="the split of a .npz input, or of the run's own data when no INPUT is given (default test)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="explain the first N inputs only")
    p.add_argument("--skip-bad", action="store_true", help="list and skip unreadable or unfit inputs instead of stopping")
    p.set_defaults(func=run, out_kind="dir")


def run(args) -> int:
    from medtrain.cli.predict import squash_note
    from medtrain.data._volume_notes import notes_once
    from medtrain.explain import explain
    from medtrain.explain.write import check_out
    from medtrain.cli._stdin import with_stdin_paths
    from medtrain.runmodel import load_run_module

    inputs = with_stdin_paths(args.inputs, "explain")  # `-` with nothing piped: an error, never the run's own split
    check_out(args.out, args.run_dir, inputs)  # before the run is loaded; explain() checks the run's own data
    # inputs are read as predict reads them, and their squashed ones said as predict says them, with what the run did
    # with its own images (the note had claimed nothing of the run); the run's own split is at its size, and is read
    # through its folder (its splits.csv checked)
    run = load_run_module(args.run_dir) if inputs else None
    with squash_note(run), notes_once():  # and volumes cut or without air: one line each for all the inputs
        res = explain(args.run_dir if run is None else run, inputs, method=args.method, target=args.target,
                      layer=args.layer, split=args.split, limit=args.limit, skip_bad=args.skip_bad, out=args.out)
        for s in res.skipped:
            print(f"medtrain: skipped {s.name}: {s.reason}", file=sys.stderr)
    where = f" at {res.layer}" if res.layer else ""
    print(f"{len(res.names)} input(s) explained by {res.method}{where} -> {args.out}"
          + (f" ({len(res.skipped)} skipped)" if res.skipped else "")
          + (f"; the maps are of one pass with dropout off, each p the mean of the run's {res.mc_dropout} MC-dropout "
             f"passes, as predict gives it" if res.mc_dropout else ""))
    return 0
