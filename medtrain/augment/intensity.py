"""Batched intensity and colour augmentations with per-sample random parameters.

Every op takes a float batch ``(B, C, H, W)`` in [0, 1] and returns one of the same shape, dtype and
device, drawing its random numbers per sample from torch's global generator.

Colour jitter here is *linear*: brightness, contrast and saturation are per-sample affine maps in
RGB, and the hue shift is a rotation of the chroma plane of YIQ, so the four compose into a single
per-sample 3x4 matrix applied in one pass (and, being linear, the order of the four no longer
matters). It differs from ``torchvision``'s ColorJitter only in that it clips once at the end
instead of after every step and rotates hue in YIQ instead of shifting it in HSV.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from medtrain.augment._registry import register_op
from medtrain.augment.geometric import _check_batch, check_range
from medtrain.errors import MedtrainError

# RGB -> YIQ (NTSC). Its luma row equals the grey weights torchvision uses for contrast/saturation.
_YIQ = torch.tensor([[0.299, 0.587, 0.114],
                     [0.595716, -0.274453, -0.321263],
                     [0.211456, -0.522591, 0.311135]], dtype=torch.float64)
_YIQ_INV = torch.linalg.inv(_YIQ)
_LUMA = _YIQ[0]


# ---------------------------------------------------------------------------------------------------------
# Colour jitter
# ---------------------------------------------------------------------------------------------------------


def _factor_range(name: str, v: float, centre: float = 1.0, low: float = 0.0) -> tuple[float, float]:
    v = float(v)
    if v < 0:
        raise MedtrainError(f"jitter {name} must be >= 0, got {v}")
    return max(low, centre - v), centre + v


def sample_jitter_factors(b: int, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4,
                          hue: float = 0.1, device=None) -> Tensor:
    """Per-sample factors ``(B, 4)``: brightness, contrast, saturation ~ U(max(0, 1-s), 1+s), hue ~ U(-h, h).

    The ranges are torchvision's ColorJitter ranges; ``hue`` is a fraction of a full turn (<= 0.5) of YIQ's chroma
    plane, not of HSV's hue as torchvision's: measured in HSV, a turn of ±0.1 moves a skin tone's hue by -0.139 /
    +0.084 and its saturation and value too (walk "colour").
    """
    if not 0 <= hue <= 0.5:
        raise MedtrainError(f"jitter hue must be in [0, 0.5], got {hue}")
    lo = torch.tensor([*(_factor_range(n, v)[0] for n, v in
                         (("brightness", brightness), ("contrast", contrast), ("saturation", saturation))), -hue],
                      device=device)
    hi = torch.tensor([1 + brightness, 1 + contrast, 1 + saturation, hue], device=device)
    return lo + (hi - lo) * torch.rand(b, 4, device=device)


def jitter_matrices(factors: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Compose per-sample jitter factors ``(B, 4)`` into ``x -> A x + c * mean_luma(x)``.

    With brightness ``b``, contrast ``c``, saturation ``s`` and hue angle ``t``:
    ``out = b * Y^-1 diag(1, s R(t)) Y (c x + (1 - c) m 1)`` where ``m`` is the image's mean luma; the
    chroma transform leaves grey ``m 1`` unchanged, so ``out = (b c K) x + b (1 - c) m``.

    Returns:
        ``A`` ``(B, 3, 3)`` (float32), ``k`` ``(B,)`` = ``b (1 - c)`` (the weight of the mean luma, added
        to every channel), and ``luma`` ``(3,)``, the weights giving ``m`` from the per-channel means.
    """
    f = factors.double()
    b, c, s, h = f.unbind(1)
    # Negative angle: with YIQ's axes, this turns hue the same way as torchvision's HSV shift (red -> yellow).
    t = -2 * math.pi * h
    cos, sin = torch.cos(t) * s, torch.sin(t) * s
    chroma = torch.zeros(f.shape[0], 3, 3, dtype=torch.float64, device=f.device)
    chroma[:, 0, 0] = 1
    chroma[:, 1, 1], chroma[:, 1, 2] = cos, -sin
    chroma[:, 2, 1], chroma[:, 2, 2] = sin, cos
    yiq, yiq_inv = _YIQ.to(f.device), _YIQ_INV.to(f.device)
    a = (b * c)[:, None, None] * (yiq_inv @ chroma @ yiq)
    return a.float(), (b * (1 - c)).float(), _LUMA.to(device=f.device, dtype=torch.float32)


