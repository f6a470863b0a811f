"""Measured table of the architecture zoo: size, parameters, MACs, latency and throughput.

    python bench/models.py                  # whole zoo, 10 s per timing
    python bench/models.py --quick          # one network per family, 3 s per timing
    python bench/models.py --names resnet18,vgg16 --budget 5

Writes ``docs/results/models.md`` and ``docs/results/models.csv`` (the exact command, machine and
load at the top) and prints one progress line per network on stderr; the last stdout line is a JSON
summary. Networks are built for 1000 classes and 3 channels (the Keras applications layout);
MACs come from ``medtrain.models.cost.count_cost``, timings from ``medtrain.models.benchmark.measure``
(eval mode, inference mode, median of up to 3 repetitions after a warm-up, within the budget;
throughput at batch 64 or the largest power of two that fits half the budget).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medtrain._io import write_text  # noqa: E402
from medtrain.models import benchmark  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one network per family, 3 s budget")
    p.add_argument("--names", metavar="A,B", help="only these networks")
    p.add_argument("--budget", type=float, default=None, help="seconds per timing per network (default 10; 3 quick)")
    p.add_argument("--out", default=None, help="folder for models.md and models.csv (the published ones: "
                   "docs/results; a quick check must not overwrite them); default: write neither")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    budget = args.budget if args.budget is not None else (3.0 if args.quick else 10.0)
    names = benchmark.select(args.names, args.quick)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    command = "python bench/models.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    load_before = os.getloadavg()
    start = time.time()
    rows = []
    for name in names:
        rows.append(benchmark.measure(name, budget, devices, log=lambda s: print(s, file=sys.stderr, flush=True)))
    wall = time.time() - start
    load_after = os.getloadavg()
    gpu = torch.cuda.get_device_name(0) if "cuda" in devices else "none"
    header = [
        "# Architecture zoo: size, cost and speed",
        "",
        f"Command: `{command.strip()}` (from the repository root; {wall / 60:.1f} min wall time).",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch "
        f"{torch.__version__} with {torch.get_num_threads()} threads; GPU: {gpu}. Load average "
        f"{load_before[0]:.1f} before and {load_after[0]:.1f} after: the machine was shared with other jobs, so "
        "CPU timings are pessimistic and noisy (compare networks within this table, not with other machines).",
        "",
        "Networks built for 1000 classes, 3 channels (as in the Keras applications table). Size: bytes of the "
        "safetensors file of the state dict. MACs: multiply-accumulates of convolutions and linear layers at "
        "batch 1 (`medtrain cost NAME --input 224`); at 28 px the stems are adapted (see `medtrain/models/zoo.py`). "
        f"Timings: eval mode, median of up to 3 forwards after a warm-up, {budget:g} s budget per timing; "
        "throughput at batch 64 or, where that would not fit half the budget, the largest power of two that does "
        "(column `(batch)`; at batch 1 it is the inverse of the latency).",
        "",
        "",
    ]
    footer = [
        "",
        "Notes:",
        "",
        "- A network's batch-1 latency and its batch throughput are timed at different moments of a shared "
        "machine, so throughput can fall below 1/latency; treat CPU timings as good to about 2x.",
        "- Not in the table: the fixed-size 28 px ResNets (`resnet18_28`, ... : `--names resnet18_28`), the "
        "depthwise-separable twins (`--names resnet18_28-separable`), GPU columns (added automatically when CUDA "
        "is available) and the accuracy-vs-cost scatter (`medtrain models --dataset NAME`, which trains each network briefly: `models_accuracy.md`).",
        "- Published totals and where the implementations differ (ResNet v1.5, Inception v3, AlexNet): "
        "`medtrain cost NAME --input 224`.",
        "",
    ]
    out = Path(args.out) if args.out else None
    if out is not None:
        write_text(out / "models.md", "\n".join(header) + benchmark.markdown(rows) + "\n".join(footer))
        write_text(out / "models.csv", f"# {command.strip()}\n" + benchmark.csv_text(rows))
    summary = {
        "networks": len(rows),
        "wall_s": round(wall, 1),
        "budget_s": budget,
        "devices": devices,
        "outputs": [str(out / "models.md"), str(out / "models.csv")] if out is not None else [],
        "macs_224": {r["name"]: r["macs_224"] for r in rows},
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
