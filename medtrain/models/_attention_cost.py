"""Multiply-accumulates of self-attention's two matrix products, which no conv or linear hook sees.

Per attention call on an input of B' x N tokens x C channels with ``num_heads`` heads of ``head_dim``
channels, q @ k^T and attn @ v are each B' x heads x N x N x head_dim multiply-accumulates::

    MACs = 2 x B' x N^2 x (num_heads x head_dim)

(fvcore, behind timm's and DeiT's published figures, counts them too: ViT-Ti/16 at 224 px has
2 x 197^2 x 192 x 12 = 178.8 M of its 1.25 G). B' is the batch times the windows for windowed attention
(Swin), so it is divided by the real batch as the other counts are. Counted for any module with an integer
``num_heads`` and an ``nn.Linear`` ``qkv`` fed (B', N, C) tokens (timm's ViT/DeiT/BEiT ``Attention``, Swin's
``WindowAttention``, ...) and for ``nn.MultiheadAttention`` (whose in- and out-projections, applied through
their weights rather than as modules, are counted here too, as linear). Other attention modules (their
products done in a way these shapes do not describe) are left uncounted, as before.
"""
from __future__ import annotations

from typing import Callable, List, Optional

import torch.nn as nn


def _qkv_attention_dim(module: nn.Module) -> Optional[int]:
    """heads x head_dim of a timm-style attention module, ``None`` if it is not one."""
    heads, qkv = getattr(module, "num_heads", None), getattr(module, "qkv", None)
    if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1 or not isinstance(qkv, nn.Linear):
        return None
    if qkv.out_features % 3:
        return None
    dim = getattr(module, "attn_dim", None)
    if not isinstance(dim, int):
        head_dim = getattr(module, "head_dim", None)
        dim = heads * head_dim if isinstance(head_dim, int) else qkv.out_features // 3
    return dim if dim * 3 == qkv.out_features else None


def _first_tensor_shape(args, kwargs, key: str):
    x = args[0] if args else kwargs.get(key)
    return tuple(x.shape) if hasattr(x, "shape") else None


def register_attention_hooks(model: nn.Module, record: Callable[..., None], batch: int = 1) -> List:
    """Hook every countable attention module of ``model``; each call reports ``record(module, kind, **fields)``
    with the fields of a cost-table row (per image: divided by ``batch``). Returns the hook handles."""

    def timm_hook(module, args, kwargs, output):
        shape = _first_tensor_shape(args, kwargs, "x")
        dim = _qkv_attention_dim(module)
        if shape is None or len(shape) != 3 or shape[-1] != module.qkv.in_features or dim is None:
            return  # not the (B', N, C) layout the formula describes: left uncounted
        b, n, c = shape
        out = list(output.shape) if hasattr(output, "shape") else [1, n, c]
        record(module, "attention", kernel="", in_channels=c, out_channels=dim, groups=module.num_heads,
               out_shape=out, params=0, macs=2 * b * n * n * dim // batch, note=f"q·kᵀ + attn·v, {n} tokens")

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
        proj = b * (lq * e * e + lk * module.kdim * e + lk * module.vdim * e + lq * e * e) // batch
        params = sum(p.numel() for p in module.parameters())
        out = list(output[0].shape)
        record(module, "linear", kernel="", in_channels=e, out_channels=e, groups=1, out_shape=out, params=params,
               macs=proj, note="q, k, v and output projections")
        record(module, "attention", kernel="", in_channels=e, out_channels=e, groups=module.num_heads,
               out_shape=out, params=0, macs=2 * b * lq * lk * e // batch, note=f"q·kᵀ + attn·v, {lq}x{lk} tokens")

    handles = []
    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):
            handles.append(m.register_forward_hook(mha_hook, with_kwargs=True))
        elif _qkv_attention_dim(m) is not None:
            handles.append(m.register_forward_hook(timm_hook, with_kwargs=True))
    return handles
