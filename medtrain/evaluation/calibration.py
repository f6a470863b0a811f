"""Temperature scaling: one scalar T fitted on the validation logits (Guo et al., "On Calibration of
Modern Neural Networks", ICML 2017).

The calibrated probabilities are ``softmax(z / T)`` (sigmoid per label for multi-label tasks). T > 0 is
the minimiser of the validation negative log-likelihood, found by L-BFGS (``torch.optim.LBFGS``) over
``log T`` so that T stays positive. Dividing every logit by the same positive T keeps their order, so
neither the arg-max class nor the ranking of any class's score (AUC) changes; only the confidence does.

How it meets test-time augmentation and MC dropout: T is fitted on the plain forward pass's validation
logits (one view, dropout off) and then applied to the logits inside every forward pass of
:func:`medtrain.evaluation.predict`, so TTA views and MC passes average the scaled probabilities.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from medtrain.data.base import Split
from medtrain.tasks import MULTILABEL


@torch.no_grad()
def split_logits(module, split: Split, batch_size: int = 256) -> torch.Tensor:
    """The logits ``(N, K)`` of the plain forward pass (eval mode, no TTA, no dropout) over a split."""
    module.eval()
    device = next(module.parameters()).device
    out = [module(split.images[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(split), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, module.num_classes)


def nll(logits: torch.Tensor, labels: torch.Tensor, task: str, temperature: float | torch.Tensor = 1.0):
    """Mean negative log-likelihood of the labels under ``logits / temperature``."""
    z = logits / temperature
    if task == MULTILABEL or z.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(z, labels.float().reshape(z.shape))
    return F.cross_entropy(z, labels.long().reshape(-1))


def fit_temperature(logits, labels, task: str, max_iter: int = 100) -> float:
    """The temperature T > 0 minimising the NLL of ``labels`` under ``logits / T`` (L-BFGS on log T).

    Returns 1.0 when there is nothing to fit (no validation images).
    """
    logits = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    labels = torch.as_tensor(np.asarray(labels))
    if len(logits) == 0:
        return 1.0
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = nll(logits, labels, task, log_t.exp())
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    t = float(log_t.detach().exp())
    return t if np.isfinite(t) and t > 0 else 1.0
