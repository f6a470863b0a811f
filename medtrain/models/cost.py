"""Exact cost of a network: parameters and multiply-accumulates, layer by layer.

Counting follows the papers' "mult-adds" (Howard et al., MobileNets, arXiv:1704.04861; He et al.,
CVPR 2016 "FLOPs" are multiply-adds too): only convolutions and fully connected layers are
counted, one multiply-accumulate (MAC) per weight use, plus attention's matrix products (q·kᵀ and attn·v,
kind "attention", measured per call by :mod:`medtrain.models._attention_cost`: 14% of ViT-Ti/16 at 224 px); biases,
normalisation, activations, pooling, softmax and additions are left out. For a convolution with kernel K_h x K_w,
C_in inputs, C_out outputs, ``groups`` groups and an H_out x W_out output map::

    MACs = K_h * K_w * (C_in / groups) * C_out * H_out * W_out

which covers standard (groups = 1), grouped (ResNeXt) and depthwise (groups = C_in) convolutions.
Counts come from forward hooks on a real forward pass at batch 1 of the model as built for the
given input size, so stems adapted to small inputs, padding and strides are all accounted for. 3D
networks (``nn.Conv3d``, MedicalNet's ResNets) get a cube of that side and count the same way, the
kernel and output map having one more factor (K_d and D_out).
``torch.utils.flop_counter.FlopCounterMode`` gives the same totals (its FLOPs are 2 x MACs) where attention
runs as explicit matmuls (it has no formula for the fused CPU attention kernel, which the attention rows count);
the tests check that.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

import torch
import torch.nn as nn

from medtrain.errors import MedtrainError
from medtrain.models._attention_cost import attention_counted
from medtrain.models._probe_params import unused_parameters

# --- closed forms ---


def conv_cost(DK: int, M: int, N: int, DG: int) -> dict:
    """Cost of a standard convolution and of its depthwise-separable replacement (MobileNets, eq. 1-5).

    Args:
        DK: kernel size D_K (square kernel).
        M: input channels.
        N: output channels.
        DG: spatial size D_G of the (square, stride-1) output map.

    Returns:
        ``{"standard": {"macs", "params"}, "separable": {"macs", "params", "depthwise_macs",
        "pointwise_macs"}, "ratio"}`` with ratio = separable / standard MACs = 1/N + 1/D_K^2
        (e.g. 0.112 for N = 1024, D_K = 3).
    """
    for k, v in dict(DK=DK, M=M, N=N, DG=DG).items():
        if int(v) != v or v < 1:
            raise MedtrainError(f"{k} must be a positive integer, got {v}")
    std_macs = DK * DK * M * N * DG * DG
    dw_macs = DK * DK * M * DG * DG
    pw_macs = M * N * DG * DG
    return {
        "input": {"DK": DK, "M": M, "N": N, "DG": DG},
        "standard": {"macs": std_macs, "params": DK * DK * M * N},
        "separable": {
            "macs": dw_macs + pw_macs,
            "params": DK * DK * M + M * N,
            "depthwise_macs": dw_macs,
            "pointwise_macs": pw_macs,
        },
        # (D_K^2 M D_G^2 + M N D_G^2) / (D_K^2 M N D_G^2) = 1/N + 1/D_K^2 exactly.
        "ratio": (dw_macs + pw_macs) / std_macs,
    }


_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)  # Conv1d: e.g. the ECA attention of timm's ecaresnets


def conv_kind(conv: nn.Conv2d | nn.Conv3d) -> str:
    """``standard``, ``pointwise`` (1x1 or 1x1x1), ``depthwise`` (groups = C_in > 1) or ``grouped``."""
    if conv.groups == 1:
        return "pointwise" if max(conv.kernel_size) == 1 else "standard"
    if conv.groups == conv.in_channels:
        return "depthwise"
    return "grouped"


def conv_macs(conv: nn.Conv2d | nn.Conv3d, out_shape) -> int:
    """K_h K_w (C_in/groups) C_out H_out W_out per sample, ``out_shape`` (B, C, H, W); a 3D convolution
    has K_d and D_out as further factors, ``out_shape`` (B, C, D, H, W)."""
    spatial = out_shape[2:]
    return math.prod(conv.kernel_size) * (conv.in_channels // conv.groups) * conv.out_channels * math.prod(spatial)


def linear_macs(linear: nn.Linear, out_shape) -> int:
    """in_features x out_features per output row: ``out_shape`` at batch 1, whose tokens, and windows folded into
    the batch (Swin: (windows, N, C)), multiply."""
    rows = math.prod(out_shape[:-1])
    return linear.in_features * linear.out_features * rows


# --- per-layer table ---


@dataclass
class LayerCost:
    """One convolution or linear layer, as called in the forward pass."""

    name: str
    kind: str  # standard | pointwise | depthwise | grouped | linear | attention (q·kᵀ and attn·v)
    kernel: str  # "3x3" ("3x3x3" in 3D), "" for linear
    in_channels: int
    out_channels: int
    groups: int
    out_shape: List[int]  # batch 1, e.g. [1, 64, 56, 56] ([1, 64, 14, 14, 14] in 3D)
    params: int
    macs: int
    note: str = ""  # "channel reduction" for 1x1 convolutions with C_out < C_in


@dataclass
class CostReport:
    """Whole-model cost: the per-layer table and the totals."""

    model: str
    input_size: int
    in_chans: int
    num_classes: int
    params: int  # every parameter of the model (normalisation included)
    macs: int  # sum over the table
    layers: List[LayerCost] = field(default_factory=list)
    spatial_dims: int = 2  # 3 for a volume network: the input is a cube of side input_size

    @property
    def macs_by_kind(self) -> Dict[str, int]:
        out: Dict[str, int] = {}
        for layer in self.layers:
            out[layer.kind] = out.get(layer.kind, 0) + layer.macs
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["macs_by_kind"] = self.macs_by_kind
        return d


def count_cost(
    model: nn.Module,
    input_size: int | tuple = 224,
    in_chans: int = 3,
    *,
    name: str = "",
    num_classes: Optional[int] = None,
) -> CostReport:
    """Hook every ``nn.Conv2d``/``nn.Conv3d``/``nn.Linear`` and attention module; run one input of ``input_size`` pixels.

    Args:
        model: a built network (left in the train/eval mode it came in; run in eval, no grad).
        input_size: side of the square input, or of the cubic one for a 3D network (one with ``nn.Conv3d``); or
            the input's spatial shape, ``(H, W)`` / ``(D, H, W)``.
        in_chans: its channels.
        name: label for the report.
        num_classes: for the report only.

    Returns:
        a :class:`CostReport`; layers appear in call order (a module called twice appears twice).
    """
    layers: List[LayerCost] = []
    names = {m: n for n, m in model.named_modules()}

    def hook(module, inputs, output):
        shape = list(output.shape)
        params = sum(p.numel() for p in module.parameters(recurse=False))
        if isinstance(module, _CONVS):
            kind = conv_kind(module)
            note = ""
            if kind == "pointwise" and module.out_channels < module.in_channels:
                note = "channel reduction"
            layers.append(LayerCost(names[module], kind, "x".join(map(str, module.kernel_size)), module.in_channels,
                                    module.out_channels, module.groups, shape, params, conv_macs(module, shape), note))
        else:
            layers.append(
                LayerCost(
                    names[module], "linear", "", module.in_features, module.out_features, 1, shape, params,
                    linear_macs(module, shape),
                )
            )

    spatial = 3 if is_3d(model) else 2
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (*_CONVS, nn.Linear))]
    record = lambda m, kind, **f: layers.append(LayerCost(names[m], kind, **f))  # noqa: E731
    was_training = model.training
    device = next(model.parameters()).device
    try:
        model.eval()
        with torch.no_grad(), attention_counted(model, record, lambda: sum(layer.macs for layer in layers)):
            shape = (input_size,) * spatial if isinstance(input_size, int) else tuple(input_size)
            model(torch.zeros(1, in_chans, *shape, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return CostReport(
        model=name,
        input_size=input_size,
        in_chans=in_chans,
        num_classes=num_classes if num_classes is not None else _guess_classes(model),
        params=count_parameters(model)["total"],
        macs=sum(layer.macs for layer in layers),
        layers=layers,
        spatial_dims=spatial,
    )


def count_parameters(model: nn.Module) -> dict:
    """``{"total": every parameter of model it calls, "trainable": those with requires_grad}`` (a tensor two layers share
    counted once): a run's ``metrics.json["parameters"]`` and :func:`count_cost`'s total. Trainable is what the
    optimiser could move at the end of training: a linear probe's linear layer, a frozen transfer's unfrozen stages."""
    unused = unused_parameters(model)  # a linear probe's network: the part of its source it never calls
    ps = [p for p in model.parameters() if id(p) not in unused]
    return {"total": sum(p.numel() for p in ps), "trainable": sum(p.numel() for p in ps if p.requires_grad)}


def macs_per_image(name: str, in_chans: int, num_classes: int, shape) -> int:
    """The multiply-accumulates of one image of spatial ``shape`` through ``name`` as a run builds it
    (:func:`count_cost`), exact for any shape. The network is built and run on the meta device, which allocates
    and computes nothing: ~0.1 s at any size (a real forward at 224 px took 3.7 s on the shared 2-core CPU). The
    28-px count scaled by the pixels is not exact (stride-2 maps round up: 7.94 G against 7.43 G at 224 px for
    resnet18_28_half)."""
    from medtrain.models.factory import create_model

    with torch.device("meta"):
        model = create_model(name, in_chans=in_chans, num_classes=num_classes, input_size=int(shape[-1]))
    return count_cost(model, tuple(shape), in_chans).macs


def is_3d(model: nn.Module) -> bool:
    """Whether ``model`` convolves volumes, (B, C, D, H, W), rather than images."""
    return any(isinstance(m, nn.Conv3d) for m in model.modules())


def _guess_classes(model: nn.Module) -> int:
    get = getattr(model, "num_classes", None)
    return int(get) if isinstance(get, int) else 0


def separable_savings(before: CostReport, after: CostReport, converted: List[str]) -> List[dict]:
    """Per converted layer: standard MACs/params against depthwise + pointwise ones.

    ``after`` is the cost of the model converted by :func:`medtrain.models.separable.to_separable`
    (whose layer ``X`` became ``X.conv_dw`` + ``X.conv_pw``).
    """
    by_name: Dict[str, LayerCost] = {}
    for layer in before.layers:
        by_name.setdefault(layer.name, layer)
    parts: Dict[str, List[LayerCost]] = {}
    for layer in after.layers:
        for suffix in (".conv_dw", ".conv_pw"):
            if layer.name.endswith(suffix):
                parts.setdefault(layer.name[: -len(suffix)], []).append(layer)
    rows = []
    for name in converted:
        if name not in by_name or name not in parts:
            continue  # converted but never called in the forward pass (e.g. an unused auxiliary head)
        std, sep = by_name[name], parts[name]
        sep_macs = sum(p.macs for p in sep)
        sep_params = sum(p.params for p in sep)
        rows.append(
            {
                "name": name,
                "kernel": std.kernel,
                "in_channels": std.in_channels,
                "out_channels": std.out_channels,
                "out_shape": std.out_shape,
                "standard_macs": std.macs,
                "separable_macs": sep_macs,
                "standard_params": std.params,
                "separable_params": sep_params,
                "macs_saved": std.macs - sep_macs,
                "ratio": sep_macs / std.macs if std.macs else 1.0,
            }
        )
    return rows


# --- published figures ---

PUBLISHED: Dict[str, dict] = {
    # name: totals as published for ImageNet (1000 classes), with the input size they hold for.
    "alexnet": dict(
        input_size=224, macs=724e6, params=61e6, source="Krizhevsky et al. 2012",
        note="torchvision's one-tower variant (64 first-layer filters, arXiv:1404.5997) has ~0.71 GMACs",
    ),
    "vgg11": dict(input_size=224, macs=7.6e9, params=133e6, source="Simonyan & Zisserman 2015, Table 2"),
    "vgg13": dict(input_size=224, macs=11.3e9, params=133e6, source="Simonyan & Zisserman 2015, Table 2"),
    "vgg16": dict(input_size=224, macs=15.5e9, params=138e6, source="Simonyan & Zisserman 2015, Table 2"),
    "vgg19": dict(input_size=224, macs=19.6e9, params=144e6, source="Simonyan & Zisserman 2015, Table 2"),
    "resnet18": dict(input_size=224, macs=1.8e9, params=11.7e6, source="He et al. 2016, Table 1"),
    "resnet34": dict(input_size=224, macs=3.6e9, params=21.8e6, source="He et al. 2016, Table 1"),
    "resnet50": dict(
        input_size=224, macs=3.8e9, params=25.6e6, source="He et al. 2016, Table 1",
        note="timm/torchvision build v1.5 (stride 2 on the 3x3, not the first 1x1, of each downsampling "
        "bottleneck): 4.1 GMACs",
    ),
    "resnet101": dict(
        input_size=224, macs=7.6e9, params=44.5e6, source="He et al. 2016, Table 1", note="v1.5 stride placement: 7.8 GMACs"
    ),
    "resnet152": dict(
        input_size=224, macs=11.3e9, params=60.2e6, source="He et al. 2016, Table 1", note="v1.5 stride placement: 11.5 GMACs"
    ),
    "resnext50_32x4d": dict(input_size=224, macs=4.2e9, params=25.0e6, source="Xie et al. 2017, Table 1"),
    "resnext101_32x4d": dict(input_size=224, macs=7.8e9, params=44.2e6, source="Xie et al. 2017, Table 5"),
    "googlenet": dict(
        input_size=224, macs=1.5e9, params=6.8e6, source="Szegedy et al. 2015, section 5 and Table 1",
        note="torchvision adds batch norm and drops the auxiliary heads (not counted here either)",
    ),
    "inception_v3": dict(
        input_size=299, macs=5.0e9, params=23.8e6, source="Szegedy et al. 2016, section 6",
        note="the paper rounds ('5 billion multiply-adds'); the reference TF-slim network, as built by "
        "timm/torchvision/Keras, has 5.7 GMACs",
    ),
    "xception": dict(input_size=299, macs=None, params=22.9e6, source="Chollet 2017, Table 3"),
    "squeezenet1_0": dict(input_size=224, macs=None, params=1.25e6, source="Iandola et al. 2016, Table 2"),
    "densenet121": dict(input_size=224, macs=2.9e9, params=8.0e6, source="Huang et al. 2017, Figure 3"),
    "mobilenetv1_100": dict(input_size=224, macs=569e6, params=4.2e6, source="Howard et al. 2017, Table 8"),
    "mobilenetv1_075": dict(input_size=224, macs=325e6, params=2.6e6, source="Howard et al. 2017, Table 6"),
    "mobilenetv1_050": dict(input_size=224, macs=149e6, params=1.3e6, source="Howard et al. 2017, Table 6"),
    "mobilenetv1_025": dict(input_size=224, macs=41e6, params=0.5e6, source="Howard et al. 2017, Table 6"),
    "mobilenetv2_100": dict(input_size=224, macs=300e6, params=3.4e6, source="Sandler et al. 2018, Table 4"),
    "mobilenetv3_large_100": dict(input_size=224, macs=219e6, params=5.4e6, source="Howard et al. 2019, Table 3"),
    "mobilenetv3_small_100": dict(input_size=224, macs=56e6, params=2.5e6, source="Howard et al. 2019, Table 4"),
    "shufflenet_v2_x1_0": dict(input_size=224, macs=146e6, params=2.3e6, source="Ma et al. 2018, Table 5"),
}


def compare_published(report: CostReport) -> Optional[dict]:
    """The measured totals against :data:`PUBLISHED`, if the paper's network and input are the ones built.

    Only for a 1000-class, 3-channel model at the published input size (otherwise the comparison is
    meaningless); returns ``None`` when there is nothing to compare.
    """
    pub = PUBLISHED.get(report.model)
    if pub is None or report.num_classes != 1000 or report.in_chans != 3 or report.input_size != pub["input_size"]:
        return None
    out = {"source": pub["source"], "note": pub.get("note", ""), "input_size": pub["input_size"]}
    for key, measured in (("macs", report.macs), ("params", report.params)):
        published = pub.get(key)
        out[key] = {
            "published": published,
            "measured": measured,
            "difference": None if not published else (measured - published) / published,
        }
    return out


# --- measured speed and size ---


def safetensors_bytes(model: nn.Module) -> int:
    """Size of the model's state dict saved as safetensors (exact: the file is built in memory)."""
    from safetensors.torch import save

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    seen: Dict[int, str] = {}
    for k, v in list(state.items()):  # tied tensors are saved once (as save_model does)
        ptr = v.data_ptr()
        if ptr in seen and v.numel():
            state[k] = v.clone()
        seen[ptr] = k
    return len(save(state))


