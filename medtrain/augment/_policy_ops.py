"""The image ops of the AutoAugment family, batched, with one parameter per sample.

Every op takes a float batch ``x`` ``(B, C, H, W)`` in [0, 1] and a parameter tensor ``v`` ``(B,)`` (an
angle, a factor, a threshold...), so the samples of a batch that drew the same op but different
magnitudes or signs are transformed in one call. The semantics are those of PIL / torchvision's
``transforms.v2.functional`` on uint8 images (the ops the published policies were searched with):
Posterize and Equalize work on the 256 grey levels of the uint8 image the float batch came from, the
affine ops use torchvision's pixel-centre convention, fill the uncovered area with ``fill`` and sample
with nearest-neighbour by default (torchvision's AutoAugment default).

:data:`OPS` maps each op name to its function and to how a magnitude level becomes its parameter.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

# ITU-R 601-2 luma, as PIL's convert("L") and torchvision's rgb_to_grayscale.
_LUMA = (0.2989, 0.587, 0.114)


def _col(v: Tensor, x: Tensor) -> Tensor:
    """Per-sample parameter ``(B,)`` as ``(B, 1, 1, 1)`` on ``x``'s device and dtype."""
    return v.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)


def _blend(img: Tensor, other: Tensor, factor: Tensor) -> Tensor:
    """PIL's ImageEnhance: ``factor * img + (1 - factor) * other``; factor 1 is identity, 0 is ``other``."""
    return (other + factor * (img - other)).clamp_(0.0, 1.0)


def grey(x: Tensor) -> Tensor:
    """Luma ``(B, 1, H, W)`` of an RGB batch; a one-channel batch is its own luma."""
    if x.shape[1] == 3:
        w = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True)
    return x.mean(1, keepdim=True)


def to_levels(x: Tensor) -> Tensor:
    """The uint8 grey levels (as int32) a [0, 1] batch stands for."""
    return (x * 255.0).round_().clamp_(0, 255).to(torch.int32)


# --------------------------------------------------------------------------- geometric


def affine(x: Tensor, inv: Tensor, interpolation: str = "nearest", fill: float = 0.0) -> Tensor:
    """Warp each sample by its own inverse affine map.

    Args:
        x: ``(B, C, H, W)``.
        inv: ``(B, 2, 3)`` map from output to input pixel coordinates, in pixels, with the origin at the
            image centre and pixel ``i``'s centre at ``i + 0.5 - size / 2`` (torchvision's convention,
            so shears about a corner and rotations about the centre match it).
        interpolation: ``"nearest"`` or ``"bilinear"``.
        fill: value of the pixels that map from outside the image.
    """
    b, c, h, w = x.shape
    inv = inv.to(device=x.device, dtype=x.dtype)
    xs = torch.arange(w, device=x.device, dtype=x.dtype) + (0.5 - w / 2)
    ys = torch.arange(h, device=x.device, dtype=x.dtype) + (0.5 - h / 2)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    base = torch.stack([gx, gy, torch.ones_like(gx)], -1).view(1, h * w, 3)
    src = base @ inv.transpose(1, 2)  # (B, H*W, 2)
    grid = (src / torch.tensor([w / 2, h / 2], device=x.device, dtype=x.dtype)).view(b, h, w, 2)
    out = F.grid_sample(x, grid, mode=interpolation, padding_mode="zeros", align_corners=False)
    if fill != 0.0:
        # grid_sample only pads with zeros: warp a mask of ones alongside to know what came from outside.
        ones = torch.ones_like(x[:, :1])
        mask = F.grid_sample(ones, grid, mode=interpolation, padding_mode="zeros", align_corners=False)
        out = out + (1.0 - mask) * fill
    return out


def _matrix(b: int, a=0.0, bb=0.0, c=0.0, d=0.0, e=0.0, f=0.0) -> Tensor:
    rows = [torch.as_tensor(t, dtype=torch.float32).expand(b) for t in (a, bb, c, d, e, f)]
    return torch.stack(rows, -1).view(b, 2, 3)


def shear_x(x: Tensor, s: Tensor, interpolation: str = "nearest", fill: float = 0.0) -> Tensor:
    """Shear horizontally by factor ``s`` about the top edge (``x' = x + s * y``), as AutoAugment."""
    s = s.float().cpu()
    h = x.shape[-2]
    return affine(x, _matrix(len(s), 1.0, s, s * h / 2, 0.0, 1.0, 0.0), interpolation, fill)


def shear_y(x: Tensor, s: Tensor, interpolation: str = "nearest", fill: float = 0.0) -> Tensor:
    """Shear vertically by factor ``s`` about the left edge (``y' = y + s * x``)."""
    s = s.float().cpu()
    w = x.shape[-1]
    return affine(x, _matrix(len(s), 1.0, 0.0, 0.0, s, 1.0, s * w / 2), interpolation, fill)


