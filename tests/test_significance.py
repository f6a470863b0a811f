"""Paired tests of two models on the same images (:mod:`medtrain.significance`): DeLong's AUC test as its
definition computes it, p-values that hold their level when the models are equally good, McNemar's exact test
and the paired bootstrap's interval."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from medtrain.significance import delong_test, mcnemar_test, paired_bootstrap


def _delong_by_definition(y, a, b):
    """DeLong et al. (1988) as written: psi over every positive/negative pair, O(m n)."""
    y = y.astype(bool)
    v10, v01 = [], []
    for s in (a, b):
        psi = (s[y][:, None] > s[~y][None]) + 0.5 * (s[y][:, None] == s[~y][None])
        v10.append(psi.mean(1))
        v01.append(psi.mean(0))
    m, n = y.sum(), (~y).sum()
    cov = np.cov(np.stack(v10)) / m + np.cov(np.stack(v01)) / n
    diff = v10[0].mean() - v10[1].mean()
    se = np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    return diff, se, 2 * norm.sf(abs(diff / se))


def _auc(y, s):
    """A binary AUC by its definition (the share of positive/negative pairs the positive outranks, ties one half):
    bit for bit the number :func:`medtrain.metrics.auc` gives (``test_the_tests_auc_is_medtrains``), as a bootstrap's
    statistic without its per-call rank set-up (~2 ms a call, which had been 9 of the coverage test's 10 s)."""
    y = np.asarray(y, bool)
    pos, neg = s[y][:, None], s[~y]
    return float((np.count_nonzero(pos > neg) + 0.5 * np.count_nonzero(pos == neg)) / (pos.size * neg.size))


def test_the_tests_auc_is_medtrains():
    from medtrain.metrics import auc

    rng = np.random.default_rng(5)
    for k in range(60):  # bootstrap draws repeat images: many ties, also across the classes
        y = np.r_[np.ones(12, int), np.zeros(100, int)]
        s = np.round(2 * y + rng.normal(0, 1, len(y)), k % 3)
        ix = np.r_[rng.integers(0, 12, 12), rng.integers(12, 112, 100)]
        assert _auc(y[ix], s[ix]) == auc(y[ix], s[ix], "binary-class") == pytest.approx(roc_auc_score(y[ix], s[ix]))


def test_delong_equals_its_definition_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 150)
    a = np.round(y + rng.normal(0, 1.2, 150), 1)  # rounded: many ties, which count one half
    b = np.round(0.5 * y + rng.normal(0, 1.0, 150), 1)
    got = delong_test(y, a, b)
    diff, se, p = _delong_by_definition(y, a, b)
    assert got["auc_a"] == pytest.approx(roc_auc_score(y, a)) and got["auc_b"] == pytest.approx(roc_auc_score(y, b))
    assert got["difference"] == pytest.approx(diff) and got["se"] == pytest.approx(se) and got["p"] == pytest.approx(p)


def test_delong_p_values_hold_their_level_when_two_models_are_equally_good():
    rng = np.random.default_rng(1)
    ps = []
    for _ in range(400):
        y = rng.integers(0, 2, 120)
        shared = rng.normal(0, 1, 120)  # correlated models, as two networks on the same images are
        a = y + shared + rng.normal(0, 1, 120)
        b = y + shared + rng.normal(0, 1, 120)
        ps.append(delong_test(y, a, b)["p"])
    assert 0.02 <= np.mean(np.array(ps) < 0.05) <= 0.09


def test_delong_finds_a_real_difference_and_identical_rankings_are_no_difference():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    good, weak = y * 2.0 + rng.normal(0, 1, 400), y * 0.5 + rng.normal(0, 1, 400)
    assert delong_test(y, good, weak)["p"] < 1e-6
    same = delong_test(y, good, good * 3 + 1)  # a monotone transform ranks the same
    assert same["difference"] == 0 and same["p"] == 1.0
    with pytest.raises(ValueError, match="both classes"):
        delong_test(np.ones(5), good[:5], weak[:5])


