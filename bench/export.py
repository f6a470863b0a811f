"""ONNX export: onnxruntime against PyTorch eager, and which zoo families export.

    python bench/export.py                    # latency (batch 1) and throughput (batch 64), default networks
    python bench/export.py --survey           # also: every family's representative through the dynamo exporter

The default networks (``resnet18_28_half`` on 1x28x28 images, ``med3d_resnet10`` on 1x28x28x28 volumes,
untrained: timings do not depend on the weights) are exported with ``medtrain.export.export_model``
(dynamo exporter, checked against PyTorch) and timed on ``--threads`` CPU threads (2 by default, for both
runtimes): the median of ``--reps`` runs after a warm-up. Progress goes to stderr; the last stdout line is
JSON. Results are written up by hand in ``docs/results/export.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from medtrain.runmodel import untrained_run_model  # noqa: E402
from medtrain.errors import MedtrainError  # noqa: E402
from medtrain.export import ProbabilityGraph, export_model  # noqa: E402

DEFAULTS = {"resnet18_28_half": 2, "med3d_resnet10": 3}
#: one network per zoo family (the smallest), for --survey
FAMILIES = ["resnet18", "resnext50_32x4d", "wide_resnet50_2", "densenet121", "mobilenetv1_025", "mobilenetv2_100",
            "mobilenetv3_small_100", "mnasnet_100", "shufflenet_v2_x0_5", "squeezenet1_1", "googlenet",
            "inception_v3", "inception_resnet_v2", "xception", "alexnet", "vgg11", "vgg11_bn", "resnet10_3d"]


def _median_s(fn, reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def time_network(name: str, dims: int, threads: int, reps: int, size: int) -> dict:
    import onnxruntime as ort

    run = untrained_run_model(name, in_chans=1, num_classes=2, input_size=size, spatial_dims=dims)
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        res = export_model(run, Path(d) / "m.onnx", "onnx", "dynamo")
        export_s = time.perf_counter() - t
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        sess = ort.InferenceSession(str(Path(d) / "m.onnx"), opts, providers=["CPUExecutionProvider"])
    graph = ProbabilityGraph(run).eval()
    out = {"model": name, "input": [1] + [size] * dims, "exporter": res["exporter"],
           "max_abs_diff": res["max_abs_diff"], "export_s": round(export_s, 1)}
    for batch in (1, 64):
        x = torch.rand(batch, 1, *([size] * dims))
        xn = x.numpy()
        with torch.inference_mode():
            eager = _median_s(lambda: graph(x), reps)
        onnx_s = _median_s(lambda: sess.run(None, {"images": xn}), reps)
        key = "latency_ms" if batch == 1 else "throughput_img_s"
        conv = (lambda s: round(s * 1000, 2)) if batch == 1 else (lambda s: round(batch / s, 1))
        out[key] = {"pytorch": conv(eager), "onnxruntime": conv(onnx_s)}
        print(f"{name} batch {batch}: eager {eager * 1000:.1f} ms, onnxruntime {onnx_s * 1000:.1f} ms", file=sys.stderr)
    return out


def survey(names: list[str]) -> list[dict]:
    rows = []
    for name in names:
        dims = 3 if name.endswith("_3d") else 2
        run = untrained_run_model(name, in_chans=3 if dims == 2 else 1, num_classes=4,
                                  input_size=28 if dims == 2 else 16, spatial_dims=dims)
        t = time.perf_counter()
        with tempfile.TemporaryDirectory() as d:
            try:
                r = export_model(run, Path(d) / "m.onnx", "onnx", "dynamo")
                row = {"model": name, "ok": True, "exporter": r["exporter"], "max_abs_diff": r["max_abs_diff"],
                       "fallback": r["fallback"]}
            except MedtrainError as e:
                row = {"model": name, "ok": False, "error": str(e)}
        row["export_s"] = round(time.perf_counter() - t, 1)
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--survey", action="store_true", help="also export one network per zoo family")
    p.add_argument("--names", metavar="A,B", help="the survey's networks (default: one per family)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = {"threads": args.threads, "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
              "load_avg": os.getloadavg()[0],
              "networks": [time_network(n, d, args.threads, args.reps, 28) for n, d in DEFAULTS.items()]}
    if args.survey:
        result["survey"] = survey(args.names.split(",") if args.names else FAMILIES)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
