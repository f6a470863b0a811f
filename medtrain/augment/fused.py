"""One-pass execution of the common "flip, random-resized crop, colour jitter, erasing, CutMix" pipeline.

Running those ops one after the other costs one full pass over a float batch each; on a CPU at
224 x 224 each such pass is bound by memory bandwidth, not arithmetic. :class:`FusedPipeline` draws
exactly the same per-sample random parameters as the separate ops and applies them together:

* flip + crop + resize are one resampling straight to the output size (a flip is a negated x scale);
* brightness, contrast, saturation and hue are one per-sample 3x3 matrix plus offset
  (:func:`medtrain.augment.intensity.jitter_matrices`), with the uint8 -> [0, 1] scaling folded in;
* erasing and CutMix then only touch their boxes.

Two executions, same results up to rounding:

* batched (any device; the default on GPUs and for small images): ``grid_sample`` over the batch;
* threaded (``mode="per_sample"``, the default on CPUs): the batch is cut into pieces that hold whole
  CutMix pairs and fit in cache, spread over a thread pool (torch kernels release the GIL; each pool
  thread runs single-threaded kernels). Large images go one pair at a time, each crop resized in
  uint8 by ``F.interpolate`` (antialiased, like torchvision) and written once to the output; small
  images go in groups of pairs through the batched kernels.

Use :func:`fuse` to turn an op list (e.g. ``build_batch_augment(...)``) into a FusedPipeline when it
allows, or build one directly.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medtrain.augment.erasing import RandomErasing, box_mask, sample_erasing_boxes
from medtrain.augment.geometric import (RandomFlip, RandomResizedCrop, _size2, check_prob, check_range,
                                        crop_grid, sample_crop_boxes)
from medtrain.augment.intensity import ColorJitter, jitter_matrices, sample_jitter_factors
from medtrain.augment.mixing import CutMix, _check_alpha, cutmix_boxes, mix_targets, sample_lam
from medtrain.errors import MedtrainError

_POOLS: dict[int, ThreadPoolExecutor] = {}

# From this many output pixels per sample on, CPU work goes one CutMix pair at a time (uint8 resize per
# sample); below it, groups of pairs of about _PIECE_FLOATS floats go through the batched kernels.
_PAIR_MIN_PIXELS = 64 * 64
_PIECE_FLOATS = 1 << 18


def _pool(n: int) -> ThreadPoolExecutor:
    if n not in _POOLS:
        prev = torch.get_num_threads()
        # Parallelism comes from the pool's threads; intra-op threads nested inside them would only contend
        # for the same cores (and OpenMP barriers collapse when the machine is oversubscribed).
        _POOLS[n] = ThreadPoolExecutor(n, thread_name_prefix="medtrain-aug",
                                       initializer=torch.set_num_threads, initargs=(1,))
        list(_POOLS[n].map(lambda _: None, range(n)))  # start the threads now
        torch.set_num_threads(prev)  # keep the caller's own setting
    return _POOLS[n]


class FusedPipeline(nn.Module):
    """Flip -> random-resized crop -> colour jitter -> random erasing -> CutMix in one pass.

    Every stage is optional (``None`` disables it). Inputs may be uint8 ``(B, C, H, W)`` straight from
    the dataset (values 0..255) or float in [0, 1]; C is 3, or 1 (jitter: brightness/contrast only).

    Args:
        size: output size (int or ``(H, W)``); default: the input size.
        flip_p: horizontal flip probability (``None``/0: no flip).
        rrc: ``(scale, ratio)`` ranges of the random-resized crop, or ``None`` for no crop.
        jitter: ``(brightness, contrast, saturation, hue)`` strengths, or ``None``.
        erasing: ``(p, scale, ratio, value)`` of random erasing (``value`` a number or "random"), or ``None``.
        cutmix_alpha: CutMix's Beta concentration, or ``None``.
        out_dtype: ``torch.float32`` (values in [0, 1]) or ``torch.uint8`` (0..255, rounded).
        mode: "auto", "batched" or "per_sample".
        threads: worker threads of the per-sample mode (default: ``torch.get_num_threads()``).
    """

    def __init__(self, size=None, flip_p: float | None = 0.5, rrc=((0.08, 1.0), (3 / 4, 4 / 3)),
                 jitter=(0.4, 0.4, 0.4, 0.1), erasing=(0.5, (0.02, 0.33), (0.3, 3.3), 0.0),
                 cutmix_alpha: float | None = 1.0, out_dtype: torch.dtype = torch.float32, mode: str = "auto",
                 threads: int | None = None):
        super().__init__()
        self.size = size
        self.flip_p = check_prob("flip probability", flip_p or 0.0)
        if rrc is not None:
            rrc = (check_range("rrc scale", rrc[0], 0.0, 1.0, low_open=True),
                   check_range("rrc ratio", rrc[1], 0.0, None, low_open=True))
        self.rrc = rrc
        if jitter is not None:
            ColorJitter(*jitter)  # validates
            jitter = tuple(float(v) for v in jitter)
        self.jitter = jitter
        if erasing is not None:
            e = RandomErasing(*erasing)
            erasing = (e.p, e.scale, e.ratio, e.value)
        self.erasing = erasing
        self.cutmix_alpha = None if cutmix_alpha is None else _check_alpha("cutmix", cutmix_alpha)
        if out_dtype not in (torch.float32, torch.uint8):
            raise MedtrainError(f"FusedPipeline out_dtype must be float32 or uint8, got {out_dtype}")
        self.out_dtype = out_dtype
        if mode not in ("auto", "batched", "per_sample"):
            raise MedtrainError(f"FusedPipeline mode must be auto, batched or per_sample, got {mode!r}")
        self.mode = mode
        self.threads = threads

    @classmethod
    def from_ops(cls, ops: Sequence[nn.Module], **kwargs) -> "FusedPipeline | None":
        """The fused equivalent of ``ops`` if they are a subsequence of flip, rrc, jitter, erasing, cutmix."""
        order = [RandomFlip, RandomResizedCrop, ColorJitter, RandomErasing, CutMix]
        cfg: dict = dict(flip_p=None, rrc=None, jitter=None, erasing=None, cutmix_alpha=None)
        pos = 0
        for op in ops:
            kinds = [i for i, t in enumerate(order) if type(op) is t]
            if not kinds or kinds[0] < pos:
                return None
            pos = kinds[0] + 1
            if isinstance(op, RandomFlip):
                if op.dim not in (-1, 3):
                    return None
                cfg["flip_p"] = op.p
            elif isinstance(op, RandomResizedCrop):
                if op.flip_p:
                    return None
                cfg["rrc"] = (op.scale, op.ratio)
                kwargs.setdefault("size", op.size)
            elif isinstance(op, ColorJitter):
                cfg["jitter"] = (op.brightness, op.contrast, op.saturation, op.hue)
            elif isinstance(op, RandomErasing):
                cfg["erasing"] = (op.p, op.scale, op.ratio, op.value)
            elif isinstance(op, CutMix):
                if op.p < 1:
                    return None
                cfg["cutmix_alpha"] = op.alpha
        return cls(**cfg, **kwargs)

    # -- random parameters ------------------------------------------------------------------------------

    def sample_params(self, b: int, c: int, h: int, w: int, device) -> dict:
        """All random numbers for one batch, drawn in a fixed order from torch's global generator."""
        oh, ow = _size2(self.size, h, w)
        p: dict = {"out_size": (oh, ow)}
        flip = torch.rand(b, device=device) < self.flip_p if self.flip_p > 0 else torch.zeros(b, dtype=torch.bool,
                                                                                              device=device)
        if self.rrc is not None:
            top, left, ch, cw = sample_crop_boxes(b, h, w, *self.rrc, device=device)
            # The crop is drawn on the flipped image; mirror it back so flipping can come last.
            left = torch.where(flip, w - left - cw, left)
        else:
            z = torch.zeros(b, dtype=torch.long, device=device)
            top, left, ch, cw = z, z, torch.full_like(z, h), torch.full_like(z, w)
        p.update(flip=flip, crop=(top, left, ch, cw))
        if self.jitter is not None:
            p["jitter"] = sample_jitter_factors(b, *self.jitter, device=device)
        if self.erasing is not None:
            ep, es, er, _ = self.erasing
            p["erase"] = sample_erasing_boxes(b, oh, ow, ep, es, er, device)
        if self.cutmix_alpha is not None:
            lam = sample_lam(b, self.cutmix_alpha, device)
            *box, lam = cutmix_boxes(lam, oh, ow)
            p.update(cut=tuple(box), lam=lam)
        return p

    # -- execution --------------------------------------------------------------------------------------

    def forward(self, x: Tensor, y: Tensor, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Augment ``x`` ``(B, C, H, W)`` and mix ``y`` ``(B, K)``; write into ``out`` if given."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise MedtrainError(f"FusedPipeline expects (B, 1 or 3, H, W), got shape {tuple(x.shape)}")
        if x.dtype != torch.uint8 and not x.is_floating_point():
            raise MedtrainError(f"FusedPipeline expects uint8 or float images, got {x.dtype}")
        b, c, h, w = x.shape
        p = self.sample_params(b, c, h, w, x.device)
        oh, ow = p["out_size"]
        if out is None:
            out = torch.empty(b, c, oh, ow, dtype=self.out_dtype, device=x.device)
        mode = self.mode
        if mode == "auto":
            mode = "per_sample" if x.device.type == "cpu" else "batched"
        if mode == "batched":
            self._batched(x, p, out)
        else:
            self._threaded(x, p, out)
        if "lam" in p:
            y = mix_targets(y, p["lam"])
        return out, y

    def _colour(self, p: dict, c: int, in_max: float, device) -> tuple[Tensor | None, Tensor | None, Tensor]:
        """Per-sample ``(A (B,c,c), k (B,), luma (c,))`` with 1/in_max and the output scale folded in."""
        out_max = 255.0 if self.out_dtype == torch.uint8 else 1.0
        s = out_max / in_max
        if "jitter" not in p:
            return None, None, torch.ones(c, device=device) / c
        f = p["jitter"]
        if c == 3:
            a, k, luma = jitter_matrices(f)
        else:
            bc = (f[:, 0] * f[:, 1]).float()
            a, k, luma = bc[:, None, None], (f[:, 0] * (1 - f[:, 1])).float(), torch.ones(1, device=device)
        return a * s, k * s, luma

    def _batched(self, x: Tensor, p: dict, out: Tensor) -> None:
        """The whole of ``x`` at once: one ``grid_sample``, one ``baddbmm``, box masks. ``out`` may alias nothing."""
        b, c, h, w = x.shape
        oh, ow = p["out_size"]
        in_max = 255.0 if x.dtype == torch.uint8 else 1.0
        out_max = 255.0 if self.out_dtype == torch.uint8 else 1.0
        src = x.float() if x.dtype != torch.float32 else x
        grid = crop_grid(*p["crop"], h, w, oh, ow, p["flip"])
        r = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)
        a, k, luma = self._colour(p, c, in_max, x.device)
        flat = r.view(b, c, -1)
        if a is not None:
            m = flat.mean(2) @ luma  # mean luma per sample, in input units
            r = torch.baddbmm((k * m)[:, None, None].expand(b, c, 1), a, flat).view(b, c, oh, ow)
        elif out_max != in_max:
            r = r.mul_(out_max / in_max)
        r = r.clamp_(0, out_max)
        if "erase" in p:
            value = self.erasing[3]
            mask = box_mask(*p["erase"], oh, ow)
            if value == "random":
                r = torch.where(mask, torch.rand_like(r) * out_max, r)
            else:
                r = r.masked_fill_(mask, value * out_max)
        if "cut" in p:
            r = torch.where(box_mask(*p["cut"], oh, ow), r.flip(0), r)
        if self.out_dtype == torch.uint8:
            # float -> int16 -> uint8 is ~3x faster than float -> uint8 on CPU; values are in 0..255.
            r = r.round_().to(torch.int16)
        out.copy_(r)

    def _threaded(self, x: Tensor, p: dict, out: Tensor) -> None:
        """CPU execution in cache-sized pieces spread over a thread pool.

        A piece holds whole CutMix pairs (rows ``i`` and ``B-1-i``), so it needs nothing from the others.
        Small images go in groups of pairs through :meth:`_batched`; large images one pair at a time, each
        crop resized in uint8 by ``F.interpolate`` and written straight into ``out``.
        """
        b = x.shape[0]
        c = x.shape[1]
        oh, ow = p["out_size"]
        npairs = (b + 1) // 2
        n = self.threads or torch.get_num_threads()
        n = max(1, min(n, npairs, os.cpu_count() or 1))
        if oh * ow >= _PAIR_MIN_PIXELS:
            # A few more pieces than threads: the pool hands them out as threads free up, so one thread
            # stalled by a busy machine does not hold up the whole batch.
            run = self._pair_runner(x, p, out)
            step = max(1, npairs // (4 * n))
            work = [lambda r=range(i, min(i + step, npairs)): [run(i) for i in r] for i in range(0, npairs, step)]
        else:
            # Small images: each group has a fixed cost of a few dozen small kernel calls, so use as
            # few groups as the cache allows (measured: more groups than threads was slower at 28 x 28).
            per = max(1, _PIECE_FLOATS // (2 * c * oh * ow))
            count = min(npairs, max(n, -(-npairs // per)))
            bounds = [round(k * npairs / count) for k in range(count + 1)]
            work = [lambda i0=i0, i1=i1: self._group(x, p, out, i0, i1) for i0, i1 in zip(bounds, bounds[1:])
                    if i1 > i0]
        if n == 1:
            for job in work:
                job()
        else:
            list(_pool(n).map(lambda job: job(), work))

    def _group(self, x: Tensor, p: dict, out: Tensor, i0: int, i1: int) -> None:
        b = x.shape[0]
        # Rows i0..i1-1 and their partners, ordered so that reversing the group pairs them again.
        rows = torch.cat([torch.arange(i0, i1), torch.arange(max(b - i1, i1), b - i0)])
        rows = rows.to(x.device)
        sub = {k: (tuple(t[rows] for t in v) if isinstance(v, tuple) and isinstance(v[0], Tensor)
                   else v[rows] if isinstance(v, Tensor) else v) for k, v in p.items()}
        tmp = torch.empty((len(rows),) + tuple(out.shape[1:]), dtype=out.dtype, device=out.device)
        self._batched(x[rows], sub, tmp)
        out.index_copy_(0, rows, tmp)

    def _pair_runner(self, x: Tensor, p: dict, out: Tensor):
        b, c, h, w = x.shape
        oh, ow = p["out_size"]
        in_max = 255.0 if x.dtype == torch.uint8 else 1.0
        out_max = 255.0 if self.out_dtype == torch.uint8 else 1.0
        a, k, luma = self._colour(p, c, in_max, x.device)
        # Python numbers once, so the per-sample code does no tensor indexing for its parameters.
        crop = torch.stack(p["crop"], 1).tolist()
        flip = p["flip"].tolist()
        erase = torch.stack(p["erase"], 1).tolist() if "erase" in p else None
        cut = torch.stack(p["cut"], 1).tolist() if "cut" in p else None
        ev = self.erasing[3] if self.erasing is not None else 0.0
        luma_k = k[:, None] * luma[None, :] if a is not None else None  # offset = luma_k . channel means
        src = x if x.dtype in (torch.uint8, torch.float32) else x.float()
        float_out = self.out_dtype == torch.float32

        def one(i: int) -> Tensor:
            t, l, ch, cw = crop[i]
            r = src[i:i + 1, :, t:t + ch, l:l + cw]
            if (ch, cw) != (oh, ow):
                # A contiguous crop takes a faster path of the uint8 resampler (measured ~25% less time).
                r = F.interpolate(r.contiguous(), size=(oh, ow), mode="bilinear", antialias=True,
                                  align_corners=False)
            if flip[i]:
                r = r.flip(-1)
            f = r.reshape(c, -1)
            dest = out[i].view(c, -1) if float_out else None
            if a is not None:
                fl = f.float()
                off = (luma_k[i] @ fl.mean(1)).expand(c, 1)
                g = torch.addmm(off, a[i], fl, out=dest) if dest is not None else torch.addmm(off, a[i], fl)
            else:
                g = f.float() if dest is None else dest.copy_(f)
                if out_max != in_max:
                    g.mul_(out_max / in_max)
            g.clamp_(0, out_max)
            g = g.view(c, oh, ow)
            if erase is not None:
                et, el, eh, ew = erase[i]
                if eh:
                    box = g[:, et:et + eh, el:el + ew]
                    if ev == "random":
                        box.uniform_(0, out_max)
                    else:
                        box.fill_(ev * out_max)
            return g

        def pair(i: int) -> None:
            j = b - 1 - i
            gi = one(i)
            gj = one(j) if j != i else gi
            if cut is not None and j != i:
                ti, li, hi_, wi = cut[i]
                tj, lj, hj, wj = cut[j]
                pi = gj[:, ti:ti + hi_, li:li + wi].clone()
                pj = gi[:, tj:tj + hj, lj:lj + wj].clone()
                gi[:, ti:ti + hi_, li:li + wi] = pi
                gj[:, tj:tj + hj, lj:lj + wj] = pj
            if not float_out:
                # float -> int16 -> uint8 is ~3x faster than float -> uint8 on CPU; values are in 0..255.
                out[i].copy_(gi.round_().to(torch.int16))
                if j != i:
                    out[j].copy_(gj.round_().to(torch.int16))

        return pair


def fuse(ops: nn.Module | Sequence[nn.Module], **kwargs) -> nn.Module | Sequence[nn.Module] | None:
    """Return a :class:`FusedPipeline` equivalent to ``ops`` (a Compose or a list) when possible, else ``ops``."""
    seq = list(ops.ops) if hasattr(ops, "ops") else (list(ops) if ops is not None else [])
    fused = FusedPipeline.from_ops(seq, **kwargs) if seq else None
    return fused if fused is not None else ops
