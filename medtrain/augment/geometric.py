"""Batched geometric augmentations with per-sample random parameters.

Every op takes a float batch ``(B, C, H, W)`` and draws its parameters per sample from torch's global
generator (training seeds it per epoch, so a resumed run draws the same numbers).

Ops: ``flip``/``vflip``, ``shift`` (pad-and-crop), ``rrc`` (random-resized crop), ``affine`` (small
rotation/translation/zoom/shear), ``rot90`` and ``elastic``. Resampling ops build one sampling grid per
sample and resample the whole batch with a single ``F.grid_sample``. Volumes are in
:mod:`medtrain.augment.volume`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medtrain.augment._registry import register_op
from medtrain.errors import MedtrainError


def random_flip(x: Tensor, p: float = 0.5, dim: int = -1) -> Tensor:
    """Flip each sample along ``dim`` (default: horizontally) with probability ``p``."""
    flip = torch.rand(x.shape[0], device=x.device) < p
    if flip.any():
        x = x.clone()
        x[flip] = x[flip].flip(dim)
    return x


def random_shift(x: Tensor, max_frac: float = 0.125) -> Tensor:
    """Translate each sample by up to ``max_frac`` of its size (pad-and-crop with reflect padding).

    The crop-with-padding of the CIFAR ResNets (He et al., CVPR 2016), done for the whole batch with one
    gather per spatial axis instead of one crop per sample. Works for ``(B, C, H, W)`` images and
    ``(B, C, D, H, W)`` volumes.
    """
    b = x.shape[0]
    spatial = x.shape[2:]
    pads = [max(1, round(n * max_frac)) for n in spatial]
    flat_pad = [p for n in reversed(pads) for p in (n, n)]
    mode = "reflect" if all(n > p for n, p in zip(spatial, pads)) else "replicate"
    out = F.pad(x, flat_pad, mode=mode)
    for axis, n in enumerate(spatial):
        dim, p = 2 + axis, pads[axis]
        offset = torch.randint(0, 2 * p + 1, (b,), device=x.device)
        idx = offset[:, None] + torch.arange(n, device=x.device)[None, :]  # (B, n)
        view = [b] + [1] * (out.ndim - 1)
        view[dim] = n
        shape = list(out.shape)
        shape[dim] = n
        out = out.gather(dim, idx.view(view).expand(shape))
    return out


class RandomFlip(nn.Module):
    def __init__(self, p: float = 0.5, dim: int = -1):
        super().__init__()
        self.p, self.dim = check_prob("flip probability", p), dim

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return random_flip(x, self.p, self.dim), y


class RandomShift(nn.Module):
    def __init__(self, max_frac: float = 0.125):
        super().__init__()
        self.max_frac = max_frac

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return random_shift(x, self.max_frac), y


register_op("flip")(lambda p: RandomFlip(p.get("flip_p", 0.5)))
register_op("vflip")(lambda p: RandomFlip(p.get("flip_p", 0.5), dim=-2))
register_op("shift")(lambda p: RandomShift(p.get("shift_frac", 0.125)))


# ---------------------------------------------------------------------------------------------------------
# Parameter checks shared by the augmentation modules
# ---------------------------------------------------------------------------------------------------------


def check_prob(name: str, p: float) -> float:
    """Return ``p`` as a float, raising :class:`MedtrainError` unless it lies in [0, 1]."""
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise MedtrainError(f"{name} must be a probability in [0, 1], got {p}")
    return p


def check_range(name: str, r, low: float | None = None, high: float | None = None,
                low_open: bool = False) -> tuple[float, float]:
    """Return ``r`` as ``(lo, hi)`` with ``lo <= hi`` inside the given bounds, else raise MedtrainError."""
    try:
        lo, hi = (float(v) for v in r)
    except (TypeError, ValueError):
        raise MedtrainError(f"{name} must be a pair (low, high), got {r!r}") from None
    bad = lo > hi
    if low is not None:
        bad |= lo <= low if low_open else lo < low
    if high is not None:
        bad |= hi > high
    if bad:
        lo_s = "(" if low_open else "["
        raise MedtrainError(f"{name} must be an increasing pair within {lo_s}{low}, {high}], got {r!r}")
    return lo, hi


def _check_batch(x: Tensor, what: str) -> None:
    if x.ndim != 4:
        raise MedtrainError(f"{what} expects a batch of 2D images (B, C, H, W), got shape {tuple(x.shape)}")


# ---------------------------------------------------------------------------------------------------------
# Random resized crop (Szegedy et al., "Going deeper with convolutions", CVPR 2015)
# ---------------------------------------------------------------------------------------------------------


def sample_crop_boxes(b: int, h: int, w: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                      device=None, attempts: int = 10) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Draw one random-resized-crop box per sample, exactly as ``torchvision``'s RandomResizedCrop.

    Area share ~ U(scale), aspect ratio log-uniform in ``ratio``; up to ``attempts`` draws per sample
    are made at once and the first that fits is kept, falling back to the largest central crop with
    the ratio clamped into range.

    Returns:
        ``(top, left, height, width)``, each an int64 tensor ``(B,)``.
    """
    area = float(h * w)
    target = area * torch.empty(b, attempts, device=device).uniform_(*scale)
    log_r = torch.empty(b, attempts, device=device).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    ar = torch.exp(log_r)
    cw = torch.sqrt(target * ar).round().long()
    ch = torch.sqrt(target / ar).round().long()
    ok = (cw > 0) & (ch > 0) & (cw <= w) & (ch <= h)
    # Index of the first attempt that fits (argmax of a bool picks the first True).
    first = ok.to(torch.uint8).argmax(1, keepdim=True)
    found = ok.any(1)
    cw = cw.gather(1, first).squeeze(1)
    ch = ch.gather(1, first).squeeze(1)
    # Fallback: central crop of the whole image with the ratio clamped into range.
    in_ratio = w / h
    if in_ratio < ratio[0]:
        fw, fh = w, int(round(w / ratio[0]))
    elif in_ratio > ratio[1]:
        fh, fw = h, int(round(h * ratio[1]))
    else:
        fw, fh = w, h
    cw = torch.where(found, cw, torch.full_like(cw, fw))
    ch = torch.where(found, ch, torch.full_like(ch, fh))
    u = torch.rand(2, b, device=device)
    top = (u[0] * (h - ch + 1).float()).floor().long().clamp_max_(h - ch)
    left = (u[1] * (w - cw + 1).float()).floor().long().clamp_max_(w - cw)
    top = torch.where(found, top, (h - ch) // 2)
    left = torch.where(found, left, (w - cw) // 2)
    return top, left, ch, cw


def crop_grid(top: Tensor, left: Tensor, ch: Tensor, cw: Tensor, h: int, w: int, oh: int, ow: int,
              flip: Tensor | None = None, dtype=torch.float32) -> Tensor:
    """Sampling grid ``(B, oh, ow, 2)`` for ``F.grid_sample`` that resizes each crop box to ``(oh, ow)``.

    Output pixel ``u`` reads crop coordinate ``(u + 0.5) * cw / ow - 0.5`` (half-pixel centres, as
    ``F.interpolate``), clamped to the box so that, like crop-then-resize, no pixel outside the box
    leaks in at its edges. A horizontal flip reverses the x coordinates, so flip and crop cost one
    resampling together. The grid is separable, so it is built from two small per-sample vectors.
    """
    dev = top.device

    def axis(start: Tensor, extent: Tensor, n: int, size: int) -> Tensor:
        u = torch.arange(n, device=dev, dtype=torch.float32) + 0.5
        ext = extent.float()[:, None]
        p = (u[None, :] * ext / n - 0.5).clamp_(min=torch.zeros_like(ext), max=ext - 1)
        p = p + start.float()[:, None]
        return (2 * p + 1) / size - 1  # pixel -> normalised (align_corners=False)

    gx = axis(left, cw, ow, w)
    if flip is not None:
        gx = torch.where(flip[:, None], gx.flip(1), gx)
    gy = axis(top, ch, oh, h)
    b = top.shape[0]
    grid = torch.empty(b, oh, ow, 2, device=dev, dtype=dtype)
    grid[..., 0] = gx[:, None, :]
    grid[..., 1] = gy[:, :, None]
    return grid


def random_resized_crop(x: Tensor, size: int | tuple[int, int] | None = None, scale=(0.08, 1.0),
                        ratio=(3 / 4, 4 / 3), flip_p: float = 0.0) -> Tensor:
    """Crop a random box per sample and resize it to ``size`` with one bilinear ``grid_sample``.

    Equivalent to crop-then-resize per sample (torchvision's RandomResizedCrop without antialiasing,
    which only matters when the output is smaller than the crop).

    Args:
        x: float batch ``(B, C, H, W)``.
        size: output ``(H', W')`` (an int for square); default: the input size.
        scale: range of the crop's share of the image area.
        ratio: range of the crop's aspect ratio (width / height), drawn log-uniformly.
        flip_p: probability of also flipping each sample horizontally, fused into the same resampling.

    Returns:
        ``(B, C, H', W')``.
    """
    _check_batch(x, "random_resized_crop")
    b, _, h, w = x.shape
    oh, ow = _size2(size, h, w)
    top, left, ch, cw = sample_crop_boxes(b, h, w, scale, ratio, x.device)
    flip = torch.rand(b, device=x.device) < flip_p if flip_p > 0 else None
    src = x if x.is_floating_point() else x.float()
    grid = crop_grid(top, left, ch, cw, h, w, oh, ow, flip, src.dtype)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _size2(size, h: int, w: int) -> tuple[int, int]:
    if size is None:
        return h, w
    if isinstance(size, int):
        return size, size
    oh, ow = (int(s) for s in size)
    return oh, ow


class RandomResizedCrop(nn.Module):
    """Random-resized crop with per-sample boxes; see :func:`random_resized_crop`."""

    def __init__(self, size=None, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), flip_p: float = 0.0):
        super().__init__()
        self.size = size
        self.scale = check_range("rrc scale", scale, 0.0, 1.0, low_open=True)
        self.ratio = check_range("rrc ratio", ratio, 0.0, None, low_open=True)
        self.flip_p = check_prob("rrc flip probability", flip_p)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return random_resized_crop(x, self.size, self.scale, self.ratio, self.flip_p), y


# ---------------------------------------------------------------------------------------------------------
# Small random affine transforms
# ---------------------------------------------------------------------------------------------------------


def affine_theta(angle: Tensor, tx: Tensor, ty: Tensor, scale: Tensor, shear: Tensor,
                 h: int, w: int) -> Tensor:
    """``(B, 2, 3)`` output->input matrices for ``F.affine_grid`` of a forward pixel-space transform.

    The forward transform rotates by ``angle`` (radians, counter-clockwise on screen), shears along x
    by ``shear`` (radians), scales by ``scale`` about the centre and translates by ``(tx, ty)`` (as
    fractions of the width/height). It is built in pixel units, so rotations stay rigid on
    non-square images, then conjugated into the normalised coordinates ``affine_grid`` uses.
    """
    b = angle.shape[0]
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Forward linear part in pixel units (y axis points down, so a screen-CCW rotation is -angle).
    tan = torch.tan(shear)
    a = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)
    sh = torch.zeros(b, 2, 2, device=angle.device)
    sh[:, 0, 0], sh[:, 0, 1], sh[:, 1, 1] = 1, tan, 1
    fwd = scale[:, None, None] * a @ sh
    inv = torch.linalg.inv(fwd)
    # Pixel <-> normalised: p = D n with D = diag(W/2, H/2); inverse map n_in = D^-1 inv D (n_out - t).
    d = torch.tensor([w / 2, h / 2], device=angle.device)
    lin = inv * d[None, None, :] / d[None, :, None]
    t = torch.stack([2 * tx, 2 * ty], -1)  # translation in normalised units
    off = -(lin @ t[:, :, None])
    return torch.cat([lin, off], -1)


