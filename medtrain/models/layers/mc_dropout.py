"""Monte Carlo dropout: predictive uncertainty from dropout left on at test time.

Gal & Ghahramani, "Dropout as a Bayesian Approximation: Representing Model Uncertainty in Deep
Learning", ICML 2016.

A network trained with dropout is an approximate Bayesian model; running ``T`` stochastic forward passes
with the dropout masks still being sampled and averaging the predicted probabilities approximates the
posterior predictive distribution. Its entropy is a per-image uncertainty: images with high entropy are
the ones to send to a clinician, which :func:`uncertainty_report` checks by comparing their error rate
with the rest.

Only dropout-type modules are switched to training mode for the passes. Batch norm stays in evaluation
mode: in training mode it would normalise with the statistics of the test batch (making one image's
prediction depend on the others) and update its running averages. timm models built with
``create_model(..., dropout=p)`` apply their head dropout functionally (``F.dropout(training=
self.training)`` on the whole model), which cannot be switched on alone; put dropout in a module with
``medtrain.models.heads.build_head`` / ``replace_head`` to use it for MC dropout.
"""
from __future__ import annotations

import contextlib
import hashlib
import warnings
from typing import Iterator, NamedTuple, Sequence

import torch
import torch.nn as nn
from timm.layers import DropBlock2d
from torch import Tensor
from torch.special import xlogy

from medtrain.errors import MedtrainError, suggest
from medtrain.models.layers.annealed import AnnealedDropout
from medtrain.models.layers.dropconnect import DropConnectLinear
from medtrain.models.layers.standout import Standout, StandoutLinear
from medtrain.tasks import MULTILABEL, TASKS

__all__ = [
    "MCPrediction",
    "MC_DROPOUT_TYPES",
    "mc_dropout_mode",
    "mc_predict",
    "predictive_entropy",
    "uncertainty_report",
]


#: Module types whose training mode means "sample a mask": nn.Dropout, Dropout1d/2d/3d, AlphaDropout,
#: FeatureAlphaDropout (all ``_DropoutNd``), timm's DropBlock2d, and medtrain's dropout layers. timm's
#: DropPath (stochastic depth) is left out: pass it in ``include`` for MC stochastic depth.
MC_DROPOUT_TYPES: tuple[type, ...] = (
    nn.modules.dropout._DropoutNd,
    DropConnectLinear,
    Standout,
    StandoutLinear,
    AnnealedDropout,
    DropBlock2d,
)


def _uses_sigmoid(task: str, num_outputs: int) -> bool:
    """Multi-label tasks, and single-logit binary classifiers, give independent sigmoid probabilities."""
    if task not in TASKS:
        raise suggest(str(task), TASKS, "task")
    return task == MULTILABEL or num_outputs == 1


@contextlib.contextmanager
def mc_dropout_mode(model: nn.Module, include: Sequence[type] = ()) -> Iterator[list[nn.Module]]:
    """Put ``model`` in evaluation mode except its dropout-type modules; restore every mode on exit.

    Args:
        model: any module.
        include: extra module types to sample, e.g. ``(timm.layers.DropPath,)``.

    Yields:
        the modules switched to training mode.
    """
    saved = [(m, m.training) for m in model.modules()]
    types = MC_DROPOUT_TYPES + tuple(include)
    try:
        model.eval()
        enabled = [m for m in model.modules() if isinstance(m, types)]
        for m in enabled:
            # Only the module's own flag: ``m.train()`` would recurse into children (an activation
            # inside StandoutLinear could in principle be a normalisation layer).
            m.training = True
        yield enabled
    finally:
        for m, mode in saved:
            m.training = mode


def predictive_entropy(probs: Tensor, sigmoid: bool) -> Tensor:
    """Entropy in nats of each row of ``probs`` ``(N, K)``, shape ``(N,)``.

    Softmax probabilities: ``-sum_k p_k log p_k``. Sigmoid probabilities: the sum over labels of the
    binary entropies ``-p log p - (1 - p) log(1 - p)``, treating labels as independent.
    """
    h = -xlogy(probs, probs)
    if sigmoid:
        h = h - xlogy(1.0 - probs, 1.0 - probs)
    return h.sum(dim=-1)


class MCPrediction(NamedTuple):
    """What :func:`mc_predict` returns; read it by attribute."""

    probs: Tensor  #: (N, K) mean of the T passes' probabilities, the predictive distribution
    entropy: Tensor  #: (N,) entropy of ``probs`` (nats): total predictive uncertainty
    mutual_info: Tensor  #: (N,) entropy minus the mean per-pass entropy (BALD): the model's share of it
    samples: Tensor | None  #: (T, N, K) per-pass probabilities if ``return_samples``, else None


