"""Batched geometric augmentations with per-sample random parameters.

Every op takes a float batch ``(B, C, H, W)`` and draws its parameters per sample from torch's global
generator (training seeds it per epoch, so a resumed run draws the same numbers).

Ops: ``flip``/``vflip``, ``shift`` (pad-and-crop), ``affine`` (small rotation/translation/zoom/shear) and
``rot90`` here; ``rrc`` (random-resized crop) in :mod:`medtrain.augment.crop` and ``elastic`` in
:mod:`medtrain.augment.elastic`, both re-exported here, as are the parameter checks of
:mod:`medtrain.augment._checks`. Resampling ops build one sampling grid per
sample and resample the whole batch with a single ``F.grid_sample``. Volumes are in
:mod:`medtrain.augment.volume`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medtrain.augment._checks import _check_batch, check_prob, check_range  # noqa: F401  (re-exported)
from medtrain.augment._registry import register_op
from medtrain.augment.crop import (RandomResizedCrop, _size2, crop_grid, random_resized_crop,  # noqa: F401
                                   sample_crop_boxes)
from medtrain.augment.elastic import ElasticDeform, elastic_deform  # noqa: F401
from medtrain.errors import MedtrainError


def random_flip(x: Tensor, p: float = 0.5, dim: int = -1) -> Tensor:
    """Flip each sample along ``dim`` (default: horizontally) with probability ``p``.

    Args:
        x: batch ``(B, C, H, W)`` of images or ``(B, C, D, H, W)`` of volumes. A single ``(C, H, W)`` image is
            refused (its channels would be flipped as if they were samples): give it a batch axis, ``x[None]``.
        p: probability of flipping each sample, in [0, 1].
        dim: the spatial axis to flip: -1 width, -2 height (-3 depth of a volume).

    Returns:
        the batch, same shape (a copy when some sample was flipped).
    """
    _check_batch(x, "random_flip", volumes=True)
    p = check_prob("flip probability", p)
    _check_spatial_dim("random_flip", dim, x.ndim)
    flip = torch.rand(x.shape[0], device=x.device) < p
    if flip.any():
        x = x.clone()
        x[flip] = x[flip].flip(dim)
    return x


def random_shift(x: Tensor, max_frac: float = 0.125) -> Tensor:
    """Translate each sample by up to ``max_frac`` of its size (pad-and-crop with reflect padding).

    The crop-with-padding of the CIFAR ResNets (He et al., CVPR 2016), done for the whole batch with one
    gather per spatial axis instead of one crop per sample.

    Args:
        x: batch ``(B, C, H, W)`` of images or ``(B, C, D, H, W)`` of volumes.
        max_frac: largest shift along each axis, a fraction of its size in [0, 0.5].

    Returns:
        the shifted batch, same shape.
    """
    _check_batch(x, "random_shift", volumes=True)
    max_frac = _check_shift(max_frac)
    if max_frac == 0:
        return x
    b = x.shape[0]
    spatial = x.shape[2:]
    pads = [max(1, round(n * max_frac)) for n in spatial]  # at least one pixel: a shift was asked for
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


def _check_spatial_dim(what: str, dim, ndim: int) -> None:
    d = dim + ndim if isinstance(dim, int) and dim < 0 else dim
    if isinstance(dim, bool) or not isinstance(dim, int) or not 2 <= d < ndim:
        raise MedtrainError(f"{what} dim must be a spatial axis of the {ndim}-d batch (-{ndim - 2} to -1, or 2 to "
                            f"{ndim - 1}), got {dim!r}")


def _check_shift(max_frac) -> float:
    try:
        f = float(max_frac)
    except (TypeError, ValueError):
        f = None
    if f is None or not 0.0 <= f <= 0.5:
        raise MedtrainError(f"shift_frac (the largest shift, a fraction of the image side) must be in [0, 0.5], "
                            f"got {max_frac!r}")
    return f


class RandomShift(nn.Module):
    def __init__(self, max_frac: float = 0.125):
        super().__init__()
        self.max_frac = _check_shift(max_frac)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return random_shift(x, self.max_frac), y


register_op("flip", "mirror each image left-right with probability flip_p")(lambda p: RandomFlip(p.get("flip_p", 0.5)))
register_op(
    "vflip",
    "mirror each image top-bottom with probability flip_p",
)(lambda p: RandomFlip(p.get("flip_p", 0.5), dim=-2))
register_op(
    "shift",
    "translate each image by up to shift_frac of its size along each axis (reflect padding, then "
    "crop)",
)(lambda p: RandomShift(p.get("shift_frac", 0.125)))


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
        degrees: rotation angle ~ U(-degrees, degrees), degrees >= 0.
        translate: shift ~ U(-translate, translate) of the width and of the height, translate in [0, 1].
        scale: zoom factor ~ U(scale), an increasing pair of positive numbers.
        shear: x-shear angle ~ U(-shear, shear) degrees, shear >= 0.
        padding_mode: ``grid_sample``'s fill for pixels mapped from outside ("zeros", "border", "reflection").

    Returns:
        the transformed batch ``(B, C, H, W)`` (float: an integer batch is resampled as float32).
    """
    _check_batch(x, "random_affine")
    degrees, translate, scale, shear = _check_affine(degrees, translate, scale, shear, padding_mode)
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


def _check_affine(degrees, translate, scale, shear, padding_mode) -> tuple[float, float, tuple[float, float], float]:
    try:
        degrees, translate, shear = float(degrees), float(translate), float(shear)
    except (TypeError, ValueError):
        raise MedtrainError(f"affine: degrees, translate and shear must be numbers, got degrees={degrees!r}, "
                            f"translate={translate!r}, shear={shear!r}") from None
    if degrees < 0 or shear < 0 or not 0 <= translate <= 1:
        raise MedtrainError(f"affine: degrees and shear must be >= 0 and translate in [0, 1], got "
                            f"degrees={degrees}, shear={shear}, translate={translate}")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise MedtrainError(f"affine padding must be zeros, border or reflection, got {padding_mode!r}")
    return degrees, translate, check_range("affine scale", scale, 0.0, None, low_open=True), shear


class RandomAffine(nn.Module):
    """Per-sample small affine transform; see :func:`random_affine`."""

    def __init__(self, degrees: float = 15.0, translate: float = 0.1, scale=(0.9, 1.1), shear: float = 0.0,
                 padding_mode: str = "zeros"):
        super().__init__()
        self.degrees, self.translate, self.scale, self.shear = _check_affine(degrees, translate, scale, shear,
                                                                             padding_mode)
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

    Args:
        x: batch ``(B, C, H, W)`` (volumes: :func:`medtrain.augment.volume.random_rot90_3d`).

    Returns:
        the rotated batch, same shape.
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


register_op(
    "affine",
    "rotate by U(±affine_degrees) degrees, translate by U(±affine_translate) of the size, scale by "
    "U(affine_scale), shear along x by U(±affine_shear) degrees, each image its own",
)(lambda p: RandomAffine(p.get("affine_degrees", 15.0), p.get("affine_translate", 0.1),
                         p.get("affine_scale", (0.9, 1.1)), p.get("affine_shear", 0.0)))
register_op(
    "rot90",
    "rotate each image by 0, 90, 180 or 270 degrees (0 or 180 where it is not square)",
)(lambda p: RandomRot90())