def random_affine(x: Tensor, degrees: float = 15.0, translate: float = 0.1, scale=(0.9, 1.1),
                  shear: float = 0.0, padding_mode: str = "zeros") -> Tensor:
    """Rotate, translate, scale and shear each sample by its own random amounts (one ``grid_sample``).

    Args:
        x: float batch ``(B, C, H, W)``.
        degrees: rotation angle ~ U(-degrees, degrees).
        translate: shift ~ U(-translate, translate) of the width and of the height.
        scale: zoom factor ~ U(scale).
        shear: x-shear angle ~ U(-shear, shear) degrees.
        padding_mode: ``grid_sample``'s fill for pixels mapped from outside ("zeros", "border", "reflection").
    """
    _check_batch(x, "random_affine")
    b, c, h, w = x.shape
    dev = x.device
    u = torch.rand(5, b, device=dev) * 2 - 1
    ang = u[0] * math.radians(degrees)
    tx, ty = u[1] * translate, u[2] * translate
    s = scale[0] + (u[3] + 1) / 2 * (scale[1] - scale[0])
    shr = u[4] * math.radians(shear)
    theta = affine_theta(ang, tx, ty, s, shr, h, w)
    src = x if x.is_floating_point() else x.float()
    grid = F.affine_grid(theta.to(src.dtype), [b, c, h, w], align_corners=False)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


