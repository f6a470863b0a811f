"""Two classifiers scored on the same test images: is the difference more than chance?

Three paired tests, each using that both sets of predictions are of the same images (a difference between
two models is far less variable than either model's own metric, because the hard images are hard for both):

* :func:`delong_test`: DeLong, DeLong & Clarke-Pearson (Biometrics 1988) for two correlated ROC AUCs of a
  binary task, computed with the midrank algorithm of Sun & Xu (IEEE Signal Processing Letters 2014). Written
  here because neither scikit-learn, SciPy nor torchmetrics offers it (pROC's ``roc.test`` is R); it is checked
  in the tests against the definition (every positive/negative pair) it computes in O(N log N).
* :func:`mcnemar_test`: McNemar's test (Psychometrika 1947) for two accuracies on the same images, exact:
  a two-sided binomial test of the images only one model gets right (:func:`scipy.stats.binomtest`).
* :func:`paired_bootstrap`: the percentile interval of the difference of any statistic, drawing the same
  images (whole patients, within class; :class:`medtrain.intervals.Resampler`) for both models in each draw;
  :func:`delong_interval` that of a binary AUC difference from DeLong's variance, and :func:`mover_interval`
  (MOVER: each AUC's Newcombe interval and DeLong's correlation), which holds its level where few images of a
  class make the bootstrap's and DeLong's too narrow.

DeLong and McNemar treat images as independent; where a patient has several images they are not, and their
p-values would be too small. :func:`medtrain.versus.compare_runs` then gives only the patient bootstrap interval.

Two recipes trained over several seeds are compared on the runs, not the images: :func:`paired_t`, the paired
t interval and test of the per-seed differences (Nadeau & Bengio's corrected variance for cross-validation
folds), which ``medtrain compare``'s table gives (:func:`medtrain.reports.tables.paired_differences`).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from medtrain.intervals import Resampler, _midranks, class_strata, newcombe_auc_interval, percentile_interval


def delong_test(y_true, score_a, score_b) -> dict:
    """DeLong's test of ``AUC(score_a) - AUC(score_b)`` on binary labels ``y_true`` (1 positive) ``(N,)``.

    Returns ``auc_a``, ``auc_b``, ``difference`` (a - b), its standard error ``se``, ``z`` and the two-sided
    ``p`` (1.0 where the difference and its variance are both zero: identical rankings). Both classes must be
    present."""
    from scipy.stats import norm

    aucs, cov = _delong_covariance(y_true, score_a, score_b)
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    diff = float(aucs[0] - aucs[1])
    se = float(np.sqrt(max(var, 0.0)))
    if se == 0.0:
        z, p = (0.0, 1.0) if diff == 0 else (float("inf") * np.sign(diff), 0.0)
    else:
        z = diff / se
        p = float(2 * norm.sf(abs(z)))
    return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "difference": diff, "se": se, "z": float(z), "p": p}


def _delong_covariance(y_true, score_a, score_b) -> tuple[np.ndarray, np.ndarray]:
    """The two AUCs and DeLong's 2 x 2 covariance matrix of them, from their structural components."""
    y = np.asarray(y_true).reshape(-1).astype(bool)
    scores = np.stack([np.asarray(score_a, np.float64).reshape(-1), np.asarray(score_b, np.float64).reshape(-1)])
    if scores.shape[1] != len(y):
        raise ValueError(f"{len(y)} labels but {scores.shape[1]} scores")
    m, n = int(y.sum()), int((~y).sum())
    if m == 0 or n == 0:
        raise ValueError("DeLong's test needs both classes among the labels")
    v10, v01 = np.empty((2, m)), np.empty((2, n))
    aucs = np.empty(2)
    for k, s in enumerate(scores):  # structural components: each positive's share of negatives it outranks, ...
        pos, neg = s[y], s[~y]
        tz = _midranks(np.concatenate([pos, neg]))
        tx, ty = _midranks(pos), _midranks(neg)
        aucs[k] = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
        v10[k] = (tz[:m] - tx) / n
        v01[k] = 1.0 - (tz[m:] - ty) / m  # ... and each negative's share of positives that outrank it
    s10 = np.cov(v10) if m > 1 else np.zeros((2, 2))
    s01 = np.cov(v01) if n > 1 else np.zeros((2, 2))
    return aucs, s10 / m + s01 / n


