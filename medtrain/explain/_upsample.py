"""Grad-CAM's coarse map drawn where its cells look: each cell at its receptive field's centre.

MONAI's default upsampler (``F.interpolate``, ``align_corners=False``) draws cell ``j`` of an ``n``-cell axis
centred on input pixel ``s*j + (s-1)/2`` (``s`` = input / map). A ResNet's stride-2 convolutions, padded by
``k//2``, put output ``j`` over input ``2j``, so a cell of the 7x7 map of a 28 px input looks at about ``4j``,
and the drawn map lay ~1.5 px down and to the right of where the network looks (walk "explain", finding 1).

:func:`cell_centre_upsampler` measures, once per explained network and layer, where each cell looks: the
``|gradient|``-weighted centre, over the input, of the summed activation of the diagonal cell ``(j, j, ...)``
at a constant input of the run's size (the network in eval mode, one batched backward). That is the cell's
effective receptive-field centre, the trained network's own (not a per-architecture table), and it is where
the cell is at the image's edges too (a border cell's field is cut by the padding). The map is then resampled
(bilinear, trilinear for volumes) so that input pixel ``x`` reads map coordinate ``u(x)``, the piecewise-linear
inverse of the measured centres, clamped at the first and last cell. Where the measurement fails (a layer
without a spatial map, no gradient, centres not increasing) MONAI's default upsampler is used, as before.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

CHUNK = 8  #: diagonal cells measured per forward/backward pass (a volume's batch stays small)


class _Stop(Exception):
    """Raised by the forward hook once the layer's output is captured: the rest of the network is not run."""


def cell_centres(net: nn.Module, layer: str, input_shape: Sequence[int]) -> list[np.ndarray] | None:
    """Per spatial axis, the input coordinate (pixels, from the first pixel's centre) on which each cell of
    ``layer``'s output map is centred: the ``|d activation / d input|``-weighted centre of the diagonal cell
    ``(j, j, ...)`` (index clipped to the axis), at a constant input of ``input_shape`` ``(C, *spatial)``.
    None where that cannot be measured (the layer's output is not a spatial map of the input's
    dimensionality, a cell has no gradient, or an axis's centres do not increase)."""
    module = dict(net.named_modules()).get(layer)
    ndim = len(input_shape) - 1
    if module is None:
        return None
    captured: list[torch.Tensor] = []

    def hook(_m, _inp, out):
        captured.append(out)
        raise _Stop

    device = next((p.device for p in net.parameters()), torch.device("cpu"))
    was_training = net.training
    net.eval()
    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():  # the map's size: one blank input
            try:
                net(torch.zeros(1, *input_shape, device=device))
            except _Stop:
                pass
        if not captured or not isinstance(captured[0], torch.Tensor) or captured[0].ndim != ndim + 2:
            return None
        cells = tuple(captured[0].shape[2:])
        centres = np.zeros((max(cells), ndim))
        grids = np.indices(tuple(input_shape[1:]), dtype=np.float64)
        for lo in range(0, max(cells), CHUNK):
            js = range(lo, min(lo + CHUNK, max(cells)))
            x = torch.full((len(js), *input_shape), 0.5, device=device, requires_grad=True)
            captured.clear()
            with torch.enable_grad():
                try:
                    net(x)
                except _Stop:
                    pass
                acti = captured[0]
                score = sum(acti[(b, slice(None), *(min(j, n - 1) for n in cells))].sum()
                            for b, j in enumerate(js))
                (grad,) = torch.autograd.grad(score, x)
            weight = grad.detach().abs().sum(1).double().cpu().numpy()  # (B, *spatial), over the channels
            for b, j in enumerate(js):
                total = weight[b].sum()
                if not np.isfinite(total) or total <= 0:
                    return None
                centres[j] = [(grids[k] * weight[b]).sum() / total for k in range(ndim)]
    except _Stop:
        return None
    except (RuntimeError, ValueError, TypeError, IndexError):
        return None
    finally:
        handle.remove()
        net.train(was_training)
    out = [centres[:n, k] for k, n in enumerate(cells)]
    if any(not np.all(np.isfinite(c)) or (len(c) > 1 and not np.all(np.diff(c) > 0)) for c in out):
        return None
    return out


def _weights(centres: np.ndarray, size: int) -> torch.Tensor:
    """``(size, n)`` linear-interpolation weights: row ``x`` reads map coordinate ``u(x)``, the piecewise-linear
    inverse of ``centres`` (clamped at the first and last cell)."""
    n = len(centres)
    u = np.interp(np.arange(size, dtype=np.float64), centres, np.arange(n, dtype=np.float64)) if n > 1 \
        else np.zeros(size)
    lo = np.clip(np.floor(u).astype(np.int64), 0, n - 1)
    hi = np.minimum(lo + 1, n - 1)
    frac = u - lo
    w = np.zeros((size, n))
    np.add.at(w, (np.arange(size), lo), 1 - frac)
    np.add.at(w, (np.arange(size), hi), frac)
    return torch.from_numpy(w)


def centre_upsampler(centres: Sequence[np.ndarray], size: Sequence[int]) -> Callable[[torch.Tensor], torch.Tensor]:
    """``(B, C, *cells)`` -> ``(B, C, *size)``: each cell drawn centred on ``centres[axis][j]`` (multi-linear
    between the cells, the first and last cell's value beyond them)."""
    mats = [_weights(np.asarray(c, dtype=np.float64), s) for c, s in zip(centres, size)]

    def up(m: torch.Tensor) -> torch.Tensor:
        for k, w in enumerate(mats):
            m = torch.movedim(torch.tensordot(m, w.to(m.dtype).to(m.device), dims=([2 + k], [1])), -1, 2 + k)
        return m

    return up


def cell_centre_upsampler(net: nn.Module, layer: str, input_shape: Sequence[int]) -> Callable:
    """A MONAI ``upsampler`` (``upsampler(spatial_size)(acti_map)``) for Grad-CAM at ``layer`` of ``net``: the
    cells drawn at their measured receptive-field centres (:func:`cell_centres`); MONAI's default upsampler
    where they cannot be measured, or for a map or input of another size than measured."""
    from monai.visualize.visualizer import default_upsampler

    centres = cell_centres(net, layer, input_shape)
    size = tuple(int(s) for s in input_shape[1:])
    if centres is None:
        return default_upsampler
    cells = tuple(len(c) for c in centres)
    fitted = centre_upsampler(centres, size)

    def upsampler(spatial_size):
        fallback = default_upsampler(spatial_size)

        def up(m: torch.Tensor) -> torch.Tensor:
            if tuple(spatial_size) != size or tuple(m.shape[2:]) != cells:
                return fallback(m)
            return fitted(m)

        return up

    return upsampler