def translate_x(x: Tensor, px: Tensor, interpolation: str = "nearest", fill: float = 0.0) -> Tensor:
    """Shift right by ``px`` pixels (left if negative)."""
    px = px.float().cpu()
    return affine(x, _matrix(len(px), 1.0, 0.0, -px, 0.0, 1.0, 0.0), interpolation, fill)


def translate_y(x: Tensor, px: Tensor, interpolation: str = "nearest", fill: float = 0.0) -> Tensor:
    """Shift down by ``px`` pixels (up if negative)."""
    px = px.float().cpu()
    return affine(x, _matrix(len(px), 1.0, 0.0, 0.0, 0.0, 1.0, -px), interpolation, fill)


def rotate(x: Tensor, degrees: Tensor, interpolation: str = "nearest", fill: float = 0.0) -> Tensor:
    """Rotate counter-clockwise by ``degrees`` about the image centre, keeping the size."""
    a = torch.deg2rad(degrees.float().cpu())
    cos, sin = torch.cos(a), torch.sin(a)
    return affine(x, _matrix(len(a), cos, -sin, 0.0, sin, cos, 0.0), interpolation, fill)


# --------------------------------------------------------------------------- colour / intensity


def brightness(x: Tensor, factor: Tensor) -> Tensor:
    """Blend with black: 0 gives black, 1 the original, > 1 brighter."""
    return _blend(x, torch.zeros_like(x), _col(factor, x))


def color(x: Tensor, factor: Tensor) -> Tensor:
    """Blend with the grey version (saturation); identity on one-channel images, which have no colour."""
    if x.shape[1] != 3:
        return x
    return _blend(x, grey(x).expand_as(x), _col(factor, x))


def contrast(x: Tensor, factor: Tensor) -> Tensor:
    """Blend with the image's mean luma: 0 gives a flat grey image."""
    mean = grey(x).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(x, mean.expand_as(x), _col(factor, x))


def sharpness(x: Tensor, factor: Tensor) -> Tensor:
    """Blend with PIL's SMOOTH-filtered image; the one-pixel border is kept, as PIL and torchvision do."""
    b, c, h, w = x.shape
    if h <= 2 or w <= 2:
        return x
    k = torch.ones(3, 3, device=x.device, dtype=x.dtype)
    k[1, 1] = 5.0
    k = (k / 13.0).view(1, 1, 3, 3)
    smooth = F.conv2d(x.reshape(b * c, 1, h, w), k).reshape(b, c, h - 2, w - 2)
    out = x.clone()
    out[..., 1:-1, 1:-1] = _blend(x[..., 1:-1, 1:-1], smooth, _col(factor, x))
    return out


def posterize(x: Tensor, bits: Tensor) -> Tensor:
    """Keep the ``bits`` most significant bits of each uint8 grey level (0 to 8)."""
    mask = (255 << (8 - bits.to(torch.int32).clamp(0, 8))) & 255
    return (to_levels(x) & _col(mask, x).to(torch.int32)).to(x.dtype) / 255.0


def solarize(x: Tensor, threshold: Tensor) -> Tensor:
    """Invert the pixels at or above ``threshold`` (in [0, 1]); 1 inverts only white, 0 everything."""
    # The tolerance keeps a level exactly on the threshold inverted despite float rounding of k / 255.
    return torch.where(x >= _col(threshold, x) - 1e-6, 1.0 - x, x)


def invert(x: Tensor, _: Tensor | None = None) -> Tensor:
    return 1.0 - x


def autocontrast(x: Tensor, _: Tensor | None = None) -> Tensor:
    """Stretch each channel of each sample to the full [0, 1] range; flat channels are left as they are."""
    lo = x.amin(dim=(-2, -1), keepdim=True)
    hi = x.amax(dim=(-2, -1), keepdim=True)
    flat = hi <= lo
    scale = torch.where(flat, torch.ones_like(hi), hi - lo)
    lo = torch.where(flat, torch.zeros_like(lo), lo)
    return ((x - lo) / scale).clamp_(0.0, 1.0)