#: Timed repetitions behind every median of :func:`time_forward`, whatever its budget.
MIN_REPS = 3


def time_forward(model: nn.Module, batch: int, input_size: int, in_chans: int = 3, *, budget_s: float = 10.0,
                 max_reps: int = 3, min_reps: int = MIN_REPS, device: str = "cpu") -> dict:
    """Median wall time of eval-mode forwards (after one warm-up) within a time budget.

    At least ``min_reps`` timed repetitions whatever the budget (one forward had been the "median": a stall of a
    shared CPU, a 200x latency), then up to ``max_reps`` within ``budget_s`` (warm-up included); ``reps``: how many.
    """
    max_reps = max(max_reps, min_reps)
    model = model.to(device).eval()
    x = torch.randn(batch, in_chans, input_size, input_size, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    times: List[float] = []
    with torch.inference_mode():
        start = time.perf_counter()
        model(x)  # warm-up: allocator, cudnn/oneDNN algorithm choice
        sync()
        warm = time.perf_counter() - start
        spent = warm
        while len(times) < min_reps or (len(times) < max_reps and spent + times[-1] <= budget_s):
            t0 = time.perf_counter()
            model(x)
            sync()
            times.append(time.perf_counter() - t0)
            spent += times[-1]
    times.sort()
    med = times[len(times) // 2]
    return {"batch": batch, "reps": len(times), "seconds": med, "warmup_seconds": warm}
