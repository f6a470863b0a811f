"""Confidence intervals: the percentile bootstrap (over images, or over whole patients; within each class),
Wilson's score interval for a proportion (with a patient-level effective sample size) and score-type intervals
of an AUC (Newcombe's, and its mean one-vs-rest form) where a class has few independent units: images, or
patients where a patient has several images (:func:`units_in`). Used by :mod:`medtrain.metrics` for every
interval a run reports; the statistics themselves are metrics'.

An interval that cannot mean what it says is not given: it is ``[nan, nan]`` (``null`` in ``metrics.json``,
left out of the printed summary and the report), never a point or a number from a handful of draws. Where the
bootstrap's AUC interval is a point at 1 (or 0), a perfect separation, the score interval over the units takes its
place (:mod:`medtrain._auc_interval` chooses); a multi-label task's mean AUC takes the mean of its labels' own
intervals' ends there (and where a label has few units of a side), its mean ACC of 1 or 0 the labels' Wilson ones."""
from __future__ import annotations

import numpy as np

#: resampling units (patients, or images) a stratum needs for its resamples to differ: a bootstrap over one
#: patient draws that patient every time, and its "interval" is a point that says nothing about other patients
MIN_UNITS = 2
#: the largest share of a statistic's variance that within-class resamples may leave out (:func:`shortfall`);
#: past it a proportion takes Wilson's interval and other statistics of a class get none. A class of ``u``
#: units leaves out ``1/u`` of its own: the limit is 10 units a class
MAX_SHORTFALL = 0.1
#: the share of resamples in which a statistic must be defined to get an interval (:func:`percentile_interval`)
MIN_DEFINED = 0.5
#: a binary AUC whose rarer class has fewer independent test units than this (images; patients where a patient
#: has several images) takes Newcombe's score interval (:func:`newcombe_auc_interval`), not the bootstrap's
FEW_FOR_AUC = 30
_NAN = float("nan")


def repeated(groups) -> bool:
    """Whether ``groups`` (each row's patient, or None) has a patient with several rows: only then are rows not
    their own unit, for intervals and splits alike."""
    return groups is not None and len(set(groups)) < len(groups)


def class_strata(y_true) -> np.ndarray | None:
    """Each row's class, the strata of a stratified bootstrap: the labels of a task with one class per row
    (binary, multi-class, ordinal: shape ``(n,)`` or ``(n, 1)``); None for multi-label rows, which hold several
    labels and are not stratified (as :mod:`medtrain.data.split` does not stratify them either)."""
    y = np.asarray(y_true)
    return None if y.ndim == 2 and y.shape[1] != 1 else y.reshape(-1)


class Resampler:
    """Bootstrap draws of row indices: images with replacement, or, with ``groups`` (the patient of each image),
    whole patients with replacement, every image of a drawn patient taken (the cluster bootstrap, Davison &
    Hinkley 1997, sec. 3.8): images of one patient are not independent, and resampling them singly gave
    "95%" intervals that held the true AUC in 64-69% of simulated patient-grouped test sets.

    With ``strata`` (each image's class, :func:`class_strata`) the units are drawn within their class, each
    class keeping its count (the stratified bootstrap, Davison & Hinkley 1997, ch. 3; pROC's default for AUC
    intervals, Robin et al., BMC Bioinformatics 2011). The test split is itself drawn stratified by class
    (:mod:`medtrain.data.split`), so its class counts are fixed by design, and every resample holds every
    class, so each one-vs-rest AUC is defined. Drawing images freely, 60 test images of 30 classes had missed
    a class in 995 of 1000 resamples, and the 5 left gave [0.704, 0.725] for an AUC of 0.7006 (a user
    walkthrough). For usual binary data the change is small: ACC's interval no longer includes the spread of
    the class mix, which the split fixed. Patients are stratified by their class where every patient has
    images of one class only; otherwise they are drawn unstratified (a class may then be missing from a draw:
    :func:`percentile_interval` decides). A class of a single unit is the same in every draw (as in pROC),
    and one of ``u`` units varies by ``(u - 1) / u`` of its variance: see :func:`shortfall` for what is done
    where that share matters.

    ``varies`` is False where no stratum (or, unstratified, not the whole set) has :data:`MIN_UNITS` units:
    every draw would be the test set itself, and no interval is given."""

    def __init__(self, n_rows: int, groups=None, seed: int = 0, strata=None):
        self.rng, self.n = np.random.default_rng(seed), n_rows
        self.members = None
        if repeated(groups):
            codes = np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1)
            order = np.argsort(codes, kind="stable")  # each patient's rows, in input order
            self.members = np.split(order, np.cumsum(np.bincount(codes))[:-1])
        self.units = n_rows if self.members is None else len(self.members)
        self.order = None  # stratified: the units in stratum order, and per position its stratum's start and size
        unit_strata = None
        if strata is not None and n_rows:
            strata = np.asarray(strata).reshape(-1)
            if self.members is None:
                unit_strata = strata
            elif all((strata[m] == strata[m[0]]).all() for m in self.members):  # one class per patient
                unit_strata = np.array([strata[m[0]] for m in self.members])
        # each row's stratum and each stratum's units (one stratum when unstratified), for shortfall()
        self.row_strata, self.stratum_units = np.zeros(n_rows, int), np.array([self.units])
        if unit_strata is None:
            self.varies = self.units >= MIN_UNITS
        else:
            codes = np.unique(unit_strata, return_inverse=True)[1].reshape(-1)
            sizes = np.bincount(codes)
            self.order = np.argsort(codes, kind="stable")
            self.start, self.size = np.repeat(np.cumsum(sizes) - sizes, sizes), np.repeat(sizes, sizes)
            self.varies = bool((sizes >= MIN_UNITS).any())
            self.stratum_units = sizes
            if self.members is None:
                self.row_strata = codes
            else:
                for g, rows in enumerate(self.members):
                    self.row_strata[rows] = codes[g]

    def draw(self) -> np.ndarray:
        if self.order is not None:
            picks = self.order[self.start + self.rng.integers(0, self.size)]
        else:  # the draws of the unstratified bootstrap, as they always were for a seed
            picks = self.rng.integers(0, self.units, self.units)
        if self.members is None:
            return picks
        return np.concatenate([self.members[g] for g in picks])


