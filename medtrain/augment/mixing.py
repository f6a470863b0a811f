"""Batched sample-mixing augmentations: Mixup, CutMix and a per-batch switch between them.

Each sample ``i`` is mixed with partner ``B-1-i`` (the batch reversed, as timm does: batches are
already shuffled, and reversing needs no random permutation) with its *own* mixing weight
``lam ~ Beta(alpha, alpha)``. Soft targets ``y`` ``(B, K)`` mix with the same weight as the pixels,
so one-hot, label-smoothed and multi-hot (multi-label) targets all work unchanged.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from medtrain.augment._checks import _check_batch
from medtrain.augment._registry import register_op
from medtrain.augment.erasing import box_mask
from medtrain.augment.geometric import check_prob
from medtrain.errors import MedtrainError
from medtrain.tasks import MULTILABEL


def soft_targets(labels: Tensor, task: str, num_classes: int) -> Tensor:
    """``(N, K)`` float targets of labels, what the mixing ops and the loss take: one-hot class indices (``(N,)`` or
    ``(N, 1)``), multi-label 0/1 rows as they are. The one definition: training's batches
    (:mod:`medtrain.training.module`) and ``augment show``'s grid (:mod:`medtrain.augment.grid`) both call it."""
    if task == MULTILABEL:
        return labels.float()
    return torch.nn.functional.one_hot(labels.long().reshape(-1), num_classes).float()


def _check_alpha(name: str, alpha: float) -> float:
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise MedtrainError(f"{name} alpha must be a number > 0, got {alpha!r}") from None
    if not alpha > 0:
        raise MedtrainError(f"{name} alpha must be > 0, got {alpha}")
    return alpha


def _check_xy(x: Tensor, y: Tensor, what: str) -> None:
    if not isinstance(y, Tensor) or y.ndim != 2 or y.shape[0] != x.shape[0] or not y.is_floating_point():
        got = f"{tuple(y.shape)} {y.dtype}" if isinstance(y, Tensor) else type(y).__name__
        raise MedtrainError(f"{what} needs soft targets y of shape (B, K) float with B = {x.shape[0]} (the batch of "
                            f"x), got {got}")


def sample_lam(b: int, alpha: float, device=None) -> Tensor:
    """``(B,)`` mixing weights ~ Beta(alpha, alpha) from torch's global generator.

    Beta from two Gammas, ``g1 / (g1 + g2)``, taken in log space: for small alpha both Gamma draws
    underflow to 0 in floating point (a third of them at alpha 0.02), and a clamp of their sum had pulled
    lambda towards 0 (mean 0.34 at alpha 0.02, not 0.5). ``Gamma(a) = Gamma(a + 1) * U ** (1 / a)`` (Marsaglia
    & Tsang 2000) gives ``log g`` without underflow, and ``lambda = sigmoid(log g1 - log g2)``.
    """
    dtype = torch.float32 if torch.device(device or "cpu").type == "mps" else torch.float64  # MPS has no float64
    a = torch.full((2, b), float(alpha) + 1.0, device=device, dtype=dtype)
    log_g = torch._standard_gamma(a).log() + torch.rand(2, b, device=device, dtype=dtype).log() / float(alpha)
    return torch.sigmoid(log_g[0] - log_g[1]).float()


def mix_targets(y: Tensor, lam: Tensor) -> Tensor:
    """``lam * y + (1 - lam) * y[partner]`` per sample (partner = reversed batch)."""
    lam = lam.to(y.dtype)[:, None]
    return lam * y + (1 - lam) * y.flip(0)


def mixup(x: Tensor, y: Tensor, alpha: float = 0.2) -> tuple[Tensor, Tensor, Tensor]:
    """Mixup (Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018), per-sample lambda.

    Args:
        x: float batch ``(B, C, H, W)`` of images or ``(B, C, D, H, W)`` of volumes.
        y: soft targets ``(B, K)`` float, the same ``B`` as ``x``.
        alpha: Beta(alpha, alpha) concentration (> 0).

    Returns:
        ``(x_mixed, y_mixed, lam)`` with ``lam`` ``(B,)``.
    """
    _check_batch(x, "mixup", volumes=True)
    _check_xy(x, y, "mixup")
    alpha = _check_alpha("mixup", alpha)
    lam = sample_lam(x.shape[0], alpha, x.device)
    lx = lam.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
    return lx * x + (1 - lx) * x.flip(0), mix_targets(y, lam), lam


