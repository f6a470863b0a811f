"""Temperature scaling: one scalar T fitted on the validation split (Guo et al., "On Calibration of
Modern Neural Networks", ICML 2017).

The calibrated probabilities are ``softmax(z / T)`` (sigmoid per label for multi-label tasks). T > 0 is
the minimiser of the validation negative log-likelihood, found by L-BFGS (``torch.optim.LBFGS``) over
``log T`` so that T stays positive.

Which logits ``z``: medtrain's predictions are probabilities averaged over test-time-augmentation views
(and MC-dropout passes), so ``z`` is the log of that averaged prediction (:func:`pseudo_logits`: ``log p``
for softmax, ``logit p`` for sigmoid). Without averaging this *is* Guo et al.'s method: ``log softmax(z)``
differs from ``z`` by one constant per image, which the softmax cancels, and ``logit(sigmoid(z)) = z``.
With averaging it scales the distribution the run actually reports, and it keeps every score's order:
the arg-max class, binary and per-label AUC are unchanged by construction. (Dividing each view's logits
by T before averaging would not: the average of scaled views re-ranks images, which changed a tiny
run's test AUC by 0.004.) Multi-class one-vs-rest AUC of softmax scores is not invariant to T under any
variant, which is why the MedMNIST metrics of a run are computed on the uncalibrated probabilities.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from medtrain import metrics
from medtrain.tasks import MULTILABEL

_EPS = 1e-12
#: The range T is fitted in. The NLL is convex in 1/T, so when the unconstrained optimum lies outside, the
#: bound is the constrained optimum. A tiny T (an underconfident network whose scores barely leave 0.5)
#: would push calibrated probabilities to exactly 0 or 1 in floating point, creating ties that change AUC.
T_RANGE = (0.05, 20.0)


@contextlib.contextmanager
def one_intra_op_thread():
    """Run the block on one intra-op thread, then give back the caller's count.

    For fits of a handful of parameters on ``(N, K)`` logits (L-BFGS: hundreds of tiny ops): each op's
    hand-off to a second thread costs more than the op, and on a busy 2-core CPU (a training run beside
    another job) a 32-image fit took 2.3 s on two threads and 0.05 s on one, a 600-image one 2.0 s and 0.17 s,
    with bit-identical results (measured, session 19). torch sets the count per process only, hence this."""
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def pseudo_logits(scores, task: str) -> np.ndarray:
    """Logits that give back ``scores``: ``log p`` (softmax) or ``logit p`` (sigmoid, multi-label)."""
    p = np.asarray(scores, dtype=np.float64)
    if task == MULTILABEL:
        p = np.clip(p, 1e-7, 1 - 1e-7)  # float32 sigmoids saturate at exactly 0 and 1
        return np.log(p) - np.log1p(-p)
    return np.log(np.clip(p, _EPS, 1.0))


def temperature_scale(probs: torch.Tensor, task: str, temperature: float) -> torch.Tensor:
    """The calibrated probabilities of ``probs`` ``(*, K)``: ``softmax(pseudo_logits / T)`` (sigmoid per
    label for multi-label), in torch, so that ``medtrain eval``, ``medtrain predict`` and the exported
    graph compute the same numbers (in float64, as the run's own figures are)."""
    p = probs.double()
    if task == MULTILABEL:
        p = p.clamp(1e-7, 1 - 1e-7)  # as pseudo_logits
        return torch.sigmoid((torch.log(p) - torch.log1p(-p)) / float(temperature))
    return torch.softmax(torch.log(p.clamp(_EPS, 1.0)) / float(temperature), dim=-1)


def apply_temperature(scores, task: str, temperature: float) -> np.ndarray:
    """The calibrated probabilities: ``softmax(pseudo_logits / T)`` (sigmoid per label for multi-label)."""
    return temperature_scale(torch.from_numpy(np.asarray(scores, dtype=np.float64)), task, temperature).numpy()


def nll(logits: torch.Tensor, labels: torch.Tensor, task: str, temperature: float | torch.Tensor = 1.0):
    """Mean negative log-likelihood of the labels under ``logits / temperature``."""
    z = logits / temperature
    if task == MULTILABEL or z.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(z, labels.float().reshape(z.shape))
    return F.cross_entropy(z, labels.long().reshape(-1))


def fit_temperature(logits, labels, task: str, max_iter: int = 100) -> float:
    """The temperature T minimising the NLL of ``labels`` under ``logits / T`` (L-BFGS on log T),
    within :data:`T_RANGE`.

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

    with torch.enable_grad(), one_intra_op_thread():
        opt.step(closure)
    t = float(log_t.detach().exp())
    return float(np.clip(t, *T_RANGE)) if np.isfinite(t) else 1.0


def at_bound(temperature: float) -> bool:
    """Whether a fitted ``temperature`` rests on either end of :data:`T_RANGE`, where the fit was stopped rather than
    found: at the top, probabilities flattened almost to uniform; at the bottom, sharpened as far as it allows (one
    run's unbounded fit was T = 0.038). Why, said from the validation scores: :func:`medtrain.reports.summary.
    bound_reason`. Only the top had been said (walk 'oppoint')."""
    return temperature >= T_RANGE[1] * 0.999 or temperature <= T_RANGE[0] * 1.001


def choose_temperature(scores, labels, task: str) -> tuple[float, str]:
    """The temperature a run applies, decided on validation: ``(T, rule)``.

    The NLL-optimal T (:func:`fit_temperature`) unless

    * validation has no error (every arg-max, or every label at 0.5, right): then the NLL keeps falling as
      T -> 0 and has no minimiser, so the fit only runs to the bound of :data:`T_RANGE` (seen on small
      splits: T = 0.05 pushed every probability to 0 or 1 and raised the test ECE 10-20x);
    * it raises the validation ECE it is meant to lower (the NLL and the binned ECE can disagree, e.g. for
      a network whose scores barely leave 0.5 after a short run).

    Then T = 1 (the network's own probabilities). ``rule`` says which: ``"fitted"``, ``"kept 1: ..."``.
    """
    labels = np.asarray(labels)
    if len(labels) == 0:
        return 1.0, "fitted"
    if metrics.acc(labels, scores, task) == 1.0:
        return 1.0, "kept 1: validation has no error, so it does not determine T"
    t = fit_temperature(pseudo_logits(scores, task), labels, task)
    before, after = metrics.ece(labels, scores, task), metrics.ece(labels, apply_temperature(scores, task, t), task)
    if after > before:
        return 1.0, f"kept 1: T = {temperature_text(t)} raised the validation ECE from {before:.4f} to {after:.4f}"
    return t, "fitted"


def temperature_text(t: float) -> str:
    """A fitted temperature in as few significant digits (3 or more) as tell it from 1: a fitted 1.0022 had been
    said as "T = 1 raised the validation ECE", which T = 1 (no scaling) cannot."""
    for digits in range(3, 8):
        text = f"{t:.{digits}g}"
        if float(text) != 1.0:
            return text
    return f"{t:.8g}"