def apply_jitter(x: Tensor, factors: Tensor, max_value: float = 1.0) -> Tensor:
    """Apply per-sample jitter ``factors`` ``(B, 4)`` to ``x`` ``(B, C, H, W)`` with C = 3 or 1, clipped.

    Grey images (C = 1) only get brightness and contrast.
    """
    b, ch = x.shape[:2]
    a, k, luma = jitter_matrices(factors.to(x.device))
    if ch == 1:
        m = x.mean((1, 2, 3))
        bc = factors[:, 0].to(x.device, torch.float32) * factors[:, 1].to(x.device, torch.float32)
        out = x * bc[:, None, None, None].to(x.dtype) + (k * m.float())[:, None, None, None].to(x.dtype)
        return out.clamp_(0, max_value)
    if ch != 3:
        raise MedtrainError(f"colour jitter needs 1 or 3 channels, got {ch}")
    m = x.float().mean((2, 3)) @ luma  # (B,) mean luma
    off = (k * m)[:, None, None].expand(b, 3, 1)
    flat = x.reshape(b, 3, -1)
    out = torch.baddbmm(off.to(x.dtype), a.to(x.dtype), flat)
    return out.clamp_(0, max_value).view_as(x)


def color_jitter(x: Tensor, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4,
                 hue: float = 0.1) -> Tensor:
    """Randomly change brightness, contrast, saturation and hue of each sample, as one linear map.

    Factor ranges follow torchvision's ColorJitter (Howard, 2013 / Krizhevsky et al., 2012 popularised
    the idea); see the module docstring for how it composes. Zero strengths give the identity.

    Args:
        x: float batch ``(B, C, H, W)`` in [0, 1], C = 3 (RGB) or 1 (grey: brightness and contrast only).
        brightness, contrast, saturation: strengths >= 0 (factors ~ U(max(0, 1 - s), 1 + s)).
        hue: strength in [0, 0.5], a fraction of a full turn of the YIQ chroma plane (not an HSV hue shift).

    Returns:
        the jittered batch, same shape, clipped to [0, 1].
    """
    _check_batch(x, "color_jitter")
    f = sample_jitter_factors(x.shape[0], brightness, contrast, saturation, hue, x.device)
    return apply_jitter(x, f)


class ColorJitter(nn.Module):
    """Per-sample linear colour jitter; see :func:`color_jitter`."""

    def __init__(self, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4, hue: float = 0.1,
                 colour_given: tuple = ()):
        super().__init__()
        for n, v in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
            _factor_range(n, v)
        if not 0 <= hue <= 0.5:
            raise MedtrainError(f"jitter hue must be in [0, 0.5], got {hue}")
        self.brightness, self.contrast = float(brightness), float(contrast)
        self.saturation, self.hue = float(saturation), float(hue)
        self.colour_given = tuple(colour_given)  # the colour settings a user gave (not the defaults)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if x.shape[1] == 1 and self.colour_given:  # given for grey images, on which they do nothing (a walk)
            verb, them = ("act", "them") if len(self.colour_given) > 1 else ("acts", "it")
            raise MedtrainError(f"{' and '.join(self.colour_given)} {verb} on colour and these images are grey: jitter "
                                f"changes their brightness and contrast only; leave {them} out")
        return color_jitter(x, self.brightness, self.contrast, self.saturation, self.hue), y


# ---------------------------------------------------------------------------------------------------------
# PCA lighting (Krizhevsky, Sutskever & Hinton, "ImageNet classification with deep CNNs", NeurIPS 2012)
# ---------------------------------------------------------------------------------------------------------