@torch.no_grad()
def mc_predict(
    model: nn.Module,
    x: Tensor,
    T: int = 20,
    task: str = "multi-class",
    *,
    batch_size: int | None = None,
    include: Sequence[type] = (),
    return_samples: bool = False,
    seed: int | None = None,
) -> MCPrediction:
    """Monte Carlo dropout prediction (Gal & Ghahramani, ICML 2016).

    Args:
        model: a classifier mapping ``(B, C, H, W)`` to ``(B, K)`` logits, on ``x``'s device. It must
            contain at least one dropout-type module (see ``MC_DROPOUT_TYPES``).
        x: inputs ``(N, C, H, W)``, already normalised as the model expects.
        T: stochastic forward passes, ``>= 1``.
        task: a task name as in ``medtrain.data.base`` (MedMNIST's spelling). Multi-label tasks (and
            models with a single output) use sigmoid probabilities, the others softmax.
        batch_size: split ``x`` into chunks of this size (all at once when None).
        include: extra module types to sample (see :func:`mc_dropout_mode`).
        return_samples: also return every pass's probabilities (``T * N * K`` floats).
        seed: per-image masks. Each image's T passes draw their masks from the generator seeded by ``seed``
            and the image's own values, so an image gets the same probabilities in any batch, alone or
            among others (``medtrain predict`` of one file equals its row in the run's predictions). Costs
            one forward of T copies of each image (T forwards of the image alone where a module shares one
            mask across a batch). None: masks drawn from the global generator for the whole batch.

    Returns:
        an :class:`MCPrediction` with ``probs`` ``(N, K)``, ``entropy`` ``(N,)``, ``mutual_info``
        ``(N,)`` and ``samples`` ``(T, N, K)`` or None. Every module's training flag is as before.
    """
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise MedtrainError(f"mc_predict needs T >= 1 forward passes, got {T!r}")
    if batch_size is not None and batch_size < 1:
        raise MedtrainError(f"batch_size must be >= 1, got {batch_size}")
    _uses_sigmoid(task, 2)  # validate the task name before running the model
    if x.ndim < 2 or x.shape[0] == 0:
        raise MedtrainError(f"mc_predict expects a non-empty batch (N, C, ...), got {tuple(x.shape)}")
    with mc_dropout_mode(model, include) as enabled:
        if not enabled:
            raise MedtrainError(_no_dropout_message(model))
        _warn_functional_dropout(model, enabled)
        if seed is None:
            chunks = x.split(batch_size) if batch_size else (x,)
            passes = (_passes(model, chunk, T) for chunk in chunks)
        else:
            shared = any(getattr(m, "mask", None) == "batch" for m in enabled)  # DropConnect's batch mask
            passes = (_image_passes(model, x[i:i + 1], T, seed, shared) for i in range(x.shape[0]))
        mean, mean_h, samples = [], [], []
        for per_pass in passes:  # (B, K) logits of each of the T passes over one chunk
            sigmoid = _uses_sigmoid(task, per_pass[0].shape[1])
            p = torch.stack([(torch.sigmoid(z) if sigmoid else z.softmax(dim=1)).float() for z in per_pass])
            mean.append(p.mean(dim=0))
            mean_h.append(predictive_entropy(p, sigmoid).mean(dim=0))
            if return_samples:
                samples.append(p)
    probs = torch.cat(mean)
    entropy = predictive_entropy(probs, sigmoid)
    # Entropy is concave, so H(mean) >= mean(H); the clamp only removes rounding below 0.
    mutual_info = (entropy - torch.cat(mean_h)).clamp_min(0.0)
    return MCPrediction(probs, entropy, mutual_info, torch.cat(samples, dim=1) if return_samples else None)


def _checked(logits: Tensor) -> Tensor:
    if logits.ndim != 2:
        raise MedtrainError(f"mc_predict expects (B, K) logits, got {tuple(logits.shape)}")
    return logits


def _passes(model: nn.Module, chunk: Tensor, T: int) -> list[Tensor]:
    """T stochastic passes over a chunk, masks from the global generator."""
    return [_checked(model(chunk)) for _ in range(T)]


def _image_passes(model: nn.Module, image: Tensor, T: int, seed: int, shared_mask: bool) -> list[Tensor]:
    """T stochastic passes over one image ``(1, *)``, masks drawn from a generator seeded by ``seed`` and the
    image's values: the result does not depend on which images it was batched with."""
    raw = image.detach().contiguous().cpu().view(torch.uint8)  # the bytes of any dtype (NumPy has no bfloat16)
    digest = hashlib.blake2b(raw.numpy().tobytes(), digest_size=8,
                             key=str(int(seed)).encode()).digest()
    device = image.device
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
        torch.manual_seed(int.from_bytes(digest, "little") >> 1)
        if shared_mask:  # one mask per forward: each pass must be its own forward
            return [_checked(model(image)) for _ in range(T)]
        # one forward of T copies: per-sample masks make the copies T independent passes
        logits = _checked(model(image.expand(T, *image.shape[1:]).contiguous()))
        return list(logits.unsqueeze(1))