def shortfall(hit, groups=None, strata=None) -> float:
    """The share of the variance of a proportion (the mean of 0/1 ``hit``) that :class:`Resampler`'s draws
    leave out. Within a stratum of ``u`` units the draws estimate the variance of its mean with divisor ``u``
    where ``u - 1`` is unbiased, so they miss ``1/u`` of that stratum's share, all of it for one unit. Each
    stratum's share is its rows' binomial variance ``n q (1 - q)``, ``q = (hits + 1) / (n + 2)`` so that a
    stratum all right or all wrong still counts. Unstratified: ``1 / units``. For ungrouped rows with equal
    ``q`` this is classes / images: 20 classes of 74 test images miss 27%, and their "95%" ACC interval held
    the true accuracy in 87-89% of simulated test sets (a user walkthrough)."""
    r = Resampler(len(hit), groups, strata=strata)
    n = np.bincount(r.row_strata, minlength=len(r.stratum_units))
    q = (np.bincount(r.row_strata, weights=np.asarray(hit, float), minlength=len(n)) + 1) / (n + 2)
    var = n * q * (1 - q)
    return float(np.sum(var / np.maximum(r.stratum_units, 1)) / np.sum(var)) if var.sum() else 1.0


def units_in(rows, groups=None) -> int:
    """The resampling units among the rows where boolean ``rows`` holds: the patients where ``groups`` has a
    patient with several images (:func:`repeated`), else the rows."""
    rows = np.asarray(rows, bool)
    return len(set(np.asarray(groups)[rows])) if repeated(groups) else int(rows.sum())


def class_units(y_true, k: int, groups=None) -> tuple[np.ndarray, np.ndarray]:
    """The independent units (:func:`units_in`) of each of ``k`` classes of ``y_true`` (class indices) and of
    the rest of the rows: the sample sizes of an AUC's score interval. A patient with images of several
    classes counts in each of them."""
    y = np.asarray(y_true).reshape(-1)
    own = np.array([units_in(y == c, groups) for c in range(k)], dtype=np.int64)
    return own, np.array([units_in(y != c, groups) for c in range(k)], dtype=np.int64)


def percentile_interval(draws, level: float = 0.95) -> tuple[list[float], int]:
    """The percentile interval of a statistic's bootstrap draws and the number of draws in which it was
    defined (finite). A draw where the statistic is undefined (no member of a class, where the draws are not
    stratified; a class never predicted, for precision) is left out, so the rest are selected by whatever made
    the statistic defined. When that is the exception (fewer than :data:`MIN_DEFINED`, half, of the draws), the
    percentiles describe a biased minority, not the test set's sampling variability (5 of 1000 draws had given
    [0.704, 0.725] for an AUC of 0.7006), and the interval is ``[nan, nan]``. Half is a majority rule rather
    than a derived bound: the count is recorded beside each interval (``<name>_ci_draws``) to judge any
    interval near it."""
    v = np.asarray(draws, dtype=np.float64)
    ok = np.isfinite(v)
    defined = int(ok.sum())
    if defined == 0 or defined < MIN_DEFINED * len(v):
        return [_NAN, _NAN], defined
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return [float(np.percentile(v[ok], lo)), float(np.percentile(v[ok], hi))], defined


