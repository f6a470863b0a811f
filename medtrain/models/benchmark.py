"""What each network of the zoo costs: the rows of ``medtrain models --measure`` and ``bench/models.py``.

:func:`measure` builds every (selected) network for 1000 classes and 3 channels, as in the Keras
applications table, and adds: parameters, size on disk (bytes of the safetensors file), MACs at 224
and at 28 px (28 px with the adapted stem, see ``medtrain.models.zoo``), CPU latency at batch 1
(224 and 28 px), CPU throughput at 224 px for batch 64 -- or the largest power of two whose forward
fits half the time budget, reported in ``cpu_batch`` -- and the same on the GPU when CUDA is
available; ``reps`` is the fewest timed repetitions behind any of the row's medians (at least
:data:`~medtrain.models.cost.MIN_REPS`, whatever ``--budget``). A network that cannot take 28 px
(:func:`medtrain.models.input_size.size_note`, the rule ``train`` and ``cost`` apply: a ViT's 16 px patches do
not tile it, convnext's stride-32 stages shrink it to nothing) has no 28 px figures, and ``note_28`` says why
("takes 32 px or more"). ``bench/models.py`` runs it for the whole zoo and writes ``docs/results/models.{md,csv}``.
"""
from __future__ import annotations

import csv
import io
from typing import Dict, Iterable, List, Optional

from medtrain.errors import MedtrainError

# One representative per family for --quick (the paper's headline network where there is one).
QUICK = {
    "VGG": "vgg16",
    "ResNet": "resnet50",
    "DenseNet": "densenet121",
    "SqueezeNet": "squeezenet1_1",
    "ShuffleNet v2": "shufflenet_v2_x1_0",
    "MobileNet v1": "mobilenetv1_100",
    "MobileNet v3": "mobilenetv3_large_100",
}

COLUMNS = [
    "family", "name", "source", "params", "size_bytes", "macs_224", "macs_28",
    "cpu_ms_224", "cpu_ms_28", "cpu_ips_224", "cpu_batch", "gpu_ms_224", "gpu_ips_224", "gpu_batch", "reps",
    "note_28",
]


def families() -> Dict[str, dict]:
    """The zoo's families plus any other registered names (``resnet18_28``, ...) under 'other'."""
    from medtrain.models import list_models
    from medtrain.models.zoo import FAMILIES

    out = {k: dict(v, names=list(v["names"])) for k, v in FAMILIES.items()}
    zoo = {n for v in FAMILIES.values() for n in v["names"]}
    others = [n for n in list_models() if n not in zoo]
    if others:
        out["medtrain (registered)"] = {"names": others, "source": "medtrain", "paper": "see each builder's docstring"}
    return out


def select(names: Optional[str], quick: bool, images_only: bool = False) -> List[str]:
    """The names to measure: ``--names`` (any name ``create_model`` takes: medtrain's or timm's), else the zoo
    (one per family with ``quick``). ``images_only``: a 3D network is refused, for the 224/28 px table."""
    from medtrain.models import create_model
    from medtrain.models.cost import is_3d
    from medtrain.models.factory import check_model_name
    from medtrain.models.zoo import FAMILIES

    if names:
        chosen = [n.strip() for n in names.split(",") if n.strip()]
        for n in chosen:
            check_model_name(n)
            if images_only and is_3d(create_model(n.removesuffix("-separable"), in_chans=3, num_classes=2)):
                raise MedtrainError(f"{n} is a 3D network; --measure tables 2D networks at 224 and 28 px: "
                                    f"`medtrain cost {n} --input 28` counts its parameters and MACs on a 28-voxel "
                                    f"cube, `medtrain models --dataset NAME --names {n}` trains it")
        return chosen
    if quick:
        return [QUICK.get(fam, entry["names"][0]) for fam, entry in FAMILIES.items()]
    return [n for entry in FAMILIES.values() for n in entry["names"]]


def _batch_for(seconds_per_image: float, budget: float, largest: int = 64) -> int:
    # Warm-up plus the timed repetitions (at least MIN_REPS) should fit the budget: batch * t1 <= budget / (1 + MIN_REPS).
    from medtrain.models.cost import MIN_REPS

    b = largest
    while b > 1 and b * seconds_per_image > budget / (1 + MIN_REPS):
        b //= 2
    return b


