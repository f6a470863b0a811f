"""The decision rule fitted on validation (bias-corrected temperature scaling, Alexandari et al. 2020)."""
from __future__ import annotations

import numpy as np
import pytest

from medtrain import metrics
from medtrain.evaluation.bias import crossfit_scores, decision_shift, fit_bias


def log_odds_data(n: int, prevalence: float, seed: int = 0):
    """Binary labels and their true posterior log-odds as two-class logits ``[0, log-odds]``."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(int)
    x = rng.normal(0, 1, n) + 1.5 * y  # one feature, class 1 shifted by 1.5
    log_odds = np.log(prevalence / (1 - prevalence)) + 1.5 * x - 1.125
    return np.stack([np.zeros(n), log_odds], 1), y


def test_calibrated_logits_get_no_shift_and_a_unit_temperature():
    z, y = log_odds_data(20000, 0.3)
    t, b = fit_bias(z, y, "binary-class")
    assert t == pytest.approx(1.0, abs=0.05)
    assert b[1] - b[0] == pytest.approx(0.0, abs=0.08)


def test_a_threshold_off_by_a_constant_is_put_back():
    """A network whose class-1 logit is 3 too high (its balanced rule calls most negatives positive) gets
    back the decisions, and the accuracy, of the calibrated logits."""
    z, y = log_odds_data(4000, 0.25, seed=1)
    off = z + np.array([0.0, 3.0])
    acc = lambda logits: metrics.acc(y, np.exp(logits) / np.exp(logits).sum(1, keepdims=True), "binary-class")
    assert acc(off) < acc(z) - 0.15
    assert acc(off + decision_shift(off, y, "binary-class")) == pytest.approx(acc(z), abs=0.01)


def test_multi_class_and_multi_label_shifts_restore_the_argmax_and_the_labels():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 3000)
    z = rng.normal(0, 1, (3000, 3)) + 2.5 * np.eye(3)[y]
    broken = z + np.array([2.0, 0.0, -2.0])
    fixed = broken + decision_shift(broken, y, "multi-class")
    assert np.mean(fixed.argmax(1) == y) == pytest.approx(np.mean(z.argmax(1) == y), abs=0.01)
    labels = (rng.random((3000, 2)) < 0.4).astype(float)
    zl = rng.normal(0, 1, (3000, 2)) + 3.0 * (labels - 0.5)
    fixed = (zl - 2.0) + decision_shift(zl - 2.0, labels, "multi-label, binary-class")
    assert np.mean((fixed > 0) == labels) == pytest.approx(np.mean((zl > 0) == labels), abs=0.01)


def test_crossfit_scores_each_image_with_a_shift_fitted_without_it():
    z, y = log_odds_data(200, 0.3, seed=3)
    z = z + np.array([0.0, 2.0])
    held = crossfit_scores(z, y, "binary-class", seed=0)
    assert held.shape == z.shape and np.allclose(held.sum(1), 1.0)
    # moving the first image's logits moves the shift other folds are given, never the one it is given
    z2 = z.copy()
    z2[0, 1] += 10.0
    again = crossfit_scores(z2, y, "binary-class", seed=0)

    def implied_shift(scores, logits, i):
        d = np.log(scores[i]) - logits[i]
        return d[1] - d[0]

    assert implied_shift(again, z2, 0) == pytest.approx(implied_shift(held, z, 0), abs=1e-9)
    moved = [abs(implied_shift(again, z2, i) - implied_shift(held, z, i)) for i in range(1, len(y))]
    assert max(moved) > 1e-3


def test_crossfit_needs_two_images_of_every_class():
    z = np.zeros((5, 2))
    assert crossfit_scores(z, np.array([0, 0, 0, 0, 1]), "binary-class") is None


def test_cross_fitting_holds_out_whole_patients():
    # the check that gates the val-fitted rule had split one patient's images between fitted and held out
    from medtrain.evaluation.bias import _folds

    rng = np.random.default_rng(0)
    patients = np.repeat(np.arange(14), 4)
    y = (patients % 2).astype(np.int64)
    folds = list(_folds(y, "binary-class", seed=0, groups=[f"P{p}" for p in patients]))
    assert len(folds) == 5
    held = np.concatenate([h for _, h in folds])
    assert sorted(held) == list(range(len(y)))  # every image held out once
    for fit, h in folds:
        assert not set(patients[fit]) & set(patients[h])
    z = rng.normal(size=(len(y), 2))
    assert crossfit_scores(z, y, "binary-class", groups=[f"P{p}" for p in patients]).shape == (len(y), 2)


@pytest.mark.parametrize("fit", ["bias", "temperature"])
def test_the_fits_run_on_one_intra_op_thread_and_give_the_callers_count_back(fit, monkeypatch):
    """Hundreds of tiny L-BFGS ops: on a busy 2-core CPU two threads made a 32-image fit 2.3 s instead of 0.05 s,
    with the same result; the caller's (the training run's) thread count is back afterwards."""
    import torch

    from medtrain.evaluation import bias, calibration
    from medtrain.evaluation.calibration import fit_temperature

    seen, nll = [], calibration.nll

    def spy(*a, **k):
        seen.append(torch.get_num_threads())
        return nll(*a, **k)

    monkeypatch.setattr(bias, "nll", spy)
    monkeypatch.setattr(calibration, "nll", spy)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 64)
    z = np.c_[np.zeros(64), 2.0 * y - 1 + rng.normal(0, 1, 64)]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        one = fit_bias(z, y, "binary-class") if fit == "bias" else fit_temperature(z, y, "binary-class")
        assert seen and set(seen) == {1} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    again = fit_bias(z, y, "binary-class") if fit == "bias" else fit_temperature(z, y, "binary-class")
    np.testing.assert_array_equal(np.asarray(one[1] if fit == "bias" else one),
                                  np.asarray(again[1] if fit == "bias" else again))