def bootstrap(y_true: np.ndarray, y_score: np.ndarray, stats: dict, n: int = 1000, seed: int = 0,
              level: float = 0.95, groups=None, stratify: bool = True) -> dict:
    """Percentile bootstrap confidence intervals (resampling images with replacement, or whole patients where
    ``groups`` names each image's patient; within each class of ``y_true`` with ``stratify``, see
    :class:`Resampler`) of each statistic ``stats[name](y_true, y_score) -> float``; returns
    ``{name + "_ci": [low, high], name + "_ci_draws": defined draws}`` (:func:`percentile_interval`).
    ``[nan, nan]`` with no draws (``n`` 0: no ``_ci_draws`` then) and where the draws cannot differ (fewer than
    :data:`MIN_UNITS` patients or images: ``_ci_draws`` 0)."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    if n == 0 or len(y_true) == 0:
        return {f"{k}_ci": [_NAN] * 2 for k in stats}
    resample = Resampler(len(y_true), groups, seed, class_strata(y_true) if stratify else None)
    if not resample.varies:
        return {key: value for k in stats for key, value in ((f"{k}_ci", [_NAN] * 2), (f"{k}_ci_draws", 0))}
    draws = {k: [] for k in stats}
    for _ in range(n):
        ix = resample.draw()
        for k, fn in stats.items():
            draws[k].append(fn(y_true[ix], y_score[ix]))
    out = {}
    for k, v in draws.items():
        out[f"{k}_ci"], out[f"{k}_ci_draws"] = percentile_interval(v, level)
    return out


def wilson_interval(hits: int, n: float, level: float = 0.95) -> list[float]:
    """The Wilson score interval of a proportion ``hits / n``; ``n`` may be an effective (non-integer) size."""
    from scipy.stats import norm

    if n <= 0:
        return [_NAN, _NAN]
    z, p = float(norm.ppf((1 + level) / 2)), hits / n
    centre, half = p + z * z / (2 * n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # no hit starts at 0 and all hits end at 1, exactly: the formula leaves floating error there (6.25e-18 for
    # 0 of 35, 0.9999999999999998 for 25 of 25), which metrics.json had recorded
    lo = 0.0 if hits <= 0 else max(0.0, (centre - half) / (1 + z * z / n))
    hi = 1.0 if hits >= n else min(1.0, (centre + half) / (1 + z * z / n))
    return [float(lo), float(hi)]


def proportion_ci(hit, groups=None, level: float = 0.95) -> list[float]:
    """Wilson's interval of the share of ``hit`` (0/1 per row): :func:`clustered_wilson` with ``groups``
    (each row's patient), else over the rows, ``[nan, nan]`` for fewer than :data:`MIN_UNITS` of them."""
    hit = np.asarray(hit, bool)
    if groups is not None:
        return clustered_wilson(hit, groups, level)
    return wilson_interval(int(hit.sum()), len(hit), level) if len(hit) >= MIN_UNITS else [_NAN, _NAN]


def clustered_wilson(hit: np.ndarray, groups: np.ndarray, level: float = 0.95) -> list[float]:
    """Wilson's interval for a proportion over images of fewer patients: the sample size is the effective
    one, ``n / deff`` (Kish's design effect; the interval of Korn & Graubard, Survey Methodology 1998). The
    design effect is the ratio-estimator variance over patients to the binomial one, at least 1; where every
    image is a hit (or none), that ratio is undefined and each patient counts once (``n_eff`` = patients).
    Fewer than :data:`MIN_UNITS` patients: ``[nan, nan]``; the variance between patients cannot be estimated
    from one (it had been Wilson's interval of one trial, as if the patient's images were one outcome)."""
    hit = np.asarray(hit, bool)
    n, p = len(hit), float(hit.mean()) if len(hit) else _NAN
    codes = np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1)
    n_g, a_g = np.bincount(codes), np.bincount(codes, weights=hit)
    g = len(n_g)
    if n == 0 or g < MIN_UNITS:
        return [_NAN, _NAN]
    if 0.0 < p < 1.0:
        var = g / (g - 1) * np.sum((a_g - p * n_g) ** 2) / n ** 2
        n_eff = n / max(1.0, var / (p * (1 - p) / n))
    else:
        n_eff = float(g)
    return wilson_interval(p * n_eff, n_eff, level)