def test_mcnemar_counts_the_discordant_images_and_tests_them_exactly():
    a = np.array([1] * 10 + [0] * 2 + [1] * 30 + [0] * 8, bool)  # 10 only a right, 2 only b right
    b = np.array([0] * 10 + [1] * 2 + [1] * 30 + [0] * 8, bool)
    got = mcnemar_test(a, b)
    assert (got["a_only"], got["b_only"]) == (10, 2)
    assert got["p"] == pytest.approx(2 * sum(__import__("math").comb(12, k) for k in range(3)) / 2 ** 12)
    assert mcnemar_test(a, a)["p"] == 1.0


def test_the_paired_interval_is_narrower_than_either_models_own_when_they_share_their_errors():
    from medtrain.metrics import bootstrap_ci

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    shared = rng.normal(0, 1.5, 300)
    a, b = y + shared + rng.normal(0, 0.3, 300), y + shared + rng.normal(0, 0.3, 300)

    got = paired_bootstrap(y, a, b, _auc, n=300, seed=0)
    assert got["difference"] == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b))
    lo, hi = got["difference_ci"]
    assert lo < got["difference"] < hi and got["difference_ci_draws"] == 300
    own = bootstrap_ci(y, np.stack([-a, a], 1), "binary-class", n=300, seed=0)["auc_ci"]
    assert hi - lo < (own[1] - own[0]) / 2
    same = paired_bootstrap(y, a, a, _auc, n=50)
    assert same["difference"] == 0 and same["difference_ci"] == [0.0, 0.0]


def test_the_paired_interval_resamples_whole_patients():
    rng = np.random.default_rng(4)
    y = np.repeat(rng.integers(0, 2, 30), 5)  # 30 patients of 5 images, one class each
    groups = np.repeat(np.arange(30), 5)
    a, b = y + rng.normal(0, 1, 150), y + rng.normal(0, 1, 150)
    by_image = paired_bootstrap(y, a, b, _auc, n=200, seed=0)
    by_patient = paired_bootstrap(y, a, b, _auc, n=200, seed=0, groups=groups)
    assert by_patient["difference"] == by_image["difference"]
    assert by_patient["difference_ci"] != by_image["difference_ci"]
    one = paired_bootstrap(y[:5], a[:5], b[:5], lambda t, s: float(s.mean()), n=50, groups=groups[:5])
    assert one["difference_ci_draws"] == 0 and np.isnan(one["difference_ci"]).all()  # one patient: no interval


def test_delong_s_interval_of_an_auc_difference_with_few_positives_holds_it_where_the_bootstrap_s_falls_short():
    # 12 positives: the paired bootstrap's draws see 11/12 of the positives' variance, and its "95%" held the true
    # difference in 87% of these test sets (eval --vs takes MOVER's there, which holds more: the tests below).
    # The draws' statistic is _auc, medtrain.metrics.auc's number bit for bit: every interval is the same as with
    # metrics.auc (bootstrap 348 of 400 held, DeLong 367), in a fifth of the time
    from medtrain.significance import delong_interval

    stat = _auc
    rng, truth = np.random.default_rng(0), norm.cdf(2.5 / np.sqrt(2.98)) - norm.cdf(2.0 / np.sqrt(2.98))
    y = np.r_[np.ones(12, int), np.zeros(100, int)]
    held, widths = {"bootstrap": 0, "delong": 0}, {"bootstrap": 0.0, "delong": 0.0}
    for t in range(400):  # two correlated binormal models, AUCs 0.93 and 0.88
        shared = rng.normal(0, 1, len(y))
        a, b = 2.5 * y + shared + rng.normal(0, 0.7, len(y)), 2.0 * y + shared + rng.normal(0, 0.7, len(y))
        for name, got in (("bootstrap", paired_bootstrap(y, a, b, stat, n=100, seed=t)),
                          ("delong", delong_interval(y, a, b))):
            lo, hi = got["difference_ci"]
            held[name] += lo <= truth <= hi
            widths[name] += hi - lo
    assert held["delong"] / 400 >= 0.9 and held["bootstrap"] < held["delong"]
    assert widths["delong"] > widths["bootstrap"]
    d = delong_test(y, a, b)
    assert delong_interval(y, a, b)["difference_ci"] == pytest.approx(
        [d["difference"] - 1.959964 * d["se"], d["difference"] + 1.959964 * d["se"]])