def delong_interval(y_true, score_a, score_b, level: float = 0.95) -> dict:
    """The interval of ``AUC(score_a) - AUC(score_b)`` from DeLong's variance (:func:`delong_test`):
    ``difference +- z se``, clipped to [-1, 1]. With few images of a class the paired bootstrap, which sees
    (u - 1)/u of each class's variance, is too narrow: 12 positives and 100 negatives of two correlated
    binormal models (AUCs 0.93 and 0.88), it held the true difference in 83-91% of simulated test sets, this
    one in 89-95% (5 positives: 83% and 87%; ``tests/test_significance.py``). ``[nan, nan]`` where the
    variance is 0 (two AUCs of 1, or every image ranked alike by each model) without the two rankings being the
    same: no interval, not a point; the same ranking is no difference on any sample, ``[0, 0]``."""
    from scipy.stats import norm

    d = delong_test(y_true, score_a, score_b)
    diff, half = d["difference"], float(norm.ppf((1 + level) / 2)) * d["se"]
    # no variance: the same ranking of the images is no difference, on any sample ([0, 0]); two others (both AUCs
    # 1, say) are no interval, never the point [0, 0] eval --vs had printed for two perfect runs on 8 + 8 images
    ci = ([max(-1.0, diff - half), min(1.0, diff + half)] if half > 0
          else [0.0, 0.0] if _same_ranking(score_a, score_b) else [float("nan")] * 2)
    return {"difference": diff, "difference_ci": ci, "se": d["se"], "p": d["p"]}


def _same_ranking(score_a, score_b) -> bool:
    """Whether two models rank the images alike (ties included): no difference in AUC on any sample."""
    return np.array_equal(_midranks(np.asarray(score_a, np.float64).reshape(-1)),
                          _midranks(np.asarray(score_b, np.float64).reshape(-1)))


def mover_interval(y_true, score_a, score_b, level: float = 0.95) -> dict:
    """The MOVER interval of ``AUC(score_a) - AUC(score_b)`` on binary labels ``y_true`` (the method of
    variance estimates recovery: Zou & Donner, Statistics in Medicine 2008, 27:1693-1702, which recovers each
    estimate's variance from its own limits, for correlated estimates given their correlation). Each AUC's own
    interval ``(l_i, u_i)`` is Newcombe's score interval (:func:`medtrain.intervals.newcombe_auc_interval`),
    and ``r`` DeLong's correlation of the two AUCs (:func:`delong_test`'s structural components); with
    ``d = A1 - A2``::

        L = d - sqrt((A1 - l1)^2 + (u2 - A2)^2 - 2 r (A1 - l1)(u2 - A2))
        U = d + sqrt((u1 - A1)^2 + (A2 - l2)^2 - 2 r (u1 - A1)(A2 - l2))

    It borrows Newcombe's asymmetry near an AUC of 1, where DeLong's ``d +- z se`` is too narrow: 12-20
    positives and 100 negatives of two correlated binormal models (AUCs 0.93 and 0.88, 0.98 and 0.95), DeLong's
    held the true difference in 86-91% of 300 simulated test sets a case, this one in 97-99% at 1.3-2.1 times
    the width (``bench/auc_ci_coverage.py --paired``, ``docs/results/auc_intervals.md``). It errs wide: with
    equal AUCs it held 99% (DeLong's 97%), so it finds a real difference less often than a 95% interval would.
    Written here because no Python library offers it (R's ``ratesci`` has MOVER for rates only). The interval
    holds ``d`` and lies within ``[l1 - u2, u1 - l2]``, so within [-1, 1]; it is clipped there only against
    rounding.

    Edges: the same ranking of the images by both models (ties included) is no difference on any sample,
    ``[0, 0]``, as in :func:`delong_interval`. An AUC of 1 (or 0) has Newcombe's one-sided interval, and
    DeLong's variance of it is 0, as is its covariance with the other: ``r`` is then 0/0, and is taken as 0
    (likewise where both variances are 0, two perfect rankings on different scores). The bound in which that
    AUC's own term is 0 does not depend on ``r``; the other is widest at ``r`` 0 of any ``r`` in [0, 1], and
    two models scored on the same images are positively correlated, so 0 errs on the conservative side where
    the data cannot say. Two perfect runs thus get ``[-(1 - l), 1 - l]`` (``l``
    Newcombe's lower bound at 1), not DeLong's "no interval". Returns ``difference``, ``difference_ci``, ``r``
    and DeLong's ``se`` and ``p`` (:func:`delong_test`)."""
    aucs, cov = _delong_covariance(y_true, score_a, score_b)
    d = delong_test(y_true, score_a, score_b)
    y = np.asarray(y_true).reshape(-1).astype(bool)
    m, n = int(y.sum()), int((~y).sum())
    (l1, u1), (l2, u2) = (newcombe_auc_interval(float(a), m, n, level) for a in aucs)
    a1, a2 = float(aucs[0]), float(aucs[1])
    diff = a1 - a2
    vv = float(cov[0, 0] * cov[1, 1])
    r = float(np.clip(cov[0, 1] / np.sqrt(vv), -1.0, 1.0)) if vv > 0 else 0.0  # 0/0: see the docstring

    def spread(x: float, y: float) -> float:  # sqrt(x^2 + y^2 - 2 r x y), never below 0 for |r| <= 1
        return float(np.sqrt(max(x * x + y * y - 2 * r * x * y, 0.0)))

    if _same_ranking(score_a, score_b):
        ci = [0.0, 0.0]
    else:
        ci = [max(-1.0, diff - spread(a1 - l1, u2 - a2)), min(1.0, diff + spread(u1 - a1, a2 - l2))]
    return {"difference": diff, "difference_ci": ci, "r": r, "se": d["se"], "p": d["p"]}


