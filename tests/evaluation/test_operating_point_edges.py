"""The operating point's threshold at its edges, as a specification: it meets its rule on validation whenever
some threshold can, it lies strictly inside a gap between validation scores (never on a score, in float64 or
float32, where ``medtrain predict`` compares), and a rule met only by calling no validation image positive, or
every one, says so in one warning (found in a user walkthrough: the threshold had been the top validation score
itself half the time, which called that image positive and broke specificity=P)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from medtrain.operating_point import OperatingPointWarning, choose_threshold, rates_at

SPECS = ("youden", "sensitivity=0.5", "sensitivity=0.9", "sensitivity=0.99", "specificity=0.9", "specificity=0.97")


def _two(s) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64)
    return np.c_[1 - s, s]


def _choose(y, s, spec):
    """The threshold and the operating-point warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = choose_threshold(y, _two(s), spec)
    return t, [w for w in caught if issubclass(w.category, OperatingPointWarning)]


def _best(y, s, spec):
    """Exhaustively, over every threshold that separates the scores differently (each distinct score, and
    above them all): the best value the rule can reach, as (feasible, J or the other rate)."""
    called = s[None, :] >= np.r_[np.unique(s), np.inf][:, None]
    rate = {"sensitivity": (called & (y == 1)).sum(1) / (y == 1).sum(),
            "specificity": (~called & (y == 0)).sum(1) / (y == 0).sum()}
    if spec == "youden":
        return True, float((rate["sensitivity"] + rate["specificity"]).max())
    kind, target = spec.split("=")
    other = "specificity" if kind == "sensitivity" else "sensitivity"
    ok = rate[other][rate[kind] >= float(target) - 1e-12]
    return bool(len(ok)), float(ok.max()) if len(ok) else None


def _meets(y, s, spec, t) -> bool:
    feasible, best = _best(y, s, spec)
    r = rates_at(y, _two(s), t)
    if spec == "youden":
        return abs(r["sensitivity"] + r["specificity"] - best) < 1e-9
    kind, target = spec.split("=")
    other = "specificity" if kind == "sensitivity" else "sensitivity"
    return not feasible or (r[kind] >= float(target) - 1e-12 and abs(r[other] - best) < 1e-9)


def _random_cases(n_cases: int, seed: int):
    """Small validation splits with ties (scores rounded), exact 0 and 1, and float32-valued scores."""
    rng = np.random.default_rng(seed)
    while n_cases:
        n = int(rng.integers(2, 40))
        y = rng.integers(0, 2, n)
        if len(set(y)) < 2:
            continue
        s, kind = rng.random(n), n_cases % 4
        if kind == 0:
            s = np.round(s, int(rng.integers(1, 3)))
        elif kind == 1:
            s = np.clip(np.round(s, 2) * 1.2 - 0.1, 0.0, 1.0)
        elif kind == 2:
            s = s.astype(np.float32).astype(np.float64)
        n_cases -= 1
        yield y, s


@pytest.mark.parametrize("seed", range(3))
def test_the_threshold_meets_its_rule_whenever_it_can_and_sits_on_no_score_in_float64_or_float32(seed):
    for y, s in _random_cases(250, seed):
        s32 = s.astype(np.float32)
        for spec in SPECS:
            t, said = _choose(y, s, spec)
            assert _meets(y, s, spec, t), (spec, t, y, s)
            assert not (s == t).any() and not (s32 == np.float32(t)).any(), (spec, t, s)
            # predict compares float32 probabilities (with the threshold as a Python float: float32 too)
            assert ((s >= t) == (s32 >= t)).all() and ((s >= t) == (s32 >= np.float32(t))).all(), (spec, t, s)
            none, every = not (s >= t).any(), (s >= t).all()
            assert len(said) == (1 if none or every else 0), (spec, t, s)


def test_specificity_met_only_above_every_score_is_met_there_with_a_warning():
    """The walkthrough's case: the top validation score is a negative's, so specificity >= 0.9 means no
    validation image called positive; the threshold had come out as that score (0.8), specificity 0.75."""
    y = np.array([0, 0, 0, 0, 1, 1])
    s = np.array([0.8, 0.2, 0.1, 0.3, 0.6, 0.65])
    t, said = _choose(y, s, "specificity=0.9")
    assert t == pytest.approx(0.9)  # the midpoint of the top score and 1
    assert rates_at(y, _two(s), t)["specificity"] == 1.0
    assert len(said) == 1 and "\n" not in str(said[0].message)
    assert "no validation image positive" in str(said[0].message) and "0.8" in str(said[0].message)


def test_a_top_score_of_exactly_one_still_gets_a_threshold_above_it():
    y = np.array([0, 0, 1, 1])
    s = np.array([1.0, 0.2, 0.6, 0.7])
    t, said = _choose(y, s, "specificity=0.9")
    assert t > 1.0 and np.float32(t) > np.float32(1.0) and len(said) == 1


def test_sensitivity_met_only_below_every_score_is_met_there_with_a_warning():
    """sensitivity=0.99 needs the lowest-scoring positive: every validation image is called positive. The
    threshold had been that score itself, which a float32 probability printed just below it."""
    y = np.array([1, 0, 0, 1, 1, 0])
    s = np.array([0.05, 0.2, 0.3, 0.6, 0.9, 0.4])
    t, said = _choose(y, s, "sensitivity=0.99")
    assert t == pytest.approx(0.025)  # the midpoint of 0 and the lowest score
    assert rates_at(y, _two(s), t)["sensitivity"] == 1.0
    assert len(said) == 1 and "every validation image positive" in str(said[0].message)
    t0, said0 = _choose(y, np.where(s == 0.05, 0.0, s), "sensitivity=0.99")  # the lowest score exactly 0
    assert t0 < 0.0 and len(said0) == 1


def test_a_youden_plateau_gets_a_gap_not_the_score_inside_it():
    """Two thresholds of equal J (a tied score with one positive and one negative, as many of each): the midpoint
    of the whole block had been the tied score (0.6) itself."""
    y = np.array([1, 1, 0, 0])
    s = np.array([0.9, 0.6, 0.6, 0.3])
    t, said = _choose(y, s, "youden")
    assert not (s == t).any() and _meets(y, s, "youden", t) and not said


def test_an_interior_threshold_warns_of_nothing():
    y = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([0.10, 0.30, 0.488, 0.7815, 0.90, 0.95])
    for spec in ("youden", "sensitivity=0.99", "specificity=0.99"):
        t, said = _choose(y, s, spec)
        assert t == pytest.approx((0.488 + 0.7815) / 2) and not said, spec