def newcombe_auc_interval(auc: float, n_pos: int, n_neg: int, level: float = 0.95) -> list[float]:
    """The score-type interval of a binary ROC AUC from ``n_pos`` and ``n_neg`` independent units: Newcombe's
    method 5 ("Confidence intervals for an effect size measure based on the Mann-Whitney statistic. Part 2",
    Statistics in Medicine 2006): the AUCs ``t`` with ``(auc - t)^2 <= z^2 V(t)``, ``V`` Hanley & McNeil's
    variance with ``N* = (n_pos + n_neg)/2 - 1``. With few images of a class the percentile bootstrap is too
    narrow (10 positives, 100 negatives, AUC 0.86: it held the AUC in 85-88% of simulated test sets, 76-79%
    at AUC 0.96, 62% with 2 positives; DeLong's logit interval 92% / 91%; this one 96-97% / 95-98%, 97% with
    2 positives: ``bench/auc_ci_coverage.py``, ``tests/test_interval_coverage.py``). Written
    here because scikit-learn, SciPy and torchmetrics offer no AUC interval; SciPy finds the roots. Near an
    AUC of 1 with 5 positives it too falls short (68% at 0.98 in that simulation, the bootstrap a point).

    Where patients have several images, ``n_pos`` and ``n_neg`` count patients (:func:`units_in`): the images
    of a patient are one cluster, and the image-level AUC is a clustered Mann-Whitney statistic whose
    independent units are the patients (Obuchowski, Biometrics 1997). Counting each patient once is the
    effective sample size where a patient's images agree and patients have as many images each (Kish's design
    effect at its largest, as :func:`clustered_wilson` takes it where every image is a hit), conservative where
    they vary: in simulated test sets (a patient effect SD 1, image noise SD 0.7) of 4 + 4 patients of 15
    images, 8 + 8 and 15 + 15, it held the AUC in 97-100% at true AUCs 0.87-0.99, the patient bootstrap in
    41-90% (a point [1, 1] for the third of 4 + 4 sets that scored 1), Newcombe's over the images in 37-87%
    (``docs/results/auc_intervals.md``, "Few patients of a class")."""
    if n_pos < 1 or n_neg < 1 or not np.isfinite(auc):
        return [_NAN, _NAN]
    return _score_interval(auc, lambda t: _hanley_mcneil(t, n_pos, n_neg), level)


def _hanley_mcneil(t: float, m: int, n: int) -> float:
    """Hanley & McNeil's variance of an AUC ``t`` of ``m`` and ``n`` images, as Newcombe's method 5 writes it
    (``N* = (m + n)/2 - 1`` in place of each side's own size); symmetric in ``m`` and ``n``."""
    half_n = (m + n) / 2 - 1
    return t * (1 - t) * (1 + (half_n - 1) * (1 - t) / (2 - t) + (half_n - 1) * t / (1 + t)) / (m * n)


def _score_interval(auc: float, variance, level: float) -> list[float]:
    """The AUCs ``t`` with ``(auc - t)^2 <= z^2 variance(t)``; SciPy finds the roots."""
    from scipy.optimize import brentq
    from scipy.stats import norm

    z2 = float(norm.ppf((1 + level) / 2)) ** 2

    def gap(t: float) -> float:  # <= 0 inside the interval
        return (auc - t) ** 2 - z2 * variance(t)

    eps = 1e-9
    lo = 0.0 if gap(eps) <= 0 else brentq(gap, eps, min(max(auc, 2 * eps), 1 - eps))
    hi = 1.0 if gap(1 - eps) <= 0 else brentq(gap, max(min(auc, 1 - 2 * eps), eps), 1 - eps)
    return [float(lo), float(hi)]