def _functional_dropout(model: nn.Module, enabled: list[nn.Module]) -> list[str]:
    """Names of modules with a timm-style ``drop_rate > 0`` that are not themselves dropout modules."""
    ids = {id(m) for m in enabled}
    out = []
    for name, m in model.named_modules():
        rate = getattr(m, "drop_rate", 0.0)
        if id(m) not in ids and isinstance(rate, (int, float)) and rate > 0:
            out.append(name or type(m).__name__)
    return out


def _no_dropout_message(model: nn.Module) -> str:
    msg = "mc_predict: the model has no dropout modules, so all T passes would be identical"
    functional = _functional_dropout(model, [])
    if functional:
        msg += (
            f"; its dropout in {', '.join(functional[:3])} is applied functionally (timm's drop_rate) and follows"
            " the whole model's train/eval mode: build the head with medtrain.models.heads.build_head/replace_head"
        )
    return msg


def _warn_functional_dropout(model: nn.Module, enabled: list[nn.Module]) -> None:
    functional = _functional_dropout(model, enabled)
    if functional:
        warnings.warn(
            f"mc_predict: dropout applied functionally in {', '.join(functional[:3])} (timm's drop_rate) stays off"
            " during the MC passes; only dropout modules are sampled",
            stacklevel=3,
        )


def uncertainty_report(
    probs_mean: Tensor, entropy: Tensor, labels: Tensor, task: str, frac: float = 0.1
) -> dict[str, float]:
    """Error rate of the most uncertain ``frac`` of images against that of the rest.

    If the uncertainty is informative, the images a model is least sure of are those it gets wrong, so
    ``error_uncertain`` should be well above ``error_rest`` (referring that fraction to a human then
    lowers the automated error from ``error_all`` to ``error_rest``).

    Args:
        probs_mean: ``(N, K)`` predictive probabilities (``mc_predict(...).probs``).
        entropy: ``(N,)`` uncertainty, higher is less certain (``mc_predict(...).entropy``).
        labels: ``(N,)`` class indices, or ``(N, K)`` 0/1 labels for a multi-label task.
        task: task name (MedMNIST's spelling, ``medtrain.data.base.TASKS``).
        frac: fraction of images called uncertain, ``0 < frac < 1``; at least one image, and at least
            one is left in the rest.

    Returns:
        ``{"frac", "n_uncertain", "n_rest", "error_uncertain", "error_rest", "error_all",
        "entropy_threshold"}``. An image's error is 0/1 (arg-max against the label) for single-label
        tasks, and the fraction of wrong labels at threshold 0.5 for multi-label ones.
        ``entropy_threshold`` is the lowest entropy among the uncertain images.
    """
    if not (isinstance(frac, (int, float)) and 0.0 < frac < 1.0):
        raise MedtrainError(f"frac must be in (0, 1), got {frac!r}")
    if probs_mean.ndim != 2 or entropy.shape != probs_mean.shape[:1] or labels.shape[0] != probs_mean.shape[0]:
        raise MedtrainError(
            f"uncertainty_report expects probs (N, K), entropy (N,), labels (N, ...); got "
            f"{tuple(probs_mean.shape)}, {tuple(entropy.shape)}, {tuple(labels.shape)}"
        )
    n = probs_mean.shape[0]
    if n < 2:
        raise MedtrainError(f"uncertainty_report needs at least 2 images, got {n}")
    if _uses_sigmoid(task, probs_mean.shape[1]):
        wrong = ((probs_mean > 0.5) != (labels.reshape(probs_mean.shape) > 0.5)).double().mean(dim=1)
    else:
        wrong = (probs_mean.argmax(dim=1) != labels.reshape(n).long()).double()
    k = min(max(1, round(frac * n)), n - 1)
    order = torch.argsort(entropy, descending=True, stable=True)
    uncertain, rest = order[:k], order[k:]
    return {
        "frac": float(frac),
        "n_uncertain": int(k),
        "n_rest": int(n - k),
        "error_uncertain": float(wrong[uncertain].mean()),
        "error_rest": float(wrong[rest].mean()),
        "error_all": float(wrong.mean()),
        "entropy_threshold": float(entropy[uncertain].min()),
    }
