"""2D -> 3D inflation of a 2D network and its weights (I3D).

Carreira & Zisserman, "Quo Vadis, Action Recognition? A New Model and the Kinetics Dataset", CVPR 2017:
a 2D convolution kernel ``w`` of size k x k becomes a 3D kernel of size k x k x k by repeating ``w``
k times along the new depth axis and dividing by k. On a volume whose slices are all the same image,
the 3D convolution then computes exactly what the 2D one computes on that image, so every pre-trained
2D filter, normalisation statistic and classifier keeps its meaning ("boring video" fixed point).

:func:`inflate_model` deep-copies a 2D model and swaps its modules for 3D twins in place, so the model's
own ``forward`` code runs unchanged on ``(B, C, D, H, W)`` batches. Supported: Conv2d, BatchNorm2d,
Max/AvgPool2d, adaptive pools, Dropout2d, ZeroPad2d and timm's global pooling; ``Linear``, activations,
GroupNorm and other shape-agnostic modules are kept. Any other ``*2d`` module, and the known modules whose
own forward is 2D-only code, raise a MedtrainError naming them, instead of failing later inside
``forward``. Of the zoo, the ResNet/ResNeXt/Wide ResNet families (timm's and ``resnet*_28``, also as
``-separable`` twins), AlexNet and SqueezeNet inflate; the others are refused (timm's fused
``BatchNormAct2d``, VGG's pre-logits, GoogLeNet's ``BasicConv2d``, ShuffleNet's channel shuffle, timm
Xception's own ``SeparableConv2d``). :func:`check_inflatable` tells from a model name alone, so that a
configuration can be refused before any data is loaded.

Depth borders: with zero padding along depth a border slice sees zeros where a 2D network saw nothing,
so activations match the 2D network only away from the first and last slices. ``padding_mode=
"replicate"`` pads depth by repeating the border slice instead, which makes the identity exact
everywhere (height and width keep the 2D model's own padding).
"""
from __future__ import annotations

import copy
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from medtrain.errors import MedtrainError
from medtrain.models.separable import SeparableConv2d

PADDING_MODES = ("zeros", "replicate")