class RandomAffine(nn.Module):
    """Per-sample small affine transform; see :func:`random_affine`."""

    def __init__(self, degrees: float = 15.0, translate: float = 0.1, scale=(0.9, 1.1), shear: float = 0.0,
                 padding_mode: str = "zeros"):
        super().__init__()
        if degrees < 0 or shear < 0 or not 0 <= translate <= 1:
            raise MedtrainError(f"affine: degrees and shear must be >= 0 and translate in [0, 1], got "
                                f"degrees={degrees}, shear={shear}, translate={translate}")
        if padding_mode not in ("zeros", "border", "reflection"):
            raise MedtrainError(f"affine padding must be zeros, border or reflection, got {padding_mode!r}")
        self.degrees, self.translate, self.shear = float(degrees), float(translate), float(shear)
        self.scale = check_range("affine scale", scale, 0.0, None, low_open=True)
        self.padding_mode = padding_mode

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return random_affine(x, self.degrees, self.translate, self.scale, self.shear, self.padding_mode), y


# ---------------------------------------------------------------------------------------------------------
# Rotations by multiples of 90 degrees (exact, no interpolation)
# ---------------------------------------------------------------------------------------------------------


def random_rot90(x: Tensor) -> Tensor:
    """Rotate each sample by k * 90 degrees, k ~ U{0, 1, 2, 3} (k in {0, 2} for non-square images).

    Orientation carries no meaning in e.g. histology or dermoscopy, so the eight-fold dihedral group
    (this op plus a flip) is a free, lossless augmentation there.
    """
    _check_batch(x, "random_rot90")
    b, _, h, w = x.shape
    k = torch.randint(0, 4, (b,), device=x.device)
    if h != w:
        k = k - k % 2  # a quarter turn would change the shape of a non-square batch
    out = x.clone()
    for q in (1, 2, 3):
        sel = k == q
        if sel.any():
            out[sel] = torch.rot90(x[sel], q, dims=(-2, -1))
    return out


