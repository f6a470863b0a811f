"""Benchmark: does ``torch.compile`` (inductor, C++ kernels on a CPU) raise the training-step rate of the
default network enough to pay for its compile time inside a run's budget?

Two copies of the network with the same weights, one eager and one compiled in place
(``nn.Module.compile()``: the state dict keeps its keys), each trained by the same forward/backward/AdamW step
in the default run's setting (bf16 autocast where the CPU has it, channels-last, batch 64 for images). The
first compiled steps include the compilation: its seconds are reported apart. Then settings are interleaved
round by round, so a noisy machine slows them alike; the ratio compiled/eager in the same round is what counts.

    python bench/compile.py                       # resnet18_28_half, 28x28, batch 64, 5 rounds of 20 steps
    python bench/compile.py --model med3d_resnet10 --dims 3 --batch 128 --steps 5

The last line of stdout is JSON: compile seconds, median images/s of each, the median paired ratio, and the
break-even: how many training images a run must see before the compile time is paid back.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import time


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet18_28_half")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--dims", type=int, choices=(2, 3), default=2)
    p.add_argument("--fp32", action="store_true", help="float32 instead of bf16 autocast")
    args = p.parse_args()

    import torch

    from medtrain.models import create_model

    torch.manual_seed(0)
    eager = create_model(args.model, in_chans=1, num_classes=2, input_size=28)
    last = torch.channels_last if args.dims == 2 else torch.channels_last_3d
    eager = eager.to(memory_format=last)
    compiled = copy.deepcopy(eager)
    compiled.compile()
    opts = {"eager": torch.optim.AdamW(eager.parameters(), 1e-3),
            "compiled": torch.optim.AdamW(compiled.parameters(), 1e-3)}
    nets = {"eager": eager, "compiled": compiled}
    x = torch.randn(args.batch, 1, *(28,) * args.dims).contiguous(memory_format=last)
    y = torch.randint(0, 2, (args.batch,))

    def step(name: str) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not args.fp32):
            loss = torch.nn.functional.cross_entropy(nets[name](x).float(), y)
        opts[name].zero_grad()
        loss.backward()
        opts[name].step()

    t = time.perf_counter()
    for _ in range(3):  # the first call compiles forward and backward; later ones may specialise once more
        step("compiled")
    compile_s = time.perf_counter() - t
    step("eager")
    rates = {k: [] for k in nets}
    for r in range(args.rounds):
        for name in nets:
            t = time.perf_counter()
            for _ in range(args.steps):
                step(name)
            rates[name].append(args.steps * args.batch / (time.perf_counter() - t))
        print(f"round {r}: " + ", ".join(f"{k} {v[-1]:.0f} img/s" for k, v in rates.items()), flush=True)
    eager_rate, compiled_rate = (statistics.median(rates[k]) for k in ("eager", "compiled"))
    per_image_saved = 1 / eager_rate - 1 / compiled_rate
    out = {"model": args.model, "dims": args.dims, "batch": args.batch, "bf16": not args.fp32,
           "threads": torch.get_num_threads(), "compile_s": round(compile_s, 1),
           "images_per_s": {"eager": round(eager_rate, 1), "compiled": round(compiled_rate, 1)},
           "ratio_compiled_to_eager": round(statistics.median(c / e for c, e in zip(rates["compiled"],
                                                                                     rates["eager"])), 3),
           "break_even_images": round(compile_s / per_image_saved) if per_image_saved > 0 else None}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