def test_delong_s_interval_stays_within_minus_1_and_1_and_is_never_a_point_of_a_difference():
    from medtrain.significance import delong_interval

    y = np.r_[np.ones(3, int), np.zeros(30, int)]
    perfect, poor = y.astype(float), np.r_[0.5, -10, -10, np.linspace(0, 1, 30)]  # AUCs 1 and 1/6
    d = delong_test(y, perfect, poor)
    assert d["difference"] + 1.96 * d["se"] > 1  # difference +- z se reaches past 1: an impossible difference
    lo, hi = delong_interval(y, perfect, poor)["difference_ci"]
    assert lo == pytest.approx(d["difference"] - 1.959964 * d["se"]) and hi == 1.0
    assert delong_interval(y, poor, perfect)["difference_ci"] == pytest.approx([-1.0, -lo])
    flat = np.zeros(len(y))  # every image ranked alike by each model: DeLong's variance is 0, the AUCs 1 and 0.5
    got = delong_interval(y, y.astype(float), flat)
    assert got["difference"] == 0.5 and np.isnan(got["difference_ci"]).all()
    assert delong_interval(y, poor, poor * 2)["difference_ci"] == [0.0, 0.0]  # the same ranking: no difference


def test_two_perfect_rankings_with_few_positives_have_no_difference_interval_not_a_point():
    # eval --vs of two runs with AUC 1 on 8 + 8 test images had printed +0.0000 [+0.000, +0.000]
    from medtrain.significance import delong_interval

    y = np.r_[np.ones(8), np.zeros(8)]
    a, b = np.r_[np.linspace(0.6, 0.9, 8), np.linspace(0.1, 0.4, 8)], np.r_[np.linspace(0.7, 0.99, 8), np.zeros(8)]
    d = delong_interval(y, a, b)
    assert d["difference"] == 0 and d["se"] == 0 and np.isnan(d["difference_ci"]).all()


def test_the_mover_interval_of_an_auc_difference_equals_its_formula_worked_by_hand():
    """MOVER (Zou & Donner 2008) on 3 positives and 4 negatives, worked by hand from the pairs: AUCs 11/12 and
    8/12 (d = 1/4); structural components a: positives [1, 1, 3/4], negatives [2/3, 1, 1, 1]; b: positives
    [1, 1/2, 1/2], negatives [1/3, 1/3, 1, 1]; DeLong's covariance (S10 / 3 + S01 / 4) has variances 1/72 and
    7/108 and covariance 7/432, so r = sqrt(7/24). Each AUC's interval is Newcombe's."""
    from medtrain.intervals import newcombe_auc_interval
    from medtrain.significance import mover_interval

    y = np.array([1, 1, 1, 0, 0, 0, 0])
    a = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.05])
    b = np.array([0.6, 0.4, 0.35, 0.5, 0.45, 0.3, 0.1])
    a1, a2, r = 11 / 12, 8 / 12, np.sqrt(7 / 24)
    (l1, u1), (l2, u2) = newcombe_auc_interval(a1, 3, 4), newcombe_auc_interval(a2, 3, 4)
    low = 0.25 - np.sqrt((a1 - l1) ** 2 + (u2 - a2) ** 2 - 2 * r * (a1 - l1) * (u2 - a2))
    high = 0.25 + np.sqrt((u1 - a1) ** 2 + (a2 - l2) ** 2 - 2 * r * (u1 - a1) * (a2 - l2))
    got = mover_interval(y, a, b)
    assert got["difference"] == pytest.approx(0.25) and got["r"] == pytest.approx(r)
    assert got["difference_ci"] == pytest.approx([low, high])
    d = delong_test(y, a, b)
    assert got["p"] == pytest.approx(d["p"]) and got["se"] == pytest.approx(d["se"])
    swapped = mover_interval(y, b, a)  # the mirror image, as eval --vs in either order of the runs
    assert swapped["difference_ci"] == pytest.approx([-high, -low])