def macro_auc_score_interval(auc: float, class_counts, level: float = 0.95, rest_counts=None) -> list[float]:
    """A score-type interval of the mean one-vs-rest AUC of independent units, as Newcombe's of one AUC
    (:func:`newcombe_auc_interval`), for where :func:`macro_auc_logit_interval` has none: an AUC of exactly 1
    (or 0), where every image's influence is 0 and the logit is infinite, so the class-stratified bootstrap
    gives the point [1, 1] (5 classes of 3 images: 4 in 10 test sets at a true AUC of 0.99). The AUCs
    ``t`` with ``(auc - t)^2 <= z^2 V(t)``, ``V(t) = 2 sum_c HM_c(t) / K^2`` over the ``K`` classes of
    ``class_counts`` images (``HM_c`` Hanley & McNeil's variance of class ``c`` against the rest): twice the
    variance of ``K`` independent AUCs, for they share their images (each is a positive once and a negative
    ``K - 1`` times); for two classes that is exactly Newcombe's interval of their one AUC. Simulated
    (``bench/auc_ci_coverage.py``'s scores, 400 test sets a row; ``tests/test_interval_coverage.py``): 3-10
    classes of 3-4 images at a true AUC of 0.97-0.997, where up to 80% of test sets score 1, the logit interval
    below 1 and this one at 1 held the AUC in 95-99% of them (the logit interval and the bootstrap's point:
    26-60% where 39-73% score 1). At 1, 5 classes of 3 give [0.85, 1], 20 of 4 [0.97, 1]; below such a bound
    at most 1% of those test sets scored 1. Where a patient has several images the counts are patients, as in
    :func:`newcombe_auc_interval` (the logit interval's influences are images', not independent there): 4
    classes of 4 patients of 8 images (true AUC 0.93, 0.999) and 3 of 3 of 10 (0.999; 64% of sets scored 1),
    it held the AUC in 99-100% of 300 test sets, the patient bootstrap in 35-86%. ``rest_counts``: each
    class's units outside it, where they are not the others' sum (patients of several classes, :func:`class_units`).
    ``[nan, nan]`` where a class is absent."""
    m = np.asarray(class_counts, dtype=np.int64).reshape(-1)
    k, total = len(m), int(m.sum())
    rest = total - m if rest_counts is None else np.asarray(rest_counts, dtype=np.int64).reshape(-1)
    if k < 2 or (m < 1).any() or (rest < 1).any() or not np.isfinite(auc):
        return [_NAN, _NAN]
    return _score_interval(auc, lambda t: 2 * sum(_hanley_mcneil(t, int(c), int(r)) for c, r in zip(m, rest))
                           / k ** 2, level)


def macro_auc_logit_interval(y_true, y_score, level: float = 0.95) -> list[float]:
    """An interval of the mean one-vs-rest AUC (MedMNIST's multi-class AUC) of independent images,
    ``y_true`` ``(N,)`` class indices, ``y_score`` ``(N, K)``: each image's influence on the mean, from the
    AUCs' structural components (DeLong, DeLong & Clarke-Pearson, Biometrics 1988: the share of the other
    side each image outranks), its variance within each class with the ``u/(u-1)`` small-sample factor, and
    the interval taken on the logit scale (as for one AUC, Pepe, "The statistical evaluation of medical
    tests", 2003, 5.2.2), which keeps it inside (0, 1) and asymmetric near 1. For classes of a few images
    each the class-stratified bootstrap misses up to 1/u of each class's variance: 20 classes of 4 test
    images, its "95%" held the AUC in 88-92% of simulated test sets, this one in 92-96%; 5 classes of 3,
    80% against 95% (``bench/auc_ci_coverage.py``, ``tests/test_interval_coverage.py``). By hand: no library offers a multi-class AUC's interval.
    ``[nan, nan]`` where a class is absent or the AUC is 0 or 1 (:func:`macro_auc_score_interval` there)."""
    from scipy.stats import norm

    y, s = np.asarray(y_true).reshape(-1), np.asarray(y_score, np.float64)
    n_rows, k = s.shape
    phi, aucs = np.zeros(n_rows), np.empty(k)
    for c in range(k):
        pos = y == c
        m, n = int(pos.sum()), int((~pos).sum())
        if m == 0 or n == 0:
            return [_NAN, _NAN]
        rank_all = _midranks(s[:, c])
        aucs[c] = (rank_all[pos].sum() - m * (m + 1) / 2) / (m * n)
        v = np.empty(n_rows)  # structural components: per positive, share of negatives below; per negative, above
        v[pos] = (rank_all[pos] - _midranks(s[pos, c])) / n
        v[~pos] = 1.0 - (rank_all[~pos] - _midranks(s[~pos, c])) / m
        phi[pos] += (v[pos] - aucs[c]) / m / k
        phi[~pos] += (v[~pos] - aucs[c]) / n / k
    var = 0.0
    for c in range(k):
        f = phi[y == c]
        if len(f) > 1:
            var += len(f) / (len(f) - 1) * float(np.sum((f - f.mean()) ** 2))
    a = float(aucs.mean())
    if not 0.0 < a < 1.0 or var <= 0.0:
        return [_NAN, _NAN]
    z, logit = float(norm.ppf((1 + level) / 2)), np.log(a / (1 - a))
    half = z * np.sqrt(var) / (a * (1 - a))
    return [float(1 / (1 + np.exp(-(logit - half)))), float(1 / (1 + np.exp(-(logit + half))))]


def _midranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..N of ``x``, ties given their mean rank."""
    from scipy.stats import rankdata

    return rankdata(x, method="average")
