"""``medtrain cost``: parameters and multiply-accumulates of a model, layer by layer.

    medtrain cost resnet50 --input 224                 # table, totals, published comparison
    medtrain cost resnet18_28 --input 28 --separable   # savings of the depthwise-separable twin
    medtrain cost med3d_resnet10 --input 28 --in-chans 1   # a 3D network: a 28x28x28 volume
    medtrain cost runs/mm_r18_s0                       # a run's network: its channels, classes and input size
    medtrain cost --conv DK=3,M=512,N=1024,DG=14       # closed form (MobileNets, section 3.1)

``--json`` prints one JSON object: totals under ``params`` and ``macs`` (of the separable model
with ``--separable``; the original's under ``baseline``), and for ``--conv`` the ``standard`` and
``separable`` figures and their ``ratio``. For a run folder, ``run`` names it and ``trainable`` is its
``metrics.json["parameters"]["trainable"]`` (None where not recorded). ``stem`` says which stem a zoo network
was counted with (``"small-input"``: medtrain's, no downsampling stem, at 64 px or less; ``"standard"``; None for
a network without the choice), and with the small one ``standard_stem`` the ``params`` and ``macs`` of the
standard stem at that size (None where it cannot take it): resnet18 at 64 px counts 2.222G MACs, 148M with
its standard stem, which it gets from 65 px.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from medtrain.errors import MedtrainError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "cost",
        help="parameters and multiply-accumulates per layer",
        description=__doc__.split("\n\n")[0].replace("``", ""),  # the docstring's RST quotes are no help text
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="?", help="model name (medtrain models), e.g. resnet50 or resnet18_28-separable; "
                                            "or a run folder: its network as trained, at its input size")
    p.add_argument("--input", type=int, metavar="PX",
                   help="input side in pixels, a volume's side for 3D networks (default 224)")
    p.add_argument("--in-chans", type=int, help="input channels (default 3)")
    p.add_argument("--num-classes", type=int,
                   help="classifier outputs (default 1000, as the papers' ImageNet figures)")
    p.add_argument("--separable", action="store_true",
                   help="also build the depthwise-separable twin and report per-layer savings")
    p.add_argument("--conv", metavar="DK=3,M=512,N=1024,DG=14",
                   help="closed-form cost of one convolution and its depthwise-separable replacement")
    p.add_argument("--all-layers", action="store_true", help="print every layer (default: the 40 costliest)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _parse_conv(spec: str) -> dict:
    out = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key = key.strip().upper()
        if not sep or key not in ("DK", "M", "N", "DG"):
            raise MedtrainError(f"--conv expects DK=..,M=..,N=..,DG=.., got '{spec}'")
        try:
            out[key] = int(value)
        except ValueError:
            raise MedtrainError(f"--conv {key} must be an integer, got '{value}'") from None
    missing = {"DK", "M", "N", "DG"} - set(out)
    if missing:
        raise MedtrainError(f"--conv is missing {', '.join(sorted(missing))}")
    return out


def run(args) -> int:
    from medtrain.models.cost import conv_cost

    if args.conv:
        if args.model:
            raise MedtrainError("give either a MODEL or --conv, not both")
        result = conv_cost(**_parse_conv(args.conv))
        print(json.dumps(result) if args.json else _format_conv(result))
        return 0
    if not args.model:
        raise MedtrainError("give a MODEL (see `medtrain models`), a run folder or --conv DK=..,M=..,N=..,DG=..")
    given = [f for f, v in (("--input", args.input), ("--in-chans", args.in_chans), ("--num-classes",
                                                                                      args.num_classes)) if v is not None]
    if Path(args.model).is_dir():  # a run: its network, its input size and classes, from the run alone
        if given:
            raise MedtrainError(f"{args.model} is a run folder: its network has its own input and classes; leave out "
                                f"{', '.join(given)} (or give its model's name to cost it at other sizes)")
        result = analyse_run(args.model, args.separable)
    else:
        # `is None`, not `or`: a 0 had silently become the default
        size = 224 if args.input is None else args.input
        chans = 3 if args.in_chans is None else args.in_chans
        classes = 1000 if args.num_classes is None else args.num_classes
        bad = [f"{flag} {v}" for flag, v in (("--input", size), ("--in-chans", chans), ("--num-classes", classes))
               if v < 1]
        if bad:
            raise MedtrainError(f"--input, --in-chans and --num-classes must be >= 1, got {', '.join(bad)}")
        result = analyse(args.model, size, chans, classes, args.separable)
    print(json.dumps(result) if args.json else _format_model(result, args.all_layers))
    return 0


def analyse(name: str, input_size: int, in_chans: int = 3, num_classes: int = 1000, separable: bool = False) -> dict:
    """The cost report of ``name`` as a JSON-ready dict (what ``medtrain cost --json`` prints)."""
    from medtrain.models import create_model
    from medtrain.models.input_size import check_input_size

    check_input_size(name, input_size, in_chans)  # the line train gives for a size the network cannot take
    model = create_model(name, in_chans=in_chans, num_classes=num_classes, input_size=input_size)
    return {**_analyse(model, name, input_size, in_chans, num_classes, separable),
            **_stem(name, input_size, in_chans, num_classes, separable)}


def analyse_run(run_dir: str, separable: bool = False) -> dict:
    """:func:`analyse` of a finished run's network as it was trained: rebuilt by the run loader
    (:func:`medtrain.runmodel.load_run_module`, which refuses an unfinished run or a folder that is none) with
    the channels, classes and input size in its weights' metadata; ``trainable`` from its ``metrics.json``."""
    from medtrain import rundir
    from medtrain.runmodel import load_run_module

    run = load_run_module(run_dir)
    meta = run.meta
    out = _analyse(run.module.model, run.cfg.model, int(meta["input_size"]), int(meta["in_chans"]),
                   int(meta["num_classes"]), separable)
    if int(meta.get("spatial_dims", 2)) == 2:  # a volume's network is inflated: no stem choice
        out.update(_stem(run.cfg.model, int(meta["input_size"]), int(meta["in_chans"]), int(meta["num_classes"]),
                         separable))
    recorded = (rundir.read_metrics(run_dir).get("parameters") if rundir.is_finished(run_dir) else None) or {}
    return {**out, "run": str(run_dir), "trainable": recorded.get("trainable")}


