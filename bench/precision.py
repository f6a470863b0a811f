"""Benchmark: training-step throughput of the default 2D network in float32 against bfloat16 autocast
(Lightning's ``bf16-mixed``) and channels-last, on this machine's CPU.

The issue asks whether bf16 autocast pays on a CPU that reports ``avx512_bf16``. Each setting runs the same
forward/backward/AdamW step on a batch of 128 28x28 images, settings interleaved round by round so a noisy,
shared machine slows them alike; the ratio to float32 (contiguous) in the same round is what counts.
The last line of stdout is JSON: median images/s per setting and the median ratio to float32.

    python bench/precision.py            # 5 rounds of 10 steps
    python bench/precision.py --rounds 2 --steps 3
    python bench/precision.py --model med3d_resnet10 --dims 3 --batch 32   # the default 3D network, 28^3
"""
from __future__ import annotations

import argparse
import json
import statistics
import time


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet18_28_half")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--dims", type=int, choices=(2, 3), default=2, help="2: 28x28 images, 3: 28^3 volumes")
    args = p.parse_args()

    import torch

    from medtrain.models import create_model

    torch.manual_seed(0)
    model = create_model(args.model, in_chans=1, num_classes=2, input_size=28)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x = torch.randn(args.batch, 1, *(28,) * args.dims)
    last = torch.channels_last if args.dims == 2 else torch.channels_last_3d
    y = torch.randint(0, 2, (args.batch,))
    settings = {"fp32": (False, False), "bf16": (True, False), "fp32_channels_last": (False, True),
                "bf16_channels_last": (True, True)}

    def step(bf16: bool, channels_last: bool) -> None:
        xx = x.contiguous(memory_format=last) if channels_last else x
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(xx).float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    rates = {k: [] for k in settings}
    for r in range(args.rounds):
        for name, (bf16, cl) in settings.items():
            model.to(memory_format=last if cl else torch.contiguous_format)
            step(bf16, cl)  # warm-up: oneDNN picks its kernels
            t = time.perf_counter()
            for _ in range(args.steps):
                step(bf16, cl)
            rates[name].append(args.steps * args.batch / (time.perf_counter() - t))
        print(f"round {r}: " + ", ".join(f"{k} {v[-1]:.0f} img/s" for k, v in rates.items()), flush=True)
    out = {"model": args.model, "dims": args.dims, "batch": args.batch, "threads": torch.get_num_threads(),
           "images_per_s": {k: statistics.median(v) for k, v in rates.items()},
           "ratio_to_fp32": {k: statistics.median(a / b for a, b in zip(v, rates["fp32"])) for k, v in rates.items()}}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
