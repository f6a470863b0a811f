"""Batched 3D augmentation of volumes ``(B, C, D, H, W)`` with per-sample random parameters.

Each function draws its parameters per sample from torch's global generator (training seeds it per epoch)
and works on the whole batch on its device; each has an ``nn.Module`` twin called ``x, y = op(x, y)``,
registered with a ``3d_`` name:

=============  =================================================================================
``3d_flip``    flip each of depth, height, width with probability ``flip_p``
``3d_rot90``   rotate by k*90 degrees in one of the three planes (axial, coronal, sagittal)
``3d_affine``  small rotation about all three axes, scaling and translation (one ``grid_sample``)
``3d_intensity`` random scale and shift of intensities
``3d_gamma``   random gamma ``x ** g`` (log-uniform g)
``3d_erasing`` erase a random cuboid (Zhong et al., AAAI 2020, in 3D)
``3d_mixup``   Mixup (Zhang et al., ICLR 2018) of volumes and targets, partner = the batch reversed
``3d_cutmix``  CutMix (Yun et al., ICCV 2019) with cuboids; the label share is the pasted share exactly
=============  =================================================================================

Settings come from the run's ``params`` dict (keys in each registration below); every op works for any
number of channels and any depth/height/width, including non-cubic volumes.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medtrain.augment._checks import check_fill
from medtrain.augment._registry import register_op
from medtrain.augment.geometric import check_prob, check_range
from medtrain.augment.mixing import sample_lam
from medtrain.errors import MedtrainError

_SPATIAL = (2, 3, 4)  # depth, height, width of (B, C, D, H, W)
_PLANES = ((3, 4), (2, 4), (2, 3))  # rotation planes: axial (H, W), coronal (D, W), sagittal (D, H)


def _check(x: Tensor) -> None:
    if x.ndim != 5:
        raise MedtrainError(f"3D augmentation expects (B, C, D, H, W), got shape {tuple(x.shape)}")


def _uniform(b: int, lo: float, hi: float, device) -> Tensor:
    return lo + (hi - lo) * torch.rand(b, device=device)


def random_flip3d(x: Tensor, p: float = 0.5, dims=_SPATIAL) -> Tensor:
    """Flip each sample along each of ``dims`` independently with probability ``p``."""
    _check(x)
    for d in dims:
        flip = torch.rand(x.shape[0], device=x.device) < p
        if flip.any():
            x = torch.where(flip.view(-1, 1, 1, 1, 1), x.flip(d), x)
    return x


def random_rot90_3d(x: Tensor, p: float = 0.75) -> Tensor:
    """Rotate each sample by k*90 degrees (k in 1..3) in a random plane, with probability ``p``.

    Quarter turns swap two axes, so a plane whose two sizes differ only gets the half turn (k = 2), which
    keeps the shape; the batch shape never changes.
    """
    _check(x)
    b = x.shape[0]
    do = torch.rand(b, device=x.device) < p
    plane = torch.randint(0, 3, (b,), device=x.device)
    k = torch.randint(1, 4, (b,), device=x.device)
    out = x.clone()
    for pi, dims in enumerate(_PLANES):
        square = x.shape[dims[0]] == x.shape[dims[1]]
        for kk in (1, 2, 3):
            sel = do & (plane == pi) & (k == kk)
            if sel.any():
                # quarter turns of a non-square plane would change the shape: they become half turns
                out[sel] = torch.rot90(x[sel], kk if square else 2, dims=dims)
    return out


def _rotation_matrices(angles: Tensor) -> Tensor:
    """(B, 3) angles in radians about the depth, height and width axes -> (B, 3, 3) rotations."""
    c, s = angles.cos(), angles.sin()
    one, zero = torch.ones_like(c[:, 0]), torch.zeros_like(c[:, 0])

    def mat(rows):
        return torch.stack([torch.stack(r, -1) for r in rows], -2)

    # grid_sample's coordinate order is (x, y, z) = (W, H, D).
    rz = mat([[c[:, 0], -s[:, 0], zero], [s[:, 0], c[:, 0], zero], [zero, zero, one]])  # about D: in the H-W plane
    ry = mat([[c[:, 1], zero, s[:, 1]], [zero, one, zero], [-s[:, 1], zero, c[:, 1]]])  # about H: in the D-W plane
    rx = mat([[one, zero, zero], [zero, c[:, 2], -s[:, 2]], [zero, s[:, 2], c[:, 2]]])  # about W: in the D-H plane
    return rz @ ry @ rx


def random_affine3d(x: Tensor, degrees: float = 10.0, scale=(0.9, 1.1), translate: float = 0.1,
                    p: float = 1.0, mode: str = "bilinear", padding_mode: str = "zeros") -> Tensor:
    """Small random affine transform per sample: rotation, isotropic scaling and translation.

    Args:
        x: ``(B, C, D, H, W)``.
        degrees: rotation about each axis drawn from ``[-degrees, degrees]``.
        scale: zoom factor range ``(lo, hi)``, drawn uniformly.
        translate: shift along each axis drawn from ``[-translate, translate]`` of its size.
        p: probability that a sample is transformed (the others get the identity).
        mode, padding_mode: passed to ``grid_sample`` (trilinear interpolation, zeros outside).
    """
    _check(x)
    b, dev = x.shape[0], x.device
    ang = (torch.rand(b, 3, device=dev) * 2 - 1) * math.radians(degrees)
    zoom = _uniform(b, scale[0], scale[1], dev)
    shift = (torch.rand(b, 3, device=dev) * 2 - 1) * 2 * translate  # grid units: [-1, 1] spans the size
    keep = torch.rand(b, device=dev) >= p
    # Rotate in voxel units, not in grid units ([-1, 1] per axis), so a non-cubic volume is not sheared:
    # theta = S^-1 R S with S = diag(W, H, D).
    size = torch.tensor(x.shape[:1:-1], device=dev, dtype=torch.float32)  # (W, H, D)
    rot = _rotation_matrices(ang) * size.view(1, 1, 3) / size.view(1, 3, 1)
    theta = rot / zoom.view(-1, 1, 1)
    theta = torch.cat([theta, shift.unsqueeze(-1)], -1)
    ident = torch.eye(3, 4, device=dev).expand(b, 3, 4)
    theta = torch.where(keep.view(-1, 1, 1), ident, theta).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=False)


def random_intensity(x: Tensor, scale: float = 0.1, shift: float = 0.1, p: float = 1.0) -> Tensor:
    """``x * a + b`` per sample, ``a`` in ``[1 - scale, 1 + scale]``, ``b`` in ``[-shift, shift]``; clamped."""
    _check(x)
    b, dev = x.shape[0], x.device
    a = _uniform(b, 1 - scale, 1 + scale, dev)
    s = _uniform(b, -shift, shift, dev)
    keep = torch.rand(b, device=dev) >= p
    a, s = torch.where(keep, 1.0, a), torch.where(keep, 0.0, s)
    return (x * a.view(-1, 1, 1, 1, 1) + s.view(-1, 1, 1, 1, 1)).clamp(0, 1).to(x.dtype)


def random_gamma(x: Tensor, gamma=(0.7, 1.5), p: float = 1.0) -> Tensor:
    """``x ** g`` per sample, ``log g`` uniform in ``[log gamma[0], log gamma[1]]`` (x clamped to [0, 1])."""
    _check(x)
    b, dev = x.shape[0], x.device
    g = torch.exp(_uniform(b, math.log(gamma[0]), math.log(gamma[1]), dev))
    g = torch.where(torch.rand(b, device=dev) >= p, 1.0, g)
    return x.clamp(0, 1).pow(g.view(-1, 1, 1, 1, 1).to(x.dtype))


def _random_boxes(frac: Tensor, shape: tuple, inside: bool = False) -> tuple[Tensor, Tensor]:
    """Per-sample cuboids (start, stop) ``(B, 3)`` of about ``frac`` ``(B,)`` of the volume each.

    Each side is ``frac ** (1/3)`` of its axis times a random aspect factor (the factors multiply to 1).
    CutMix's (``inside=False``): the centre is uniform in the volume and the box is clipped to it, so the
    exact share must be measured from the mask. Random Erasing's (``inside=True``, Zhong et al. AAAI 2020):
    the box lies wholly inside the volume, its aspect redrawn (up to 10 times, as the paper retries) until its
    sides fit, else a cube, so the erased share is the one drawn up to rounding, large shares included.
    """
    b, dev = frac.shape[0], frac.device
    sizes = torch.tensor(shape, device=dev, dtype=torch.float32)
    tries = 10 if inside else 1
    aspect = torch.exp((torch.rand(b, tries, 3, device=dev) * 2 - 1) * math.log(1.5))
    aspect = aspect / aspect.prod(-1, keepdim=True).pow(1 / 3)
    want = (frac.clamp(0, 1).pow(1 / 3)[:, None, None] * aspect * sizes).round()  # (B, tries, 3)
    if inside:  # the first draw whose sides fit; none: a cube of the share (it fits: the share is <= 1)
        fits = (want <= sizes).all(-1)
        first = torch.where(fits.any(1), fits.float().argmax(1), torch.full_like(fits[:, 0], -1, dtype=torch.long))
        cube = (frac.clamp(0, 1).pow(1 / 3)[:, None] * sizes).round()
        side = torch.where((first >= 0)[:, None], want[torch.arange(b, device=dev), first.clamp(min=0)], cube)
    else:
        side = want[:, 0]
    side = torch.minimum(side, sizes)
    if inside:
        start = (torch.rand(b, 3, device=dev) * (sizes - side + 1)).floor().clamp(max=sizes - side)
        return start.long(), (start + side).long()
    centre = torch.rand(b, 3, device=dev) * sizes
    start = (centre - side / 2).round().clamp(min=0)
    stop = torch.minimum(start + side, sizes)
    return start.long(), stop.long()


def _box_mask(start: Tensor, stop: Tensor, shape: tuple) -> Tensor:
    """Boolean ``(B, 1, D, H, W)`` mask of the cuboids ``[start, stop)``."""
    dev = start.device
    axes = []
    for i, n in enumerate(shape):
        r = torch.arange(n, device=dev)
        axes.append((r >= start[:, i:i + 1]) & (r < stop[:, i:i + 1]))  # (B, n)
    d, h, w = axes
    return (d[:, :, None, None] & h[:, None, :, None] & w[:, None, None, :]).unsqueeze(1)


def random_erasing3d(x: Tensor, p: float = 0.5, scale: tuple = (0.02, 0.33), value: float | str = 0.0) -> Tensor:
    """Erase a random cuboid of a ``scale`` share of the volume from each sample with probability ``p``.

    ``value`` is a constant or ``"random"`` (uniform noise in [0, 1], as Zhong et al. recommend).
    """
    _check(x)
    b, dev = x.shape[0], x.device
    start, stop = _random_boxes(_uniform(b, scale[0], scale[1], dev), tuple(x.shape[2:]), inside=True)
    mask = _box_mask(start, stop, tuple(x.shape[2:])) & (torch.rand(b, device=dev) < p).view(-1, 1, 1, 1, 1)
    fill = torch.rand_like(x) if value == "random" else torch.full_like(x, float(value))
    return torch.where(mask, fill, x)


def _mix_targets(y: Tensor, own: Tensor) -> Tensor:
    w = own.to(y.dtype).view(-1, *([1] * (y.ndim - 1)))
    return w * y + (1 - w) * y.flip(0)


def mixup3d(x: Tensor, y: Tensor, alpha: float = 0.2) -> tuple[Tensor, Tensor]:
    """Mixup of volumes: sample ``i`` mixes with partner ``B-1-i`` with its own ``lam ~ Beta(alpha, alpha)``.

    The partner convention (the batch reversed) is the 2D ``mixup`` op's, so 2D and 3D runs mix alike.
    """
    _check(x)
    lam = sample_lam(x.shape[0], alpha, x.device)
    lx = lam.to(x.dtype).view(-1, 1, 1, 1, 1)
    return lx * x + (1 - lx) * x.flip(0), _mix_targets(y, lam)


def cutmix3d(x: Tensor, y: Tensor, alpha: float = 1.0) -> tuple[Tensor, Tensor]:
    """CutMix with cuboids: paste a box of partner ``B-1-i``; the target share equals the pasted share.

    The pasted share is drawn as ``1 - lam``, ``lam ~ Beta(alpha, alpha)``, per sample; the box is clipped
    to the volume, then its exact voxel share ``r`` is counted and the target becomes
    ``(1 - r) y + r y[partner]`` (Yun et al., ICCV 2019, with the correction of their Algorithm A1).
    """
    _check(x)
    b, shape = x.shape[0], tuple(x.shape[2:])
    lam = sample_lam(b, alpha, x.device)
    start, stop = _random_boxes(1 - lam, shape)
    mask = _box_mask(start, stop, shape)
    share = mask.flatten(1).float().mean(1)  # exact pasted share per sample
    return torch.where(mask, x.flip(0), x), _mix_targets(y, 1 - share)


class _Op(nn.Module):
    """Wrap an x-only function as ``x, y = op(x, y)``."""

    def __init__(self, fn, **kwargs):
        super().__init__()
        self.fn, self.kwargs = fn, kwargs

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return self.fn(x, **self.kwargs), y

    def extra_repr(self) -> str:
        return f"{self.fn.__name__}, {self.kwargs}"


class RandomFlip3d(_Op):
    def __init__(self, p: float = 0.5):
        super().__init__(random_flip3d, p=check_prob("3d_flip probability", p))


class RandomRot90_3d(_Op):
    def __init__(self, p: float = 0.75):
        super().__init__(random_rot90_3d, p=check_prob("3d_rot90 probability", p))


class RandomAffine3d(_Op):
    def __init__(self, degrees: float = 10.0, scale=(0.9, 1.1), translate: float = 0.1, p: float = 1.0):
        lo, hi = check_range("3d_affine scale", scale, 0.0, None, low_open=True)
        if not 0 <= float(degrees) <= 180 or not 0 <= float(translate) <= 1:
            raise MedtrainError(f"3d_affine needs 0 <= degrees <= 180 and 0 <= translate <= 1, got {degrees}, "
                                f"{translate}")
        super().__init__(random_affine3d, degrees=float(degrees), scale=(lo, hi), translate=float(translate),
                         p=check_prob("3d_affine probability", p))


class RandomIntensity3d(_Op):
    def __init__(self, scale: float = 0.1, shift: float = 0.1, p: float = 1.0):
        # scale in [0, 1): the factor 1 +- scale stays positive; shift in [0, 1): a volume's [0, 1] values are not all
        # moved out of range. Unchecked, intensity_scale 5 (or -5) turned 38-41% of volumes black, exit 0 (a walk)
        for name, value in (("intensity_scale", scale), ("intensity_shift", shift)):
            if not 0.0 <= float(value) < 1.0:
                raise MedtrainError(f"3d_intensity {name} must be in [0, 1), got {value}")
        super().__init__(random_intensity, scale=float(scale), shift=float(shift),
                         p=check_prob("3d_intensity probability", p))


class RandomGamma3d(_Op):
    def __init__(self, gamma=(0.7, 1.5), p: float = 1.0):
        super().__init__(random_gamma, gamma=check_range("3d_gamma range", gamma, 0.0, None, low_open=True),
                         p=check_prob("3d_gamma probability", p))


class RandomErasing3d(_Op):
    def __init__(self, p: float = 0.5, scale=(0.02, 0.33), value: float | str = 0.0):
        super().__init__(random_erasing3d, p=check_prob("3d_erasing probability", p),
                         scale=check_range("3d_erasing scale", scale, 0.0, 1.0),
                         value=check_fill("3d_erasing fill", value))


class _Mix(nn.Module):
    def __init__(self, fn, alpha: float, p: float):
        super().__init__()
        if not float(alpha) > 0:
            raise MedtrainError(f"{fn.__name__} alpha must be > 0, got {alpha}")
        self.fn, self.alpha, self.p = fn, float(alpha), check_prob(f"{fn.__name__} probability", p)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if y.ndim != 2 or y.shape[0] != x.shape[0] or not y.is_floating_point():
            raise MedtrainError(f"{self.fn.__name__} needs soft targets (B, K) float, got {tuple(y.shape)} {y.dtype}")
        if self.p < 1 and torch.rand(()) >= self.p:  # per batch, as the 2D ops
            return x, y
        return self.fn(x, y, self.alpha)


class Mixup3d(_Mix):
    def __init__(self, alpha: float = 0.2, p: float = 1.0):
        super().__init__(mixup3d, alpha, p)


class CutMix3d(_Mix):
    def __init__(self, alpha: float = 1.0, p: float = 1.0):
        super().__init__(cutmix3d, alpha, p)


# Setting keys are shared with the 2D ops of the same name (flip_p, affine_*, gamma_range, erasing_*,
# mixup_*, cutmix_*), so one run configuration drives 2D and 3D alike.
register_op(
    "3d_flip",
    "mirror each volume along each of its three axes independently, each with probability flip_p",
)(lambda p: RandomFlip3d(p.get("flip_p", 0.5)))
register_op(
    "3d_rot90",
    "with probability rot90_p, turn each volume by 90, 180 or 270 degrees in a random plane (180 "
    "only where the plane's two sides differ)",
)(lambda p: RandomRot90_3d(p.get("rot90_p", 0.75)))
register_op(
    "3d_affine",
    "with probability affine_p, rotate about each axis by U(±affine_degrees) degrees, scale by "
    "U(affine_scale), translate by U(±affine_translate) of the size",
)(lambda p: RandomAffine3d(p.get("affine_degrees", 10.0), p.get("affine_scale", (0.9, 1.1)),
                           p.get("affine_translate", 0.1), p.get("affine_p", 1.0)))
register_op(
    "3d_intensity",
    "x a + b per volume, a ~ U(1 ± intensity_scale), b ~ U(±intensity_shift), clamped to [0, 1]",
)(lambda p: RandomIntensity3d(p.get("intensity_scale", 0.1), p.get("intensity_shift", 0.1)))
register_op(
    "3d_gamma",
    "raise each volume to a power g, log-uniform in gamma_range (0 and 1 stay fixed)",
)(lambda p: RandomGamma3d(p.get("gamma_range", (0.7, 1.5))))
register_op(
    "3d_erasing",
    "with probability erasing_p, erase a cuboid of volume share U(erasing_scale), filled with "
    "erasing_value (or 'random' noise)",
)(lambda p: RandomErasing3d(p.get("erasing_p", 0.5), p.get("erasing_scale", (0.02, 0.33)),
                            p.get("erasing_value", 0.0)))
register_op(
    "3d_mixup",
    "Mixup of volumes, weight ~ Beta(mixup_alpha, mixup_alpha); a batch is mixed with probability "
    "mixup_p",
)(lambda p: Mixup3d(p.get("mixup_alpha", 0.2), p.get("mixup_p", 1.0)))
register_op(
    "3d_cutmix",
    "CutMix with cuboids, the targets mixed by the pasted voxel share, lambda ~ Beta(cutmix_alpha, "
    "cutmix_alpha); a batch is mixed with probability cutmix_p",
)(lambda p: CutMix3d(p.get("cutmix_alpha", 1.0), p.get("cutmix_p", 1.0)))
