"""Multiply-accumulates of self-attention's matrix products, which no conv or linear hook sees.

For ViT-style attention over N tokens of C channels with ``num_heads`` heads, q @ k^T and attn @ v are each
N x N x C multiply-accumulates per image (fvcore, behind timm's and DeiT's published figures, counts them too:
ViT-Ti/16 at 224 px has 2 x 197^2 x 192 x 12 = 178.8 M of its 1.25 G). Attention modules compute them in other
ways too: windows (Swin), keys and values of a spatially reduced map (PVT: N x N/R^2), factorised attention
linear in N (CoaT: kᵀv is C x C), attention biases and heads of their own widths (LeViT). A formula from the
input's shape fits only the first (it had counted CoaT-Lite Tiny at 4.44 G MACs, 2.8x its 1.6 G, and missed
PVT's and LeViT's products), so they are measured: every module with an integer ``num_heads`` (timm's
convention, all of the above) is one row per call, holding the multiply-accumulates torch's FLOP counter's
formulas count inside it (FLOPs / 2) less those of the rows recorded inside it (its conv and
linear layers; an attention module within it), so a row holds every matrix product inside the module that no
conv or linear hook sees: BEiT's and the parallel blocks' projections applied through ``F.linear`` are in it (the
total is right, the split by kind is not), and a block with nothing of its own (DaViT's) adds no row. Fused
kernels are counted through their shapes (``scaled_dot_product_attention``: torch's formula, also for the CPU kernel
it lacks one for). On the meta
device it computes nothing, as the other counts. ``nn.MultiheadAttention`` applies its projections through their
weights rather than as modules: a formula counts them (linear) and its products (attention).

(Written here rather than taken from fvcore or torch's counter alone: neither gives a per-layer table whose rows
sum to the total with attention in rows of its own.)
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterator

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry, sdpa_flop_count, shape_wrapper


def is_attention(module: nn.Module) -> bool:
    """Whether ``module`` is an attention module measured here (an integer ``num_heads``, not torch's MHA)."""
    heads = getattr(module, "num_heads", None)
    return (isinstance(heads, int) and not isinstance(heads, bool) and heads >= 1
            and not isinstance(module, nn.MultiheadAttention))


def _fused_cpu_sdpa(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of scaled_dot_product_attention's fused CPU kernel: torch's formula for its fused GPU kernels."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


class _FlopCount(TorchDispatchMode):
    """FLOPs of the ops torch's counter has formulas for, counted as ``FlopCounterMode`` counts them (an op without
    one decomposed where it can be), in one running total. Not ``FlopCounterMode`` itself: its module tracker hooks
    every module's inputs that need gradients, and fails on CaiT's class attention under no_grad ("Expected
    gradient function to be set"); this needs no module attribution (the hooks here do that)."""

    def __init__(self):
        super().__init__()
        self.flops = 0
        self.formulas = dict(flop_registry)
        cpu_sdpa = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
        if cpu_sdpa is not None:
            self.formulas[cpu_sdpa] = shape_wrapper(_fused_cpu_sdpa)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        formula = self.formulas.get(func._overloadpacket)
        if formula is None:
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
        out = func(*args, **kwargs)
        if formula is not None:
            self.flops += formula(*args, **kwargs, out_val=out)
        return out


def _tokens_and_width(args, kwargs, output):
    """(tokens, channels) of an attention call's input, as its row shows them, and the output's shape."""
    x = args[0] if args else next(iter(kwargs.values()), None)
    shape = tuple(x.shape) if hasattr(x, "shape") else ()
    out = output[0] if isinstance(output, (tuple, list)) and output else output
    out_shape = list(out.shape) if hasattr(out, "shape") else []
    if len(shape) == 3:  # (B', N, C) tokens
        return shape[1], shape[2], out_shape
    if len(shape) >= 4:  # (B, C, H, W) maps (LeViT's, ...)
        return math.prod(shape[2:]), shape[1], out_shape  # (not torch.prod: a meta tensor under torch.device("meta"))
    return 0, 0, out_shape


@contextlib.contextmanager
def attention_counted(model: nn.Module, record: Callable[..., None], counted: Callable[[], int]) -> Iterator[None]:
    """While it lasts, each call of an attention module of ``model`` reports ``record(module, kind, **fields)`` with
    the fields of a cost-table row; ``counted()`` is the multiply-accumulates of the rows recorded so far. Measured
    attention needs the forward run inside this context (it counts the ops' FLOPs where the model has any)."""
    handles = [m.register_forward_hook(_mha_hook(record), with_kwargs=True) for m in model.modules()
               if isinstance(m, nn.MultiheadAttention)]
    measured = [m for m in model.modules() if is_attention(m)]
    try:
        if not measured:
            yield
            return
        counter, started = _FlopCount(), []

        def pre(module, args, kwargs):
            started.append((counter.flops, counted()))

        def post(module, args, kwargs, output):
            flops, rows = started.pop()
            macs = (counter.flops - flops) // 2 - (counted() - rows)
            if macs <= 0:  # a block that holds its attention module (DaViT's): nothing of its own to count
                return
            n, c, out = _tokens_and_width(args, kwargs, output)
            record(module, "attention", kernel="", in_channels=c, out_channels=c, groups=module.num_heads,
                   out_shape=out, params=0, macs=max(0, macs),
                   note=f"attention products, {n} tokens" if n else "attention products")

        for m in measured:
            handles.append(m.register_forward_pre_hook(pre, with_kwargs=True))
            handles.append(m.register_forward_hook(post, with_kwargs=True))
        with counter:
            yield
    finally:
        for h in handles:
            h.remove()


def _mha_hook(record: Callable[..., None]):
    """The rows of one ``nn.MultiheadAttention`` call: its projections (linear) and its products (attention)."""

    def mha_hook(module, args, kwargs, output):
        shapes = [args[i].shape if len(args) > i else kwargs[k].shape for i, k in enumerate(("query", "key", "value"))]
        if any(len(s) not in (2, 3) for s in shapes):
            return
        if len(shapes[0]) == 2:  # unbatched (L, E)
            b, lq, lk = 1, shapes[0][0], shapes[1][0]
        elif module.batch_first:
            b, lq, lk = shapes[0][0], shapes[0][1], shapes[1][1]
        else:
            b, lq, lk = shapes[0][1], shapes[0][0], shapes[1][0]
        e = module.embed_dim
        proj = b * (lq * e * e + lk * module.kdim * e + lk * module.vdim * e + lq * e * e)
        params = sum(p.numel() for p in module.parameters())
        out = list(output[0].shape)
        record(module, "linear", kernel="", in_channels=e, out_channels=e, groups=1, out_shape=out, params=params,
               macs=proj, note="q, k, v and output projections")
        record(module, "attention", kernel="", in_channels=e, out_channels=e, groups=module.num_heads,
               out_shape=out, params=0, macs=2 * b * lq * lk * e, note=f"q·kᵀ + attn·v, {lq}x{lk} tokens")

    return mha_hook