class DepthPadConv3d(nn.Conv3d):
    """Conv3d whose depth padding repeats the border slice; height/width padding is the usual zeros.

    A subclass of ``nn.Conv3d`` so that the parameters keep the names ``weight`` and ``bias``.
    """

    def __init__(self, *args, depth_pad: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.depth_pad = int(depth_pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.depth_pad:
            x = F.pad(x, (0, 0, 0, 0, self.depth_pad, self.depth_pad), mode="replicate")
        return super().forward(x)


class DepthPad(nn.Module):
    """Replicate-pad the depth axis before a wrapped 3D pooling layer (whose depth padding is 0)."""

    def __init__(self, pool: nn.Module, depth_pad: int):
        super().__init__()
        self.pool = pool
        self.depth_pad = int(depth_pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.depth_pad:
            x = F.pad(x, (0, 0, 0, 0, self.depth_pad, self.depth_pad), mode="replicate")
        return self.pool(x)


class GlobalPool3d(nn.Module):
    """Global pooling of a 3D map for timm's fast pools: ``avg``, ``max``, ``avgmax`` or ``catavgmax``."""

    def __init__(self, pool_type: str = "avg", flatten: bool = True):
        super().__init__()
        self.pool_type, self.flatten = pool_type, flatten

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = x.mean((2, 3, 4), keepdim=True)
        mx = x.amax((2, 3, 4), keepdim=True)
        out = {"avg": lambda: avg, "max": lambda: mx, "avgmax": lambda: 0.5 * (avg + mx),
               "catavgmax": lambda: torch.cat((avg, mx), 1)}[self.pool_type]()
        return out.flatten(1) if self.flatten else out


def _pair(v) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def inflate_conv(conv: nn.Conv2d, depth_kernel: Optional[int] = None, padding_mode: str = "zeros") -> nn.Conv3d:
    """Inflate one Conv2d: kernel (k, k) -> (t, k, k) with ``t = depth_kernel or k``, weights repeated / t.

    Stride, padding and dilation along depth copy those along height.
    """
    kh, kw = conv.kernel_size
    t = int(depth_kernel or kh)
    (sh, sw), (dh, dw) = conv.stride, conv.dilation
    if isinstance(conv.padding, str):  # "same" / "valid"
        pad3 = conv.padding
        pd = (dh * (t - 1)) // 2 if conv.padding == "same" else 0
    else:
        ph, pw = _pair(conv.padding)
        pd = ph if t == kh else (dh * (t - 1)) // 2
        pad3 = (pd, ph, pw)
    if conv.padding_mode != "zeros":
        # The 2D model pads with reflect/circular/replicate on all sides: keep that on all three axes.
        kwargs = dict(padding=pad3, padding_mode=conv.padding_mode)
        cls = nn.Conv3d
    elif padding_mode == "replicate" and pd and not isinstance(pad3, str):
        kwargs = dict(padding=(0, pad3[1], pad3[2]), depth_pad=pd)
        cls = DepthPadConv3d
    else:
        kwargs = dict(padding=pad3)
        cls = nn.Conv3d
    conv3 = _uninitialised(cls, conv.in_channels, conv.out_channels, (t, kh, kw), stride=(sh, sh, sw),
                           dilation=(dh, dh, dw), groups=conv.groups, bias=conv.bias is not None,
                           device=conv.weight.device, dtype=conv.weight.dtype, **kwargs)
    with torch.no_grad():  # w / t at every depth: one pass, the values of repeat(...) / t
        conv3.weight.copy_((conv.weight / t).unsqueeze(2).expand_as(conv3.weight))
        if conv.bias is not None:
            conv3.bias.copy_(conv.bias)
    conv3.train(conv.training)
    return conv3


#: draws skipped per call of :func:`_skip_draws` (its buffer: 1 MiB)
_SKIP_CHUNK = 1 << 20


def _skip_draws(n: int) -> None:
    """Advance torch's CPU generator by ``n`` 32-bit draws, as ``uniform_`` of ``n`` float32 values does (one draw
    each): ``random_`` of a byte takes one draw too and writes no float, but costs nearly as much, about 80% of
    ``uniform_``'s time (512x512x3x3x3 + 512 values, one thread, medians of 7 in six rounds on a loaded 2-core CPU:
    0.66-1.10 of it, median 0.83)."""
    buf = torch.empty(min(n, _SKIP_CHUNK), dtype=torch.uint8)
    while n > 0:
        k = min(n, _SKIP_CHUNK)
        buf[:k].random_()
        n -= k


def _uninitialised(cls, *args, device, dtype, **kwargs) -> nn.Conv3d:
    """``cls(*args, **kwargs)`` without its random initialisation, which the inflated weights overwrite
    (built on the meta device, then given uninitialised memory, as :func:`torch.nn.utils.skip_init` does: 0.3 ms for
    a 512x512x3x3x3 convolution). The draws it must still take (:func:`_skip_draws`) pay most of that back: net, a
    fifth to a third less time than the initialised construction (one thread: 40.6 -> 32.0 ms in a review; medians
    of 7 on a loaded 2-core CPU, 87 -> 55 ms over six rounds, each round between 0.46 and 1.5 of it).

    The random stream stays as the initialisation left it: later draws read it (a default 3D ensemble's next
    network, built after this one; the augmentation), so the generator is advanced by the draws
    ``reset_parameters`` takes (kaiming-uniform weight and uniform bias: one per float32 value). Elsewhere (another
    device's generator, another dtype's draws) the convolution is built as it is, initialisation and all."""
    if torch.device(device).type != "cpu" or dtype != torch.float32:
        return cls(*args, device=device, dtype=dtype, **kwargs)
    # (torch.nn.utils.skip_init's way; it refuses DepthPadConv3d, whose signature hides ``device`` in **kwargs)
    conv3 = cls(*args, device="meta", dtype=dtype, **kwargs).to_empty(device=device)
    _skip_draws(sum(p.numel() for p in conv3.parameters(recurse=False)))
    return conv3


def inflate_batchnorm(bn: nn.BatchNorm2d) -> nn.BatchNorm3d:
    """BatchNorm2d -> BatchNorm3d with the same affine parameters and running statistics."""
    bn3 = nn.BatchNorm3d(bn.num_features, eps=bn.eps, momentum=bn.momentum, affine=bn.affine,
                         track_running_stats=bn.track_running_stats, device=_device(bn))
    bn3.load_state_dict(bn.state_dict())
    bn3.train(bn.training)
    return bn3


def _device(m: nn.Module):
    for t in list(m.parameters()) + list(m.buffers()):
        return t.device
    return None


def _inflate_pool(pool: nn.Module, padding_mode: str) -> nn.Module:
    k, s, p = (_pair(pool.kernel_size), _pair(pool.stride if pool.stride is not None else pool.kernel_size),
               _pair(pool.padding))
    replicate = padding_mode == "replicate" and p[0] > 0
    pad3 = (0 if replicate else p[0], p[0], p[1])
    if isinstance(pool, nn.MaxPool2d):
        # Max-pool pads with -inf, which never wins against repeated slices: no special depth border.
        return nn.MaxPool3d((k[0], k[0], k[1]), (s[0], s[0], s[1]), (p[0], p[0], p[1]),
                            dilation=(_pair(pool.dilation)[0],) + _pair(pool.dilation),
                            ceil_mode=pool.ceil_mode, return_indices=pool.return_indices)
    out = nn.AvgPool3d((k[0], k[0], k[1]), (s[0], s[0], s[1]), pad3, ceil_mode=pool.ceil_mode,
                       count_include_pad=pool.count_include_pad, divisor_override=pool.divisor_override)
    return DepthPad(out, p[0]) if replicate else out


def _adaptive_size(size) -> tuple:
    # Depth is always pooled to 1: the flattened feature size, and so every Linear after it, is unchanged.
    h, w = _pair(size)
    return (1, h, w)


#: Modules whose own ``forward`` is 2D-only code (a 2D functional, a 4-dim reshape), so swapping their
#: children cannot make them 3D: timm VGG's pre-logits (``F.adaptive_avg_pool2d``), torchvision
#: ShuffleNet v2's blocks (channel shuffle on ``(B, C, H, W)``) and timm's patch embedding of vision transformers
#: (``B, C, H, W = x.shape``: a ViT on volumes had failed there with a traceback). (module, class name)
_2D_ONLY_FORWARD = {("timm.models.vgg", "ConvMlp"), ("torchvision.models.shufflenetv2", "InvertedResidual"),
                    ("timm.layers.patch_embed", "PatchEmbed")}


#: timm's global pools (SelectAdaptivePool2d holds one of these), fixed to 2D by their dims: their 3D pool type
_FAST_POOLS = {"FastAdaptiveAvgPool": "avg", "FastAdaptiveMaxPool": "max", "FastAdaptiveAvgMaxPool": "avgmax",
               "FastAdaptiveCatAvgMaxPool": "catavgmax"}
_TWINNED = (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
            nn.Dropout2d, nn.ZeroPad2d)


def _has_twin(m: nn.Module, path: str) -> bool:
    """Whether :func:`_convert` swaps ``m`` for a 3D twin (False: kept, its children visited); a MedtrainError
    naming ``path`` where ``m`` cannot be inflated. Builds nothing, so a model is judged before it is copied."""
    name = type(m).__name__
    if (type(m).__module__, name) in _2D_ONLY_FORWARD:
        raise MedtrainError(f"cannot inflate {path or 'the model'} of type {name}: its forward is 2D-only code")
    if type(m) in _TWINNED or name in _FAST_POOLS:
        return True
    if name in ("AdaptiveAvgMaxPool2d", "AdaptiveCatAvgMaxPool2d"):
        if _pair(getattr(m, "output_size", 1)) != (1, 1):
            raise MedtrainError(f"cannot inflate {path} ({name} with output size {m.output_size})")
        return True
    if name == "SelectAdaptivePool2d" or isinstance(m, SeparableConv2d):
        return False  # containers: timm's holds the pool, medtrain's separable conv two Conv2d (converted)
    if name.endswith("2d") or isinstance(m, (nn.Conv2d, nn.BatchNorm2d)):
        # A subclass or unknown 2D layer would silently run 2D code (or fail) inside forward: refuse.
        raise MedtrainError(f"cannot inflate {path or 'the model'} of type {name}: no 3D twin is known")
    return False


def _check_children(module: nn.Module, prefix: str) -> None:
    """:func:`_has_twin` over the modules :func:`_inflate_children` visits, in its order: the first refusal it
    would meet, raised before anything is copied or inflated (VGG had copied 129M parameters and inflated its
    ``features`` before its pre-logits were refused)."""
    for name, child in module.named_children():
        path = f"{prefix}.{name}" if prefix else name
        if not _has_twin(child, path):
            _check_children(child, path)


def _convert(m: nn.Module, padding_mode: str, path: str) -> Optional[nn.Module]:
    """The 3D twin of ``m``, or None if ``m`` is kept as it is (its children are then visited)."""
    if not _has_twin(m, path):
        return None
    name = type(m).__name__
    if type(m) is nn.Conv2d:
        return inflate_conv(m, padding_mode=padding_mode)
    if type(m) is nn.BatchNorm2d:
        return inflate_batchnorm(m)
    if type(m) in (nn.MaxPool2d, nn.AvgPool2d):
        return _inflate_pool(m, padding_mode)
    if type(m) is nn.AdaptiveAvgPool2d:
        return nn.AdaptiveAvgPool3d(_adaptive_size(m.output_size))
    if type(m) is nn.AdaptiveMaxPool2d:
        return nn.AdaptiveMaxPool3d(_adaptive_size(m.output_size), return_indices=m.return_indices)
    if type(m) is nn.Dropout2d:
        return nn.Dropout3d(m.p, m.inplace)
    if type(m) is nn.ZeroPad2d:
        left, right, top, bottom = m.padding
        return nn.ZeroPad3d((left, right, top, bottom, 0, 0))
    if name in _FAST_POOLS:
        return GlobalPool3d(_FAST_POOLS[name], flatten=bool(getattr(m, "flatten", False)))
    return GlobalPool3d("avgmax" if name == "AdaptiveAvgMaxPool2d" else "catavgmax", flatten=False)


def _inflate_children(module: nn.Module, padding_mode: str, prefix: str) -> None:
    for name, child in module.named_children():
        path = f"{prefix}.{name}" if prefix else name
        new = _convert(child, padding_mode, path)
        if new is None:
            _inflate_children(child, padding_mode, path)
        else:
            setattr(module, name, new)


#: Zoo families whose networks inflate (tested over the whole zoo); ``None`` stands for medtrain's own
#: 2D names outside the zoo's families (``resnet18_28``, ``resnet10_28_half``, ...), all ResNets.
INFLATABLE_FAMILIES = frozenset({"ResNet", "ResNeXt", "Wide ResNet", "AlexNet", "SqueezeNet", None})


def check_inflatable(name: str) -> None:
    """Raise a MedtrainError naming the family if the 2D network ``name`` cannot be inflated to 3D.

    Meant for checking a configuration before any data is loaded; ``inflate_model`` itself refuses the
    same networks when they are built. Names medtrain does not register (timm pass-through) and 3D
    networks are not judged here.
    """
    from medtrain.models import _registry
    from medtrain.models.factory import SEPARABLE_SUFFIX
    from medtrain.models.zoo import family_of

    base = name.removesuffix(SEPARABLE_SUFFIX)
    if not _registry.is_registered(base) or base.endswith("_3d") or base.startswith("med3d_"):
        return
    family = family_of(base)
    if family not in INFLATABLE_FAMILIES:
        raise MedtrainError(
            f"model {name} ({family}) cannot be inflated to 3D for volumes: choose a 3D network (med3d_resnet10, "
            f"resnet18_3d, ...) or a 2D ResNet, ResNeXt, Wide ResNet, AlexNet or SqueezeNet"
        )


def inflate_model(model2d: nn.Module, padding_mode: str = "zeros") -> nn.Module:
    """Build the 3D twin of a 2D CNN with inflated weights (I3D, Carreira & Zisserman 2017).

    Args:
        model2d: a 2D model, e.g. ``create_model("resnet18_28", in_chans=1)``, a timm ResNet or an
            ``nn.Sequential`` CNN. It is not modified.
        padding_mode: depth padding of inflated convolutions and average pools, ``"zeros"`` (the
            standard I3D choice) or ``"replicate"`` (exact 2D equivalence on repeated slices, also at
            the first and last slice).

    Returns:
        a deep copy of ``model2d`` taking ``(B, C, D, H, W)`` volumes, with the same parameter names
        (3D kernels) and the same classifier.

    Raises:
        MedtrainError: a module has no known 3D twin, or ``padding_mode`` is unknown.
    """
    if padding_mode not in PADDING_MODES:
        raise MedtrainError(f"padding_mode must be one of {', '.join(PADDING_MODES)}, got '{padding_mode}'")
    if not _has_twin(model2d, ""):
        _check_children(model2d, "")  # a refusal costs no copy
    model = copy.deepcopy(model2d)
    root = _convert(model, padding_mode, "")
    if root is not None:
        return root
    _inflate_children(model, padding_mode, "")
    cfg = getattr(model, "pretrained_cfg", None)
    if isinstance(cfg, dict) and "input_size" in cfg and len(cfg["input_size"]) == 3:
        c, h, w = cfg["input_size"]
        model.pretrained_cfg = {**cfg, "input_size": (c, h, h, w)}
    return model
