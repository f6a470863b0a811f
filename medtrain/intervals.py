"""Confidence intervals: the percentile bootstrap (over images, or over whole patients) and Wilson's score
interval for a proportion (with a patient-level effective sample size). Used by :mod:`medtrain.metrics` for
every interval a run reports; the statistics themselves are metrics'."""
from __future__ import annotations

import numpy as np


def repeated(groups) -> bool:
    """Whether ``groups`` (each row's patient, or None) has a patient with several rows: only then are rows not
    their own unit, for intervals and splits alike."""
    return groups is not None and len(set(groups)) < len(groups)


class Resampler:
    """Bootstrap draws of row indices: images with replacement, or, with ``groups`` (the patient of each image),
    whole patients with replacement, every image of a drawn patient taken (the cluster bootstrap, Davison &
    Hinkley 1997, sec. 3.8): images of one patient are not independent, and resampling them singly gave
    "95%" intervals that held the true AUC in 64-69% of simulated patient-grouped test sets."""

    def __init__(self, n_rows: int, groups=None, seed: int = 0):
        self.rng, self.n = np.random.default_rng(seed), n_rows
        self.members = None
        if repeated(groups):
            codes = np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1)
            order = np.argsort(codes, kind="stable")  # each patient's rows, in input order
            self.members = np.split(order, np.cumsum(np.bincount(codes))[:-1])

    def draw(self) -> np.ndarray:
        if self.members is None:
            return self.rng.integers(0, self.n, self.n)
        picks = self.rng.integers(0, len(self.members), len(self.members))
        return np.concatenate([self.members[g] for g in picks])


def bootstrap(y_true: np.ndarray, y_score: np.ndarray, stats: dict, n: int = 1000, seed: int = 0,
              level: float = 0.95, groups=None) -> dict:
    """Percentile bootstrap confidence intervals (resampling images with replacement, or whole patients where
    ``groups`` names each image's patient) of each statistic ``stats[name](y_true, y_score) -> float``; returns
    ``{name + "_ci": [low, high]}``. Draws where a statistic is undefined (NaN, e.g. no positives) are left
    out of its percentiles."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    if n == 0 or len(y_true) == 0:
        return {f"{k}_ci": [float("nan")] * 2 for k in stats}
    resample = Resampler(len(y_true), groups, seed)
    draws = {k: [] for k in stats}
    for _ in range(n):
        ix = resample.draw()
        for k, fn in stats.items():
            draws[k].append(fn(y_true[ix], y_score[ix]))
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return {f"{k}_ci": [float(np.nanpercentile(v, lo)), float(np.nanpercentile(v, hi))] for k, v in draws.items()}


def wilson_interval(hits: int, n: float, level: float = 0.95) -> list[float]:
    """The Wilson score interval of a proportion ``hits / n``; ``n`` may be an effective (non-integer) size."""
    from scipy.stats import norm

    if n <= 0:
        return [float("nan"), float("nan")]
    z, p = float(norm.ppf((1 + level) / 2)), hits / n
    centre, half = p + z * z / (2 * n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return [float(max(0.0, (centre - half) / (1 + z * z / n))), float(min(1.0, (centre + half) / (1 + z * z / n)))]


def clustered_wilson(hit: np.ndarray, groups: np.ndarray, level: float = 0.95) -> list[float]:
    """Wilson's interval for a proportion over images of fewer patients: the sample size is the effective
    one, ``n / deff`` (Kish's design effect; the interval of Korn & Graubard, Survey Methodology 1998). The
    design effect is the ratio-estimator variance over patients to the binomial one, at least 1; where every
    image is a hit (or none), that ratio is undefined and each patient counts once (``n_eff`` = patients)."""
    hit = np.asarray(hit, bool)
    n, p = len(hit), float(hit.mean()) if len(hit) else float("nan")
    codes = np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1)
    n_g, a_g = np.bincount(codes), np.bincount(codes, weights=hit)
    g = len(n_g)
    if n == 0:
        return [float("nan"), float("nan")]
    if 0.0 < p < 1.0 and g > 1:
        var = g / (g - 1) * np.sum((a_g - p * n_g) ** 2) / n ** 2
        n_eff = n / max(1.0, var / (p * (1 - p) / n))
    else:
        n_eff = float(g)
    return wilson_interval(p * n_eff, n_eff, level)