def measure(name: str, budget: float = 10.0, devices: Iterable[str] = ("cpu",), log=None) -> dict:
    """One row of the measured table (see the module docstring for the columns)."""
    import torch

    from medtrain.models import create_model
    from medtrain.models.cost import count_cost, count_parameters, safetensors_bytes, time_forward
    from medtrain.models.input_size import size_note
    from medtrain.models.zoo import family_of

    base = name.removesuffix("-separable")
    row: dict = {c: None for c in COLUMNS}
    row.update(family=family_of(base) or _source(base), name=name)  # a timm name outside the zoo: "timm"
    row["source"] = _source(base)
    model = create_model(name, in_chans=3, num_classes=1000)
    # the rule train and cost apply: a ViT's 16 px patches do not tile 28 px (timm would measure one patch),
    # convnext's stride-32 stages shrink it to nothing; such a row has no 28 px figures, only why
    row["note_28"] = size_note(name, 28)
    small = None if row["note_28"] else create_model(name, in_chans=3, num_classes=1000, input_size=28)
    row["params"] = count_parameters(model)["total"]
    row["size_bytes"] = safetensors_bytes(model)
    row["macs_224"] = count_cost(model, 224).macs
    row["macs_28"] = None if small is None else count_cost(small, 28).macs
    timings = []
    for device in devices:
        prefix = "gpu" if device.startswith("cuda") else "cpu"
        m = model.to(device)
        t1 = time_forward(m, 1, 224, budget_s=budget, device=device)
        row[f"{prefix}_ms_224"] = 1000 * t1["seconds"]
        timings.append(t1)
        if prefix == "cpu" and small is not None:
            timings.append(time_forward(small.to(device), 1, 28, budget_s=budget, device=device))
            row["cpu_ms_28"] = 1000 * timings[-1]["seconds"]
        batch = _batch_for(t1["seconds"], budget)
        # Where only batch 1 fits the budget, throughput is the latency's inverse: no second run.
        tb = t1 if batch == 1 else time_forward(m, batch, 224, budget_s=budget, device=device)
        timings.append(tb)
        row[f"{prefix}_ips_224"] = batch / tb["seconds"]
        row[f"{prefix}_batch"] = batch
        if prefix == "gpu":
            model.cpu()
            torch.cuda.empty_cache()
    row["reps"] = min(t["reps"] for t in timings) if timings else None
    if log:
        log(_format_row(row))
    return row


def _source(name: str) -> str:
    from medtrain.models.zoo import FAMILIES

    from medtrain.models._registry import is_registered

    for entry in FAMILIES.values():
        if name in entry["names"]:
            return entry["source"]
    return "medtrain" if is_registered(name) else "timm"  # create_model takes any other name from timm


def _format_row(row: dict) -> str:
    return (
        f"{row['name']:24s} params {row['params'] / 1e6:7.2f}M  MACs@224 {row['macs_224'] / 1e9:7.3f}G  "
        f"cpu {row['cpu_ms_224']:8.1f} ms  {row['cpu_ips_224']:7.1f} img/s (b{row['cpu_batch']}, "
        f"median of {row['reps']})"
        + (f"  gpu {row['gpu_ms_224']:6.2f} ms {row['gpu_ips_224']:8.0f} img/s" if row.get("gpu_ms_224") else "")
    )


def markdown(rows: List[dict]) -> str:
    """The measured table in the layout of the Keras applications table."""
    gpu = any(r.get("gpu_ms_224") for r in rows)
    head = ["Family", "Model", "Source", "Size (MB)", "Params (M)", "GMACs @224", "MMACs @28",
            "CPU ms @224 (b1)", "CPU ms @28 (b1)", "CPU img/s @224", "(batch)"]
    tail = ["Reps"]  # the fewest timed repetitions behind the row's medians
    if gpu:
        head += ["GPU ms @224 (b1)", "GPU img/s @224", "(batch)"]
    head += tail
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for r in rows:
        cells = [
            r["family"], f"`{r['name']}`", r["source"], f"{r['size_bytes'] / 1e6:.1f}", f"{r['params'] / 1e6:.2f}",
            f"{r['macs_224'] / 1e9:.3f}", _at_28(r, "macs_28", 1e-6, ".1f"),
            f"{r['cpu_ms_224']:.1f}", _at_28(r, "cpu_ms_28", 1, ".2f", note=False), f"{r['cpu_ips_224']:.1f}",
            str(r["cpu_batch"]),
        ]
        if gpu:
            cells += [_fmt(r.get("gpu_ms_224"), ".2f"), _fmt(r.get("gpu_ips_224"), ".0f"), str(r.get("gpu_batch") or "")]
        cells.append(str(r.get("reps") or ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _at_28(row: dict, key: str, scale: float, spec: str, note: bool = True) -> str:
    """A 28 px cell: its figure, or where the network cannot take 28 px a dash and (``note``) why."""
    if row.get("note_28"):
        return f"– ({row['note_28']})" if note else "–"
    return _fmt(None if row.get(key) is None else row[key] * scale, spec)


def _fmt(v, spec: str) -> str:
    return "" if v is None else format(v, spec)


def csv_text(rows: List[dict], columns: Optional[List[str]] = None) -> str:
    """The rows as CSV: the measured table's :data:`COLUMNS`, or ``columns`` (``models --dataset``'s rows)."""
    columns = columns or COLUMNS
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k) for k in columns})
    return buf.getvalue()
