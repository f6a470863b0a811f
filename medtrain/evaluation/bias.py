"""A decision rule fitted on validation: bias-corrected temperature scaling (BCTS) of Alexandari, Kundaje and
Shrikumar, "Maximum Likelihood with Bias-Corrected Calibration is Hard-To-Beat at Label Shift Adaptation"
(ICML 2020).

One temperature ``T`` and one bias per class (per label for multi-label tasks) are fitted jointly on the
validation split by minimising the negative log-likelihood of ``z / T + b``. Only the decision matters here:
``argmax(z / T + b) = argmax(z + T b)`` (and ``sigmoid(z / T + b) > 1/2`` iff ``z + T b > 0``), so the rule is
the logit shift ``T b``, which can be folded into a classifier's bias. A binary task's AUC is unchanged by it;
the temperature a run reports stays the one :mod:`medtrain.evaluation.calibration` fits.

Why: a checkpoint picked by validation AUC can rank well and still sit on the wrong side of 1/2 for most of
one class (AdrenalMNIST3D, seed 0: validation AUC 0.849 at ACC 0.58, below the 0.78 of always answering the
majority class; the checkpoint came from the unstable high-rate phase of the one-cycle schedule). Neither the
class-balanced rule nor the prior's logit adjustment can move a threshold that is off for another reason.

How good the fitted rule is cannot be read from the images it was fitted on, so :func:`crossfit_scores`
gives each validation image the scores of a rule fitted on the other folds: an honest estimate of its
accuracy to compare with rules that were not fitted on validation.

``z`` are the run's pseudo-logits (:func:`medtrain.evaluation.pseudo_logits` of its averaged predictions).
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import KFold, StratifiedKFold

from medtrain.data.split import fold_ids
from medtrain.evaluation.calibration import T_RANGE, nll, one_intra_op_thread
from medtrain.intervals import repeated
from medtrain.metrics import scores_from_logits
from medtrain.tasks import MULTILABEL

#: Folds of the cross-fitted estimate (fewer when a class has fewer validation images).
CROSSFIT_FOLDS = 5
#: A weak L2 pull of the biases towards 0: keeps the fit finite when a fold separates perfectly.
_BIAS_L2 = 1e-3


def fit_bias(logits, labels, task: str, max_iter: int = 100) -> tuple[float, np.ndarray]:
    """``(T, b)`` minimising the NLL of ``labels`` under ``logits / T + b`` (L-BFGS over ``log T`` and ``b``;
    ``T`` within :data:`medtrain.evaluation.calibration.T_RANGE`). ``logits`` ``(N, K)``."""
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels))
    k = z.shape[1]
    if len(z) == 0:
        return 1.0, np.zeros(k)
    lo, hi = np.log(T_RANGE[0]), np.log(T_RANGE[1])
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t, b], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        t = log_t.clamp(lo, hi).exp()
        loss = nll(z / t + b, y, task) + _BIAS_L2 * (b ** 2).sum()
        loss.backward()
        return loss

    with torch.enable_grad(), one_intra_op_thread():
        opt.step(closure)
    t = float(log_t.detach().clamp(lo, hi).exp())
    bias = b.detach().numpy()
    if not (np.isfinite(t) and np.isfinite(bias).all()):
        return 1.0, np.zeros(k)
    return t, bias


def decision_shift(logits, labels, task: str) -> np.ndarray:
    """The logit shift ``T b`` ``(K,)`` with the decisions of the fitted ``logits / T + b``."""
    t, b = fit_bias(logits, labels, task)
    return t * b


def _folds(labels: np.ndarray, task: str, seed: int, groups=None):
    """Stratified folds (plain ones per image for multi-label tasks); none when a class has < 2 images.
    With ``groups`` (patients with several images): whole patients per fold, by the one splitter's
    :func:`medtrain.data.split.fold_ids`, so a patient's images are never both fitted on and held out."""
    y = np.asarray(labels)
    if repeated(groups) and task != MULTILABEL:
        g = np.asarray(groups)
        k = min([CROSSFIT_FOLDS] + [len(np.unique(g[y.reshape(-1) == c])) for c in np.unique(y)])
        if k < 2:
            return []
        f = fold_ids(y.reshape(-1), list(groups), k, seed)
        return [(np.flatnonzero(f != i), np.flatnonzero(f == i)) for i in range(k)]
    if task == MULTILABEL:
        k = min(CROSSFIT_FOLDS, len(y))
        return KFold(k, shuffle=True, random_state=seed).split(y) if k >= 2 else []
    counts = np.bincount(y.reshape(-1).astype(int))
    k = min(CROSSFIT_FOLDS, int(counts[counts > 0].min())) if len(y) else 0
    return StratifiedKFold(k, shuffle=True, random_state=seed).split(y.reshape(-1), y.reshape(-1)) if k >= 2 else []


def crossfit_scores(logits, labels, task: str, seed: int = 0, groups=None) -> np.ndarray | None:
    """Each image's scores under the shift fitted on the other folds ``(N, K)``; None when validation is
    too small to hold out a fold."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    out = np.full_like(z, np.nan)
    for fit_idx, held_idx in _folds(y, task, seed, groups):
        shift = decision_shift(z[fit_idx], y[fit_idx], task)
        out[held_idx] = scores_from_logits(torch.from_numpy(z[held_idx] + shift), task).numpy()
    return None if np.isnan(out).any() else out