class RandomRot90(nn.Module):
    """Per-sample rotation by a multiple of 90 degrees; see :func:`random_rot90`."""

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return random_rot90(x), y


# ---------------------------------------------------------------------------------------------------------
# Elastic deformation (Simard, Steinkraus & Platt, ICDAR 2003)
# ---------------------------------------------------------------------------------------------------------


def _gaussian_kernel1d(sigma: float, device) -> Tensor:
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def elastic_deform(x: Tensor, alpha: float = 34.0, sigma: float = 4.0) -> Tensor:
    """Warp each sample by its own smooth random displacement field.

    As in Simard et al. (2003): displacements ~ U(-1, 1) per pixel, smoothed with a Gaussian of
    standard deviation ``sigma`` pixels and scaled by ``alpha`` pixels; bilinear resampling.

    Args:
        x: float batch ``(B, C, H, W)``.
        alpha: displacement scale in pixels.
        sigma: smoothing in pixels (small sigma -> almost random noise, large -> almost a translation).
    """
    _check_batch(x, "elastic_deform")
    b, c, h, w = x.shape
    dev = x.device
    field = torch.rand(b * 2, 1, h, w, device=dev) * 2 - 1
    k = _gaussian_kernel1d(sigma, dev)
    r = k.numel() // 2
    # Separable blur; reflect padding keeps the field's statistics at the border.
    field = F.conv2d(F.pad(field, (r, r, 0, 0), mode="reflect" if w > r else "replicate"), k.view(1, 1, 1, -1))
    field = F.conv2d(F.pad(field, (0, 0, r, r), mode="reflect" if h > r else "replicate"), k.view(1, 1, -1, 1))
    field = field.view(b, 2, h, w) * alpha
    # Pixel displacements -> normalised grid offsets (align_corners=False: 2 / size per pixel).
    ys = (torch.arange(h, device=dev, dtype=torch.float32) + 0.5) * (2 / h) - 1
    xs = (torch.arange(w, device=dev, dtype=torch.float32) + 0.5) * (2 / w) - 1
    gx = xs[None, None, :] + field[:, 0] * (2 / w)
    gy = ys[None, :, None] + field[:, 1] * (2 / h)
    grid = torch.stack([gx, gy], -1)
    src = x if x.is_floating_point() else x.float()
    return F.grid_sample(src, grid.to(src.dtype), mode="bilinear", padding_mode="border", align_corners=False)


class ElasticDeform(nn.Module):
    """Per-sample elastic deformation; see :func:`elastic_deform`."""

    def __init__(self, alpha: float = 34.0, sigma: float = 4.0):
        super().__init__()
        if alpha < 0 or sigma <= 0:
            raise MedtrainError(f"elastic: alpha must be >= 0 and sigma > 0, got alpha={alpha}, sigma={sigma}")
        self.alpha, self.sigma = float(alpha), float(sigma)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return elastic_deform(x, self.alpha, self.sigma), y


register_op("rrc")(lambda p: RandomResizedCrop(p.get("rrc_size"), p.get("rrc_scale", (0.08, 1.0)),
                                               p.get("rrc_ratio", (3 / 4, 4 / 3))))
register_op("affine")(lambda p: RandomAffine(p.get("affine_degrees", 15.0), p.get("affine_translate", 0.1),
                                             p.get("affine_scale", (0.9, 1.1)), p.get("affine_shear", 0.0)))
register_op("rot90")(lambda p: RandomRot90())
register_op("elastic")(lambda p: ElasticDeform(p.get("elastic_alpha", 34.0), p.get("elastic_sigma", 4.0)))