def cutmix_boxes(lam: Tensor, h: int, w: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Per-sample CutMix boxes for weights ``lam`` ``(B,)`` and the weights corrected after clipping.

    The box has sides ``sqrt(1 - lam)`` times the image's, its centre uniform over the image (so it
    may cross the border); after clipping ``lam`` becomes ``1 - box area / image area``, the true share
    of the sample's own pixels (Yun et al., Algorithm A1; timm's ``correct_lam``).

    Returns:
        ``(top, left, height, width, lam_corrected)``.
    """
    b, dev = lam.shape[0], lam.device
    cy = torch.randint(0, h, (b,), device=dev)
    cx = torch.randint(0, w, (b,), device=dev)
    cut = torch.sqrt((1 - lam).clamp(0, 1))
    hh = (cut * h / 2).long()  # half sides, truncated as in the reference code
    hw = (cut * w / 2).long()
    y0, y1 = (cy - hh).clamp(0, h), (cy + hh).clamp(0, h)
    x0, x1 = (cx - hw).clamp(0, w), (cx + hw).clamp(0, w)
    bh, bw = y1 - y0, x1 - x0
    lam_c = 1 - (bh * bw).to(lam.dtype) / float(h * w)
    return y0, x0, bh, bw, lam_c


def cutmix(x: Tensor, y: Tensor, alpha: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
    """CutMix (Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers", ICCV 2019).

    Each sample gets a box of its partner's pixels; its targets mix with the box's exact area share.

    Args:
        x: batch ``(B, C, H, W)`` (volumes: :func:`medtrain.augment.volume.cutmix3d`).
        y: soft targets ``(B, K)`` float, the same ``B`` as ``x``.
        alpha: Beta(alpha, alpha) concentration (> 0).

    Returns:
        ``(x_mixed, y_mixed, lam)`` with ``lam`` ``(B,)`` the corrected per-sample share of own pixels.
    """
    _check_batch(x, "cutmix")
    _check_xy(x, y, "cutmix")
    alpha = _check_alpha("cutmix", alpha)
    b, _, h, w = x.shape
    lam = sample_lam(b, alpha, x.device)
    top, left, bh, bw, lam = cutmix_boxes(lam, h, w)
    mask = box_mask(top, left, bh, bw, h, w)
    return torch.where(mask, x.flip(0), x), mix_targets(y, lam), lam


class Mixup(nn.Module):
    """Per-sample Mixup of images and soft targets; see :func:`mixup`."""

    def __init__(self, alpha: float = 0.2, p: float = 1.0):
        super().__init__()
        self.alpha = _check_alpha("mixup", alpha)
        self.p = check_prob("mixup probability", p)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        _check_batch(x, "mixup", volumes=True)
        _check_xy(x, y, "mixup")
        if self.p < 1 and torch.rand(()) >= self.p:
            return x, y
        return mixup(x, y, self.alpha)[:2]


class CutMix(nn.Module):
    """Per-sample CutMix of images and soft targets; see :func:`cutmix`."""

    def __init__(self, alpha: float = 1.0, p: float = 1.0):
        super().__init__()
        self.alpha = _check_alpha("cutmix", alpha)
        self.p = check_prob("cutmix probability", p)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        _check_batch(x, "cutmix")
        _check_xy(x, y, "cutmix")
        if self.p < 1 and torch.rand(()) >= self.p:
            return x, y
        return cutmix(x, y, self.alpha)[:2]


class MixupOrCutMix(nn.Module):
    """Per batch, CutMix with probability ``switch_p``, else Mixup (timm's ``Mixup`` with both alphas set).

    Args:
        mixup_alpha, cutmix_alpha: the two Beta concentrations.
        switch_p: probability of choosing CutMix for a batch.
        p: probability of mixing a batch at all.
    """

    def __init__(self, mixup_alpha: float = 0.2, cutmix_alpha: float = 1.0, switch_p: float = 0.5, p: float = 1.0):
        super().__init__()
        self.mixup_alpha = _check_alpha("mixup", mixup_alpha)
        self.cutmix_alpha = _check_alpha("cutmix", cutmix_alpha)
        self.switch_p = check_prob("mix switch probability", switch_p)
        self.p = check_prob("mix probability", p)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        _check_batch(x, "mixup or cutmix")
        _check_xy(x, y, "mix")
        u = torch.rand(2)
        if u[0] >= self.p:
            return x, y
        if u[1] < self.switch_p:
            return cutmix(x, y, self.cutmix_alpha)[:2]
        return mixup(x, y, self.mixup_alpha)[:2]


register_op(
    "mixup",
    "Mixup (Zhang et al., ICLR 2018): blend each image and its target with another's, weight ~ "
    "Beta(mixup_alpha, mixup_alpha); a batch is mixed with probability mixup_p",
)(lambda p: Mixup(p.get("mixup_alpha", 0.2), p.get("mixup_p", 1.0)))
register_op(
    "cutmix",
    "CutMix (Yun et al., ICCV 2019): paste a box of another image, of area share 1 - lambda, lambda ~ "
    "Beta(cutmix_alpha, cutmix_alpha), clipped at the border; the targets mixed by the share pasted; a "
    "batch is mixed with probability cutmix_p",
)(lambda p: CutMix(p.get("cutmix_alpha", 1.0), p.get("cutmix_p", 1.0)))
register_op(
    "mix",
    "per batch, CutMix with probability mix_switch_p, else Mixup (mixup_alpha, cutmix_alpha); a "
    "batch is mixed at all with probability mix_p",
)(lambda p: MixupOrCutMix(p.get("mixup_alpha", 0.2), p.get("cutmix_alpha", 1.0),
                          p.get("mix_switch_p", 0.5), p.get("mix_p", 1.0)))
