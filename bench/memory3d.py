"""Peak memory of a 3D run at 28³ and 64³ (issue 6: a 28³ run must fit in 4 GB, a 64³ run in 16 GB).

Only the 28³ MedMNIST files are on this machine, so the 64³ input is made by trilinear upsampling of the
28³ volumes into ``<name>_64.npz`` (same array shapes, dtype and split sizes as the official 64³ file;
memory depends on those alone, accuracy is not measured here). Each setting is one ``medtrain train`` in its
own process (so peak RSS is that run's), for ``--epochs`` epochs, and its ``metrics.json`` gives
``peak_rss_mb`` and, on a GPU, ``peak_gpu_mb``.

    python bench/memory3d.py --sizes 28,64 --batch-sizes 128 --epochs 1 [--accelerator gpu]
        [--precision 32-true,bf16-mixed]

The last line of stdout is JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]


def upsample_npz(src: Path, dst: Path, size: int) -> None:
    """Every ``*_images`` array resized to ``size``³ (trilinear, uint8 kept); labels copied."""
    with np.load(src) as z:
        out = {}
        for k in z.files:
            a = z[k]
            if k.endswith("_images"):
                parts = []
                for i in range(0, len(a), 64):  # chunks keep the float copy small
                    t = torch.from_numpy(a[i:i + 64]).float()[:, None]
                    t = F.interpolate(t, size=(size,) * 3, mode="trilinear", align_corners=False)
                    parts.append(t[:, 0].round().clamp(0, 255).to(torch.uint8).numpy())
                a = np.concatenate(parts)
            out[k] = a
    np.savez(dst, **out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="vesselmnist3d")
    ap.add_argument("--sizes", default="28,64")
    ap.add_argument("--batch-sizes", default="128")
    ap.add_argument("--precision", default="32-true")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--accelerator", default="cpu")
    ap.add_argument("--model", default="auto")
    a = ap.parse_args()
    data = Path(os.environ.get("MEDTRAIN_DATA", ROOT.parent / "shared" / "data"))
    src = data / f"{a.dataset}.npz"
    if not src.is_file():
        print(f"error: {src} not found (set MEDTRAIN_DATA)")
        return 1
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / src.name).symlink_to(src.resolve())
        for size in (int(s) for s in a.sizes.split(",")):
            if size != 28:
                upsample_npz(src, tmp / f"{a.dataset}_{size}.npz", size)
            for bs in (int(b) for b in a.batch_sizes.split(",")):
                for prec in a.precision.split(","):
                    out = tmp / f"run_{size}_{bs}_{prec}"
                    cmd = [sys.executable, "-m", "medtrain", "train", "--dataset", a.dataset, "--size", str(size),
                           "--data-dir", str(tmp), "--model", a.model, "--epochs", str(a.epochs),
                           "--batch-size", str(bs), "--precision", prec, "--accelerator", a.accelerator,
                           "--bootstrap", "0", "--no-progress", "--out", str(out)]
                    print("+", " ".join(cmd), flush=True)
                    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
                    row = {"size": size, "batch_size": bs, "precision": prec, "epochs": a.epochs}
                    if p.returncode != 0:
                        row["error"] = (p.stderr.strip().splitlines() or ["?"])[-1]
                    else:
                        m = json.loads((out / "metrics.json").read_text())
                        row.update({k: round(m[k], 1) for k in ("peak_rss_mb", "peak_gpu_mb", "wall_s",
                                                                 "train_images_per_s") if k in m})
                        row["device"] = m.get("device", "cpu")
                        row["model"] = m["model"]
                    results.append(row)
                    print(json.dumps(row), flush=True)
    print(json.dumps({"dataset": a.dataset, "runs": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