def _stem(name: str, input_size: int, in_chans: int, num_classes: int, separable: bool) -> dict:
    """``stem`` and ``standard_stem`` (see the module docstring), from :func:`medtrain.models.input_size.stem_of`,
    of the network as counted (its separable twin with ``separable``)."""
    from medtrain.models.factory import SEPARABLE_SUFFIX
    from medtrain.models.input_size import stem_of

    twin = name if not separable or name.endswith(SEPARABLE_SUFFIX) else name + SEPARABLE_SUFFIX
    stem = stem_of(twin, input_size, in_chans, num_classes)
    return {"stem": stem and stem["stem"], "standard_stem": stem and stem["standard_stem"],
            "standard_stem_fault": stem and stem["standard_fault"]}


def _stem_line(r: dict) -> list:
    """The line under the header that says which stem was counted (none for a network without the choice)."""
    from medtrain.models.zoo import SMALL_INPUT

    if r.get("stem") == "standard":
        return [f"stem: its standard stem (medtrain's small-input stem is for {SMALL_INPUT} px or less)"]
    if r.get("stem") != "small-input":
        return []
    head = f"stem: medtrain's small-input stem (no downsampling stem, at {SMALL_INPUT} px or less), counted below"
    std = r.get("standard_stem")
    if std is None:
        return [f"{head}; its standard stem cannot take {r['input_size']} px ({r.get('standard_stem_fault')})"]
    return [f"{head}; with its standard stem (which it gets at {SMALL_INPUT + 1} px or more) it would count "
            f"{std['macs']:,} MACs ({_si(std['macs'])}, {r['macs'] / max(std['macs'], 1):.1f}x fewer) and "
            f"{std['params']:,} parameters at {r['input_size']} px"]


def _analyse(model, name: str, input_size: int, in_chans: int, num_classes: int, separable: bool) -> dict:
    import torch

    from medtrain.models.cost import compare_published, count_cost, is_3d, separable_savings
    from medtrain.models.separable import to_separable

    if separable and is_3d(model):
        raise MedtrainError(f"--separable converts 2D convolutions; {name} is a 3D network")
    try:
        report = count_cost(model, input_size, in_chans, name=name, num_classes=num_classes)
    except (RuntimeError, AssertionError, ValueError) as e:  # the network shrinks this input to nothing: the
        # line train gives too (medtrain.models.input_size, its one owner), naming the sizes it takes
        from medtrain.models.input_size import input_size_error

        if isinstance(e, torch.OutOfMemoryError) or "can't allocate memory" in str(e):
            # it had been "cannot run on 100000 px inputs: [enforce fail at alloc_cpu.cpp:127] ..." and "it takes 64
            # px or less" (a bad-input walk): the size is not refused by the network, the machine lacks the memory
            raise MedtrainError(f"{name} at {input_size} px: one image's forward pass, which medtrain cost runs to "
                                "count the operations, needs more memory than this machine can give; try a smaller "
                                "--input") from None

        raise input_size_error(name, input_size, in_chans, (str(e).strip().splitlines() or [type(e).__name__])[0],
                               spatial_dims=3 if is_3d(model) else 2) from None
    out = report.to_dict()
    out["published"] = compare_published(report)
    if separable:
        converted = to_separable(model)
        with torch.no_grad():
            after = count_cost(model, input_size, in_chans, name=f"{name}-separable", num_classes=num_classes)
        out = after.to_dict()
        out["published"] = None
        out["baseline"] = {"model": name, "params": report.params, "macs": report.macs}
        out["savings"] = {
            "params": report.params - after.params,
            "macs": report.macs - after.macs,
            "macs_ratio": after.macs / report.macs if report.macs else 1.0,
            "converted_layers": separable_savings(report, after, converted),
        }
    return out