def mcnemar_test(correct_a, correct_b) -> dict:
    """McNemar's exact test of two accuracies on the same images: ``correct_a``, ``correct_b`` ``(N,)`` bool.

    Returns ``a_only`` (images only model a gets right), ``b_only`` and the two-sided ``p`` of a binomial test
    of ``a_only`` out of ``a_only + b_only`` at 1/2 (1.0 when the models disagree on no image)."""
    from scipy.stats import binomtest

    a, b = np.asarray(correct_a, bool).reshape(-1), np.asarray(correct_b, bool).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"{len(a)} and {len(b)} outcomes: not the same images")
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    p = 1.0 if a_only + b_only == 0 else float(binomtest(a_only, a_only + b_only, 0.5).pvalue)
    return {"a_only": a_only, "b_only": b_only, "p": p}


def paired_bootstrap(y_true, score_a, score_b, stat: Callable[[np.ndarray, np.ndarray], float], n: int = 1000,
                     seed: int = 0, groups=None, level: float = 0.95) -> dict:
    """The percentile interval of ``stat(y, score_a) - stat(y, score_b)`` over ``n`` bootstrap draws of the
    images (of whole patients where ``groups`` names them; within each class of ``y_true``), the same draw
    for both models. Returns ``difference``, ``difference_ci`` (``[nan, nan]`` where draws cannot differ or
    the statistic is mostly undefined, :func:`medtrain.intervals.percentile_interval`) and
    ``difference_ci_draws``."""
    y, a, b = np.asarray(y_true), np.asarray(score_a), np.asarray(score_b)
    out = {"difference": float(stat(y, a) - stat(y, b))}
    resample = Resampler(len(y), groups, seed, class_strata(y))
    if n == 0 or not resample.varies:
        return {**out, "difference_ci": [float("nan")] * 2, "difference_ci_draws": 0}
    draws = []
    for _ in range(n):
        ix = resample.draw()
        draws.append(stat(y[ix], a[ix]) - stat(y[ix], b[ix]))
    out["difference_ci"], out["difference_ci_draws"] = percentile_interval(draws, level)
    return out


def paired_t(differences, extra_share: float = 0.0, level: float = 0.95) -> dict:
    """The paired t interval and two-sided test of the mean of ``differences`` (one per pair of runs: a metric of
    one recipe minus the other's, with the same seed and split), over ``J`` pairs on ``J - 1`` degrees of
    freedom, the variance ``(1/J + extra_share) s^2``: ``extra_share`` 0 is Student's paired t; a cross-
    validation's mean n_held-out/n_train is Nadeau & Bengio's corrected resampled t (Machine Learning 2003, in
    Bouckaert & Frank's form for r seeds x K folds, PAKDD 2004), whose pairs share training images.

    Returns ``difference`` (the mean; NaN without pairs), ``difference_ci`` (clipped to [-1, 1], the range of a
    difference of AUCs or ACCs; None under two pairs), ``p`` and ``pairs``. ``p`` is the test the interval
    inverts (below 1 - ``level`` exactly where the interval leaves out 0). It is None under two pairs, and where
    every pair's difference is the same (``s`` 0): the t statistic is then undefined, not infinite, and two seeds
    that both gained +0.006 (one image of 156) are no proof of a gain. The test set is the same in every pair,
    so this speaks of the runs' seed-to-seed variation on it, not of another sample of test images (that is
    :func:`mcnemar_test`'s and :func:`delong_test`'s, for one pair of runs)."""
    from scipy.stats import t

    d = [float(v) for v in differences]
    out = {"difference": float(np.mean(d)) if d else float("nan"), "difference_ci": None, "p": None,
           "pairs": len(d)}
    if len(d) < 2:
        return out
    mean, sd = out["difference"], float(np.std(d, ddof=1))
    se = sd * float(np.sqrt(1 / len(d) + extra_share))
    half = float(t.ppf((1 + level) / 2, len(d) - 1)) * se
    out["difference_ci"] = [max(-1.0, mean - half), min(1.0, mean + half)]
    if se > 1e-12:  # (equal differences can leave a rounding error's spread, 1e-17, and a p of 0)
        out["p"] = float(2 * t.sf(abs(mean) / se, len(d) - 1))
    return out