def test_the_mover_interval_holds_the_observed_difference_within_minus_1_and_1_at_every_edge():
    from medtrain.intervals import newcombe_auc_interval
    from medtrain.significance import mover_interval

    rng = np.random.default_rng(7)
    for _ in range(50):  # few positives, any two models
        y = np.r_[np.ones(rng.integers(1, 12)), np.zeros(rng.integers(1, 40))].astype(int)
        a, b = rng.normal(0, 1, len(y)) + rng.uniform(-2, 4) * y, np.round(rng.normal(0, 1, len(y)), 1)
        got = mover_interval(y, a, b)
        lo, hi = got["difference_ci"]
        assert -1 <= lo <= got["difference"] <= hi <= 1 and -1 <= got["r"] <= 1
    y = np.r_[np.ones(3, int), np.zeros(30, int)]
    perfect, poor = y.astype(float), np.r_[0.5, -10, -10, np.linspace(0, 1, 30)]  # AUCs 1 and 1/6
    got = mover_interval(y, perfect, poor)  # r is 0/0 (the perfect AUC has no variance): taken as 0
    lo, hi = got["difference_ci"]
    assert got["r"] == 0 and -1 <= lo < got["difference"] < hi <= 1 and np.isfinite([lo, hi]).all()
    assert mover_interval(y, poor, perfect)["difference_ci"] == pytest.approx([-hi, -lo])  # AUC 0 on one side: the same
    worst = mover_interval(y, perfect, -perfect)  # AUCs 1 and 0: the largest difference there is, and no more
    assert worst["difference"] == 1 and -1 <= worst["difference_ci"][0] < 1 and worst["difference_ci"][1] == 1
    # two perfect runs of other scores (DeLong's variance 0 on both sides: no DeLong interval): each AUC's
    # Newcombe interval [l, 1] gives [-(1 - l), 1 - l]
    other = np.r_[np.linspace(0.7, 0.99, 3), np.zeros(30)]
    l = newcombe_auc_interval(1.0, 3, 30)[0]
    spread_out = np.r_[np.linspace(0.6, 0.9, 3), np.linspace(0.1, 0.4, 30)]
    assert mover_interval(y, spread_out, other)["difference_ci"] == pytest.approx([l - 1, 1 - l])
    assert mover_interval(y, poor, poor * 2)["difference_ci"] == [0.0, 0.0]  # the same ranking: no difference
    assert mover_interval(y, perfect, perfect * 3)["difference_ci"] == [0.0, 0.0]


def test_with_few_positives_mover_holds_the_true_auc_difference_where_delong_s_interval_falls_short():
    # eval --vs with 12 positives near an AUC of 1: DeLong's symmetric d +- z se held the true difference in 86%
    # of bench/auc_ci_coverage.py --paired's test sets, MOVER's (Newcombe's asymmetry, DeLong's correlation) 98%
    from medtrain.significance import delong_interval, mover_interval

    rng, spread = np.random.default_rng(1), np.sqrt(2 * 1.49)
    truth = norm.cdf(3.5 / spread) - norm.cdf(2.8 / spread)  # AUCs 0.98 and 0.95
    y = np.r_[np.ones(12, int), np.zeros(100, int)]
    held = {"delong": 0, "mover": 0}
    for _ in range(200):
        shared = rng.normal(0, 1, len(y))
        a, b = 3.5 * y + shared + rng.normal(0, 0.7, len(y)), 2.8 * y + shared + rng.normal(0, 0.7, len(y))
        for name, fn in (("delong", delong_interval), ("mover", mover_interval)):
            lo, hi = fn(y, a, b)["difference_ci"]
            held[name] += lo <= truth <= hi
    assert held["mover"] / 200 >= 0.94 and held["delong"] < held["mover"]