def _si(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3f}{unit}" if unit == "G" else f"{x / scale:.2f}{unit}"
    return f"{x:.0f}"


def _format_conv(r: dict) -> str:
    i, s, d = r["input"], r["standard"], r["separable"]
    dk, m, n, dg = i["DK"], i["M"], i["N"], i["DG"]
    return "\n".join(
        [
            f"{dk}x{dk} convolution, {m} -> {n} channels, {dg}x{dg} output",
            f"  standard             D_K^2*M*N*D_G^2 = {s['macs']:,} mult-adds; D_K^2*M*N = {s['params']:,} params",
            f"  depthwise-separable  D_K^2*M*D_G^2 + M*N*D_G^2 = {d['depthwise_macs']:,} + {d['pointwise_macs']:,}"
            f" = {d['macs']:,} mult-adds; D_K^2*M + M*N = {d['params']:,} params",
            f"  ratio = 1/N + 1/D_K^2 = {r['ratio']:.4f} ({1 / r['ratio']:.1f}x fewer mult-adds)",
        ]
    )


def _format_model(r: dict, all_layers: bool) -> str:
    lines = [f"the network of run {r['run']} (its channels, classes and input size)"] if r.get("run") else []
    lines += [
        f"{r['model']} at {'x'.join([str(r['input_size'])] * r['spatial_dims'])}x{r['in_chans']}, "
        f"{r['num_classes']} classes "
        f"(conv, linear and attention-matmul multiply-accumulates, batch 1)",
        *_stem_line(r),
        "",
        f"{'layer':40s} {'kind':10s} {'kernel':>6s} {'output':>18s} {'params':>10s} {'MACs':>10s}  note",
    ]
    layers = r["layers"]
    shown = layers if all_layers or len(layers) <= 40 else sorted(layers, key=lambda x: -x["macs"])[:40]
    if shown is not layers:
        shown = [layer for layer in layers if layer in shown]  # keep call order
    for layer in shown:
        shape = "x".join(map(str, layer["out_shape"][1:]))
        lines.append(
            f"{layer['name'][:40]:40s} {layer['kind']:10s} {layer['kernel']:>6s} {shape:>18s} "
            f"{_si(layer['params']):>10s} {_si(layer['macs']):>10s}  {layer['note']}"
        )
    if shown is not layers:
        lines.append(f"... {len(layers) - len(shown)} cheaper layers not shown (--all-layers)")
    lines += ["", f"total: {r['params']:,} parameters ({_si(r['params'])}), {r['macs']:,} MACs ({_si(r['macs'])})"]
    if r.get("trainable") is not None and not r.get("savings"):
        lines.append(f"trainable when the run ended: {r['trainable']:,} (metrics.json)")
    in_layers = sum({layer["name"]: layer["params"] for layer in layers}.values())  # a layer called twice: once
    if in_layers != r["params"]:  # the table's params column would not add up to the total without it
        lines.append(f"parameters: {in_layers:,} in the conv and linear layers, {r['params'] - in_layers:,} in "
                     f"normalisation and other layers (no MACs counted for them)")
    by_kind = ", ".join(f"{k} {_si(v)} ({v / r['macs']:.0%})" for k, v in r["macs_by_kind"].items() if r["macs"])
    lines.append(f"MACs by kind: {by_kind}")
    pub = r.get("published")
    if pub:
        lines.append(f"published ({pub['source']}, {pub['input_size']} px):")
        for key in ("macs", "params"):
            p = pub[key]
            if p["published"]:
                lines.append(
                    f"  {key:6s} published {_si(p['published'])}, measured {_si(p['measured'])} ({p['difference']:+.1%})"
                )
        if pub["note"]:
            lines.append(f"  note: {pub['note']}")
    sav = r.get("savings")
    if sav:
        b = r["baseline"]
        lines += ["", f"depthwise-separable conversion of {b['model']}: {len(sav['converted_layers'])} layers converted"]
        lines.append(f"{'layer':40s} {'kernel':>6s} {'M->N':>11s} {'standard':>10s} {'separable':>10s} {'ratio':>7s}")
        for c in sav["converted_layers"]:
            lines.append(
                f"{c['name'][:40]:40s} {c['kernel']:>6s} {str(c['in_channels']) + '->' + str(c['out_channels']):>11s} "
                f"{_si(c['standard_macs']):>10s} {_si(c['separable_macs']):>10s} {c['ratio']:7.3f}"
            )
        lines.append(
            f"total MACs {_si(b['macs'])} -> {_si(r['macs'])} (x{sav['macs_ratio']:.3f}, {_si(sav['macs'])} saved); "
            f"params {_si(b['params'])} -> {_si(r['params'])} ({_si(sav['params'])} saved)"
        )
    return "\n".join(lines)