def equalize(x: Tensor, _: Tensor | None = None) -> Tensor:
    """Histogram-equalise each channel of each sample, with PIL's lookup table, all at once.

    One batched histogram (a ``scatter_add`` of ones at the uint8 levels into ``(B*C, 256)`` bins) instead
    of a loop over images. PIL's rule: ``step = (pixels - count of the highest level) // 255``; the lookup
    table maps level ``k`` to ``(cumhist[k-1] + step // 2) // step``; a channel with ``step == 0`` (nearly
    constant) is left unchanged.
    """
    b, c, h, w = x.shape
    lv = to_levels(x).reshape(b * c, h * w).long()
    hist = torch.zeros(b * c, 256, dtype=torch.long, device=x.device)
    hist.scatter_add_(1, lv, torch.ones_like(lv))
    cum = hist.cumsum(1)
    top = cum.argmax(1, keepdim=True)  # first index reaching the total: the highest level present
    step = (h * w - hist.gather(1, top)) // 255  # (B*C, 1)
    lut = (cum[:, :-1] + step // 2) // step.clamp(min=1)
    lut = torch.cat([torch.zeros_like(lut[:, :1]), lut], 1).clamp_(0, 255)
    out = lut.gather(1, lv)
    out = torch.where(step > 0, out, lv)
    return out.reshape(b, c, h, w).to(x.dtype) / 255.0


def cutout(x: Tensor, side: Tensor, fill: float = 0.5) -> Tensor:
    """Erase a ``side x side`` pixel square at a random centre per sample (DeVries & Taylor, 2017).

    The square may stick out of the image, as in the AutoAugment code. Mid-grey fill, the dataset mean
    of a normalised image, as Cutout zeroes normalised inputs.
    """
    b, _, h, w = x.shape
    side = side.float().cpu()
    cy = torch.randint(0, h, (b,)).float()
    cx = torch.randint(0, w, (b,)).float()
    ys = torch.arange(h).float().view(1, h, 1)
    xs = torch.arange(w).float().view(1, 1, w)
    y0, x0 = (cy - side / 2).view(b, 1, 1), (cx - side / 2).view(b, 1, 1)
    inside = (ys >= y0) & (ys < y0 + side.view(b, 1, 1)) & (xs >= x0) & (xs < x0 + side.view(b, 1, 1))
    inside = inside.unsqueeze(1).to(x.device)
    return torch.where(inside, torch.full_like(x, fill), x)


def identity(x: Tensor, _: Tensor | None = None) -> Tensor:
    return x


# --------------------------------------------------------------------------- op table

STANDARD, WIDE = "standard", "wide"
SPACES = (STANDARD, WIDE)


class OpDef(NamedTuple):
    """An op of the search space: ``fn(x, value)`` and how a magnitude becomes ``value``.

    ``maxima`` is the op's strongest setting in the ``standard`` space (AutoAugment / RandAugment:
    Cubuk et al. 2019, 2020, as torchvision tabulates them) and the ``wide`` one (TrivialAugment's,
    Müller & Hutter 2021). ``signed`` ops get a random sign per sample. ``kind`` says how
    ``value(fraction)`` is formed; ``None`` maxima mean the op takes no magnitude.
    """

    fn: Callable[..., Tensor]
    kind: str  # "geometric", "translate", "factor", "posterize", "solarize", "cutout", "none"
    maxima: tuple | None
    signed: bool = False

    @property
    def has_magnitude(self) -> bool:
        return self.maxima is not None

    def value(self, frac: Tensor, sign: Tensor, space: str, h: int, w: int, name: str) -> Tensor:
        """Parameter per sample from the magnitude as a fraction of the range (``(B,)`` in [0, 1])."""
        if self.maxima is None:
            return frac
        top = self.maxima[SPACES.index(space)]
        if self.kind == "translate":
            # Standard: a fraction of the side (150 / 331 px in the paper); wide: 32 px, as published.
            # Whole pixels, as torchvision (int() truncates towards zero).
            side = w if name == "TranslateX" else h
            top = top * side if space == STANDARD else top
            return torch.trunc(frac * top * sign)
        if self.kind == "geometric":
            return frac * top * sign
        if self.kind == "factor":
            return 1.0 + frac * top * sign
        if self.kind == "posterize":
            return 8 - torch.round(frac * top)  # bits: 8 (identity) down to 8 - top
        if self.kind == "solarize":
            return 1.0 - frac * top  # threshold: 1 inverts only white, 0 inverts everything
        if self.kind == "cutout":
            return torch.round(frac * top * min(h, w))
        raise AssertionError(self.kind)


OPS: dict[str, OpDef] = {
    "Identity": OpDef(identity, "none", None),
    "ShearX": OpDef(shear_x, "geometric", (0.3, 0.99), signed=True),
    "ShearY": OpDef(shear_y, "geometric", (0.3, 0.99), signed=True),
    "TranslateX": OpDef(translate_x, "translate", (150.0 / 331.0, 32.0), signed=True),
    "TranslateY": OpDef(translate_y, "translate", (150.0 / 331.0, 32.0), signed=True),
    "Rotate": OpDef(rotate, "geometric", (30.0, 135.0), signed=True),
    "Brightness": OpDef(brightness, "factor", (0.9, 0.99), signed=True),
    "Color": OpDef(color, "factor", (0.9, 0.99), signed=True),
    "Contrast": OpDef(contrast, "factor", (0.9, 0.99), signed=True),
    "Sharpness": OpDef(sharpness, "factor", (0.9, 0.99), signed=True),
    "Posterize": OpDef(posterize, "posterize", (4.0, 6.0)),
    "Solarize": OpDef(solarize, "solarize", (1.0, 1.0)),
    "AutoContrast": OpDef(autocontrast, "none", None),
    "Equalize": OpDef(equalize, "none", None),
    "Invert": OpDef(invert, "none", None),
    # AutoAugment's search space: squares of up to 60 px on 331 px images.
    "Cutout": OpDef(cutout, "cutout", (60.0 / 331.0, 60.0 / 331.0)),
}
OP_NAMES = list(OPS)
GEOMETRIC = frozenset(["ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"])