def fit_pca_lighting(images_uint8: Tensor, chunk: int | None = None) -> tuple[Tensor, Tensor]:
    """Eigen-decompose the RGB covariance of a training set, once per dataset.

    Args:
        images_uint8: ``(N, 3, H, W)`` uint8 (or float in [0, 1]) training images.
        chunk: images per pass (default: about 4 M pixels' worth); sums accumulate in float64, so memory
            stays small whatever the dataset size.

    Returns:
        ``(eigvals (3,), eigvecs (3, 3))`` of the covariance of pixel values scaled to [0, 1],
        eigenvalues descending and eigenvectors in the columns (orthonormal).
    """
    if images_uint8.ndim != 4 or images_uint8.shape[1] != 3:
        raise MedtrainError(f"fit_pca_lighting needs RGB images (N, 3, H, W), got {tuple(images_uint8.shape)}")
    scale = 1 / 255 if images_uint8.dtype == torch.uint8 else 1.0
    chunk = chunk or max(1, (1 << 22) // (images_uint8.shape[2] * images_uint8.shape[3]))
    n = 0
    s = torch.zeros(3, dtype=torch.float64)
    ss = torch.zeros(3, 3, dtype=torch.float64)
    for i in range(0, images_uint8.shape[0], chunk):
        p = images_uint8[i:i + chunk].to(torch.float64).mul_(scale).permute(1, 0, 2, 3).reshape(3, -1)
        n += p.shape[1]
        s += p.sum(1)
        ss += p @ p.T
    if n < 2:
        raise MedtrainError("fit_pca_lighting needs at least two pixels")
    mean = s / n
    cov = (ss - n * torch.outer(mean, mean)) / (n - 1)
    vals, vecs = torch.linalg.eigh(cov)
    order = torch.argsort(vals, descending=True)
    return vals[order].clamp_min(0).float(), vecs[:, order].float()


def pca_lighting(x: Tensor, eigvals: Tensor, eigvecs: Tensor, std: float = 0.1) -> Tensor:
    """Add ``eigvecs @ (alpha * eigvals)``, alpha ~ N(0, std^2) per sample and component, to every pixel.

    Args:
        x: float RGB batch ``(B, 3, H, W)`` in [0, 1].
        eigvals, eigvecs: from :func:`fit_pca_lighting`.
        std: standard deviation of alpha (0.1 in the paper), >= 0.

    Returns:
        the lit batch ``(B, 3, H, W)``, clipped to [0, 1].
    """
    _check_batch(x, "pca_lighting")
    if x.shape[1] != 3:
        raise MedtrainError(f"PCA lighting needs RGB images, got {x.shape[1]} channel{'s' * (x.shape[1] != 1)}")
    if tuple(eigvals.shape) != (3,) or tuple(eigvecs.shape) != (3, 3):
        raise MedtrainError(f"pca_lighting needs eigvals (3,) and eigvecs (3, 3) from fit_pca_lighting, got "
                            f"{tuple(eigvals.shape)} and {tuple(eigvecs.shape)}")
    if not std >= 0:
        raise MedtrainError(f"pca std must be >= 0, got {std}")
    alpha = torch.randn(x.shape[0], 3, device=x.device) * std
    shift = (alpha * eigvals.to(x.device)) @ eigvecs.to(x.device).T  # (B, 3)
    return (x + shift[:, :, None, None].to(x.dtype)).clamp_(0, 1)


class PCALighting(nn.Module):
    """AlexNet's "fancy PCA" colour augmentation; see :func:`pca_lighting`."""

    def __init__(self, eigvals: Tensor, eigvecs: Tensor, std: float = 0.1):
        super().__init__()
        eigvals, eigvecs = torch.as_tensor(eigvals, dtype=torch.float32), torch.as_tensor(eigvecs, dtype=torch.float32)
        if eigvals.shape != (3,) or eigvecs.shape != (3, 3):
            raise MedtrainError("pca_eig must be (eigvals (3,), eigvecs (3, 3)) from fit_pca_lighting")
        if std < 0:
            raise MedtrainError(f"pca std must be >= 0, got {std}")
        self.register_buffer("eigvals", eigvals)
        self.register_buffer("eigvecs", eigvecs)
        self.std = float(std)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return pca_lighting(x, self.eigvals, self.eigvecs, self.std), y


def _pca_from_params(p: dict) -> PCALighting:
    eig = p.get("pca_eig")
    if eig is None:
        raise MedtrainError("augmentation 'pca' needs params['pca_eig'] = fit_pca_lighting(training images)")
    return PCALighting(eig[0], eig[1], p.get("pca_std", 0.1))


# ---------------------------------------------------------------------------------------------------------
# Radiograph intensity: gamma and windowing
# ---------------------------------------------------------------------------------------------------------


def random_gamma(x: Tensor, gamma=(0.7, 1.5)) -> Tensor:
    """Raise each sample to a power ``g``, log-uniform in ``gamma`` (so g and 1/g are equally likely).

    Mimics the varying exposure/detector response of radiographs while keeping 0 and 1 fixed.

    Args:
        x: float batch ``(B, C, H, W)`` in [0, 1] (volumes: :func:`medtrain.augment.volume.random_gamma`).
        gamma: ``(low, high)`` range of the power, ``0 < low <= high``.

    Returns:
        the batch, same shape, clipped to [0, 1] before the power.
    """
    _check_batch(x, "random_gamma")
    gamma = check_range("gamma range", gamma, 0.0, None, low_open=True)
    lo, hi = math.log(gamma[0]), math.log(gamma[1])
    g = torch.exp(torch.empty(x.shape[0], device=x.device).uniform_(lo, hi))
    return x.clamp(0, 1).pow(g[:, None, None, None].to(x.dtype))


class RandomGamma(nn.Module):
    """Per-sample gamma; see :func:`random_gamma`."""

    def __init__(self, gamma=(0.7, 1.5)):
        super().__init__()
        self.gamma = check_range("gamma range", gamma, 0.0, None, low_open=True)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return random_gamma(x, self.gamma), y


def random_window(x: Tensor, center=(0.4, 0.6), width=(0.7, 1.0)) -> Tensor:
    """Re-window each sample: ``clip((x - (c - w/2)) / w, 0, 1)`` with ``c ~ U(center)``, ``w ~ U(width)``.

    The intensity-windowing (window level / width) a radiologist varies when reading an image.

    Args:
        x: float batch ``(B, C, H, W)`` in [0, 1].
        center: ``(low, high)`` range of the window centre, within [0, 1].
        width: ``(low, high)`` range of the window width, ``0 < low <= high``.

    Returns:
        the re-windowed batch, same shape, in [0, 1].
    """
    _check_batch(x, "random_window")
    center = check_range("window center", center, 0.0, 1.0)
    width = check_range("window width", width, 0.0, None, low_open=True)
    u = torch.rand(2, x.shape[0], device=x.device)
    c = center[0] + u[0] * (center[1] - center[0])
    w = width[0] + u[1] * (width[1] - width[0])
    lo = (c - w / 2)[:, None, None, None].to(x.dtype)
    return ((x - lo) / w[:, None, None, None].to(x.dtype)).clamp_(0, 1)


class RandomWindow(nn.Module):
    """Per-sample intensity window; see :func:`random_window`."""

    def __init__(self, center=(0.4, 0.6), width=(0.7, 1.0)):
        super().__init__()
        self.center = check_range("window center", center, 0.0, 1.0)
        self.width = check_range("window width", width, 0.0, None, low_open=True)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return random_window(x, self.center, self.width), y


# ---------------------------------------------------------------------------------------------------------
# HED stain jitter (Tellez et al., "Whole-slide mitosis detection in H&E breast histology using PHH3 as a
# reference to train distilled stain-invariant CNNs", IEEE TMI 2018)
# ---------------------------------------------------------------------------------------------------------


_OD_UNIT = -math.log(1e-6)


def hed_jitter(x: Tensor, sigma: float = 0.05) -> Tensor:
    """Perturb the haematoxylin, eosin and DAB stains of each sample independently.

    In HED space (colour deconvolution, Ruifrok & Johnston 2001) each channel becomes
    ``alpha * s + beta`` with ``alpha ~ U(1 - sigma, 1 + sigma)`` and ``beta ~ U(-sigma, sigma)``, drawn per
    sample and channel (beta in optical-density units, as in the paper), then the image is converted
    back to RGB and clipped to [0, 1]. The conversion clips negative stain amounts, so it is lossy for colours
    that are not mixtures of the three stains (a retina photograph lost 0.05 of its mean colour at sigma 0):
    the jitter is applied as the change it makes, ``x + rgb(jittered) - rgb(hed)``, so what the stains cannot
    represent is kept and sigma 0 is the identity.

    Args:
        x: float RGB batch ``(B, 3, H, W)`` in [0, 1].
        sigma: strength in [0, 1) (Tellez et al. use 0.05 for "light" and 0.2 for "strong" HED augmentation).

    Returns:
        the jittered batch ``(B, 3, H, W)``, clipped to [0, 1].
    """
    _check_batch(x, "hed_jitter")
    if x.shape[1] != 3:
        raise MedtrainError(f"HED jitter needs RGB images, got {x.shape[1]} channel{'s' * (x.shape[1] != 1)}")
    sigma = _check_hed_sigma(sigma)
    # Imported lazily: medtrain.color is an optional sibling package of this one.
    from medtrain.color.hed import hed_to_rgb, rgb_to_hed

    b = x.shape[0]
    u = torch.rand(2, b, 3, 1, 1, device=x.device) * 2 - 1
    alpha = (1 + sigma * u[0]).to(x.dtype)
    # medtrain.color.hed (like scikit-image >= 0.19) divides optical densities by -log(1e-6); the paper
    # used the raw densities of scikit-image's rgb2hed at the time, so beta is rescaled to those units.
    beta = (sigma * u[1] / _OD_UNIT).to(x.dtype)
    hed = rgb_to_hed(x)
    return (x + hed_to_rgb(hed * alpha + beta) - hed_to_rgb(hed)).clamp(0, 1).to(x.dtype)


def _check_hed_sigma(sigma) -> float:
    try:
        s = float(sigma)
    except (TypeError, ValueError):
        s = None
    if s is None or not 0 <= s < 1:
        raise MedtrainError(f"hed sigma must be in [0, 1), got {sigma!r}")
    return s


class HEDJitter(nn.Module):
    """Per-sample H&E stain jitter; see :func:`hed_jitter`."""

    def __init__(self, sigma: float = 0.05):
        super().__init__()
        self.sigma = _check_hed_sigma(sigma)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return hed_jitter(x, self.sigma), y


#: jitter's settings that act on colour alone: refused where given for grey images, and no setting of a grey run
COLOUR_SETTINGS = ("jitter_saturation", "jitter_hue")


register_op(
    "jitter",
    "colour jitter, torchvision's ranges: brightness, contrast and saturation factors ~ U(max(0, 1 - "
    "s), 1 + s) (s = jitter_brightness, jitter_contrast, jitter_saturation), the YIQ chroma plane turned by "
    "U(±jitter_hue) of a full turn (one linear map; not HSV's hue shift, which it only approximates); "
    "grey images get brightness and contrast only",
)(lambda p: ColorJitter(
    p.get("jitter_brightness", 0.4), p.get("jitter_contrast", 0.4), p.get("jitter_saturation", 0.4),
    p.get("jitter_hue", 0.1), colour_given=tuple(k for k in COLOUR_SETTINGS if k in p)))
register_op(
    "pca",
    "AlexNet's PCA lighting (Krizhevsky et al., 2012): add the training images' RGB principal "
    "components, weighted by their eigenvalues times N(0, pca_std^2) per image (RGB only)",
)(_pca_from_params)
register_op(
    "gamma",
    "raise each image to a power g, log-uniform in gamma_range (0 and 1 stay fixed)",
)(lambda p: RandomGamma(p.get("gamma_range", (0.7, 1.5))))
register_op(
    "window",
    "re-window intensities, clip((x - (c - w/2)) / w, 0, 1), centre c ~ U(window_center), width w ~ "
    "U(window_width)",
)(lambda p: RandomWindow(p.get("window_center", (0.4, 0.6)), p.get("window_width", (0.7, 1.0))))
register_op(
    "hed",
    "H&E stain jitter (colour deconvolution, Ruifrok & Johnston 2001): each stain s -> a s + b, a ~ "
    "U(1 ± hed_sigma), b ~ U(±hed_sigma) (RGB only)",
)(lambda p: HEDJitter(p.get("hed_sigma", 0.05)))
