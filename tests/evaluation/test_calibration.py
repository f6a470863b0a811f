"""Calibration and operating points as specifications: ECE, temperature scaling, threshold rules, CIs."""
import numpy as np
import pytest
import torch

from medtrain import metrics, operating_point
from medtrain.errors import MedtrainError
from medtrain.evaluation import apply_temperature, choose_temperature, fit_temperature, pseudo_logits
from medtrain.evaluation.calibration import T_RANGE, nll
from medtrain.intervals import wilson_interval
from medtrain.tasks import BINARY, MULTICLASS, MULTILABEL

RATES = ("sensitivity", "specificity", "ppv", "npv")


def _probs(z: torch.Tensor, task: str, t: float = 1.0) -> np.ndarray:
    return metrics.scores_from_logits(z / t, task).numpy()


def _random(task, k, seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(200, k, generator=g, dtype=torch.float64) * 3
    y = torch.randint(0, 2, (200, k), generator=g).numpy() if task == MULTILABEL else \
        torch.randint(0, k, (200,), generator=g).numpy()
    return z, y, float(torch.empty(1).uniform_(0.2, 5.0, generator=g))


@pytest.mark.parametrize("task, k", [(BINARY, 2), (MULTICLASS, 5), (MULTILABEL, 4)])
@pytest.mark.parametrize("seed", range(5))
def test_temperature_changes_no_argmax_and_no_binary_or_per_label_auc(task, k, seed):
    z, y, t = _random(task, k, seed)
    before, after = _probs(z, task), _probs(z, task, t)
    assert metrics.acc(y, after, task) == metrics.acc(y, before, task)
    assert (metrics.predictions(after, task) == metrics.predictions(before, task)).all()
    if task != MULTICLASS:  # a monotone map of each score: the ranking, hence the AUC, is kept
        assert metrics.auc(y, after, task) == pytest.approx(metrics.auc(y, before, task), abs=1e-12)
    assert not np.allclose(before, after)  # the confidences did change


@pytest.mark.parametrize("task, k", [(BINARY, 2), (MULTICLASS, 5), (MULTILABEL, 4)])
def test_scaling_the_reported_probabilities_is_guo_scaling_of_the_logits(task, k):
    z, _, t = _random(task, k, 1)
    assert apply_temperature(_probs(z, task), task, t) == pytest.approx(_probs(z, task, t), abs=1e-9)


@pytest.mark.parametrize("task, k", [(BINARY, 2), (MULTICLASS, 4), (MULTILABEL, 3)])
@pytest.mark.parametrize("seed", range(3))
def test_scaling_averaged_tta_probabilities_keeps_auc_and_argmax(task, k, seed):
    # two "views" averaged, as TTA does: the scaled average keeps every score's order
    z, y, t = _random(task, k, seed)
    avg = (_probs(z, task) + _probs(z + torch.randn_like(z), task)) / 2
    scaled = apply_temperature(avg, task, t)
    assert (metrics.predictions(scaled, task) == metrics.predictions(avg, task)).all()
    if task != MULTICLASS:
        assert metrics.auc(y, scaled, task) == pytest.approx(metrics.auc(y, avg, task), abs=1e-12)


def test_multiclass_one_vs_rest_auc_of_softmax_is_not_temperature_invariant():
    # softmax_i(z / T) re-ranks images for class i (the normaliser depends on the other logits), so the
    # MedMNIST multi-class AUC is reported on the uncalibrated probabilities; this pins that reason down.
    z, y, t = _random(MULTICLASS, 5, 0)
    before, after = _probs(z, MULTICLASS), _probs(z, MULTICLASS, t)
    assert metrics.auc(y, after, MULTICLASS) != pytest.approx(metrics.auc(y, before, MULTICLASS), abs=1e-4)


def _overconfident(task: str, scale: float = 4.0, n: int = 4000, k: int = 3, seed: int = 0):
    """Labels drawn from softmax(z) (sigmoid per label for multi-label), logits reported as ``scale * z``."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=g, dtype=torch.float64)
    if task == MULTILABEL:
        y = torch.bernoulli(torch.sigmoid(z), generator=g).long()
    else:
        y = torch.multinomial(torch.softmax(z, 1), 1, generator=g).reshape(-1)
    return z * scale, y


@pytest.mark.parametrize("task, k", [(BINARY, 2), (MULTICLASS, 3), (MULTILABEL, 3)])
def test_temperature_undoes_deliberate_overconfidence_and_lowers_ece(task, k):
    logits, y = _overconfident(task, scale=4.0, k=k)
    t = fit_temperature(logits, y, task)
    assert fit_temperature(pseudo_logits(_probs(logits, task), task), y, task) == pytest.approx(t, rel=1e-3)
    assert t == pytest.approx(4.0, rel=0.15)  # the scale the logits were inflated by
    before = metrics.ece(y.numpy(), _probs(logits, task), task)
    after = metrics.ece(y.numpy(), _probs(logits, task, t), task)
    assert after < before / 3
    assert nll(logits, y, task, t) < nll(logits, y, task, 1.0)


def test_calibrated_logits_keep_a_temperature_near_one():
    logits, y = _overconfident(MULTICLASS, scale=1.0, n=6000)
    assert fit_temperature(logits, y, MULTICLASS) == pytest.approx(1.0, abs=0.08)


def test_an_underconfident_network_gets_the_lowest_temperature_of_the_range():
    logits, y = _overconfident(BINARY, scale=0.01, k=2)  # scores that barely leave 0.5
    lo = T_RANGE[0]
    assert fit_temperature(logits, y, BINARY) == lo
    assert nll(logits, y, BINARY, lo) < nll(logits, y, BINARY, lo * 1.2)  # the bound is the constrained optimum


def test_a_validation_split_without_error_keeps_the_network_probabilities():
    """Found in a user walkthrough: a small, perfectly separated validation split drove T to 0.05 and every
    test probability to 0 or 1 (test ECE 0.01 -> 0.18). Without an error the NLL has no minimiser."""
    logits, y = _overconfident(BINARY, scale=1.0, k=2)
    z = logits.clone()
    z[torch.arange(len(y)), y] += 6.0  # every validation image right, by a margin
    scores = _probs(z, BINARY)
    assert metrics.acc(y.numpy(), scores, BINARY) == 1.0 and fit_temperature(z, y, BINARY) < 0.3  # sharpened
    t, rule = choose_temperature(scores, y.numpy(), BINARY)
    assert t == 1.0 and rule.startswith("kept 1: validation has no error")


def test_the_chosen_temperature_never_raises_the_validation_ece():
    """On 30-image validation splits the NLL-optimal T often raises the binned ECE; T = 1 is kept then."""
    kept = fitted = 0
    for seed in range(40):
        g = np.random.default_rng(seed)
        y = g.integers(0, 2, 30)
        p1 = 1 / (1 + np.exp(-((2 * y - 1) * g.gamma(1.0, 0.3, 30) + g.normal(0, 0.4, 30))))
        scores = np.stack([1 - p1, p1], 1)
        t, rule = choose_temperature(scores, y, BINARY)
        at_1 = metrics.ece(y, scores, BINARY)
        assert metrics.ece(y, apply_temperature(scores, BINARY, t), BINARY) <= at_1 + 1e-12
        kept += rule.startswith("kept 1: T =")
        fitted += rule == "fitted" and t != 1.0
    assert kept >= 3 and fitted >= 3  # both branches taken


def test_an_overconfident_network_still_gets_its_temperature():
    logits, y = _overconfident(MULTICLASS, scale=4.0, k=3)
    t, rule = choose_temperature(_probs(logits, MULTICLASS), y.numpy(), MULTICLASS)
    assert rule == "fitted" and t == pytest.approx(4.0, rel=0.15)


def test_no_validation_images_means_no_scaling():
    assert fit_temperature(torch.zeros(0, 2), torch.zeros(0), BINARY) == 1.0


def test_ece_by_hand():
    # every image predicted positive with probability 0.8, 60% positive: one bin, |0.8 - 0.6| = 0.2
    p = np.tile([0.2, 0.8], (10, 1))
    y = np.array([1] * 6 + [0] * 4)
    assert metrics.ece(y, p, BINARY) == pytest.approx(0.2)
    # multi-class: top-label confidence 0.7 everywhere, half the arg-maxes right
    p3 = np.tile([0.7, 0.2, 0.1], (10, 1))
    assert metrics.ece(np.array([0] * 5 + [1] * 5), p3, MULTICLASS) == pytest.approx(0.2)
    # multi-label: the mean of each label's binary ECE (0.2 and 0.6)
    pl = np.tile([0.8, 0.9], (10, 1))
    yl = np.stack([y, np.array([1] * 3 + [0] * 7)], 1)
    assert metrics.ece(yl, pl, MULTILABEL) == pytest.approx((0.2 + 0.6) / 2)


def _scores(seed: int, n: int = 120):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1).round(2)  # rounded: ties between images
    return y, np.stack([1 - s, s], 1)


def _rates(y, s, t):
    r = operating_point.rates_at(y, s, t)
    return r["sensitivity"], r["specificity"]


@pytest.mark.parametrize("seed", range(6))
def test_youden_threshold_maximises_j_against_brute_force(seed):
    y, s = _scores(seed)
    t = operating_point.choose_threshold(y, s, "youden")
    best = max(sum(_rates(y, s, c)) - 1 for c in np.unique(s[:, 1]))
    assert sum(_rates(y, s, t)) - 1 == pytest.approx(best)


def _gap(s, t):
    """The validation scores just above and just below ``t``."""
    u = np.unique(s[:, 1])
    return u[u > t].min(), u[u < t].max()


@pytest.mark.parametrize("seed", range(6))
def test_sensitivity_target_is_met_with_the_best_specificity_midway_between_scores(seed):
    y, s = _scores(seed)
    t = operating_point.choose_threshold(y, s, "sensitivity=0.95")
    sens, spec = _rates(y, s, t)
    assert sens >= 0.95
    assert spec == max(_rates(y, s, c)[1] for c in np.unique(s[:, 1]) if _rates(y, s, c)[0] >= 0.95)
    above, below = _gap(s, t)
    assert t == pytest.approx((above + below) / 2) and _rates(y, s, above) == (sens, spec)


@pytest.mark.parametrize("seed", range(6))
def test_specificity_target_is_met_with_the_best_sensitivity_midway_between_scores(seed):
    y, s = _scores(seed)
    t = operating_point.choose_threshold(y, s, "specificity=0.9")
    sens, spec = _rates(y, s, t)
    assert spec >= 0.9
    assert sens == max(_rates(y, s, c)[0] for c in np.unique(s[:, 1]) if _rates(y, s, c)[1] >= 0.9)
    above, below = _gap(s, t)
    assert t == pytest.approx((above + below) / 2)


def test_a_separated_validation_split_puts_the_threshold_midway_not_on_its_lowest_positive():
    """Found in a user walkthrough: Youden's threshold sat on the lowest validation positive (0.7815), so a
    test positive at 0.7727 was missed though every negative scored below 0.49."""
    y = np.array([0, 0, 0, 1, 1, 1])
    p1 = np.array([0.10, 0.30, 0.488, 0.7815, 0.90, 0.95])
    s = np.stack([1 - p1, p1], 1)
    for spec in ("youden", "sensitivity=0.99", "specificity=0.99"):
        assert operating_point.choose_threshold(y, s, spec) == pytest.approx((0.488 + 0.7815) / 2), spec


def test_the_positive_class_can_be_the_first():
    """BreastMNIST's first class is 'malignant': its sensitivity is the recall of class 0, on p0."""
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p0 = np.array([0.9, 0.8, 0.6, 0.3, 0.4, 0.2, 0.1, 0.05])
    s = np.stack([p0, 1 - p0], 1)
    r = operating_point.rates_at(y, s, 0.5, positive=0)
    assert {k: r[k] for k in RATES} == pytest.approx({"sensitivity": 3 / 4, "specificity": 1.0, "ppv": 1.0, "npv": 4 / 5})
    t = operating_point.choose_threshold(y, s, "sensitivity=0.99", positive=0)
    assert t == pytest.approx((0.3 + 0.2) / 2) and operating_point.rates_at(y, s, t, positive=0)["sensitivity"] == 1.0
    assert operating_point.positive_index("malignant", {"0": "malignant", "1": "normal, benign"}) == 0
    assert operating_point.positive_index(None, {"0": "malignant", "1": "normal, benign"}) == 1  # MedMNIST's last class
    with pytest.raises(MedtrainError, match="positive_class 'cancer' is not a class of the data; its classes are 'a', 'b'"):
        operating_point.positive_index("cancer", {"0": "a", "1": "b"})


def test_a_rate_of_0_or_1_gets_an_interval_not_a_point():
    """0 of 21 negatives called negative: the bootstrap said [0, 0]; the Wilson interval is [0, 0.155]."""
    y = np.array([0] * 21 + [1] * 10)
    s = np.stack([np.zeros(31), np.ones(31)], 1)  # everything called positive
    rep = operating_point.operating_point_report(y, s, 0.5)
    assert rep["specificity"] == 0.0 and rep["specificity_ci"] == pytest.approx([0.0, 0.1546], abs=1e-4)
    assert rep["sensitivity"] == 1.0 and rep["sensitivity_ci"][0] == pytest.approx(0.7225, abs=1e-4)


def test_rates_by_hand():
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    s = np.array([0.9, 0.6, 0.2, 0.7, 0.3, 0.1, 0.05])
    r = operating_point.rates_at(y, s, 0.5)
    assert {k: r[k] for k in RATES} == pytest.approx({"sensitivity": 2 / 3, "specificity": 3 / 4, "ppv": 2 / 3, "npv": 3 / 4})
    # each with its count, hits of the eligible images (2 of the 3 positives called), and their Wilson interval
    assert {k: r[f"{k}_counts"] for k in RATES} == {"sensitivity": [2, 3], "specificity": [3, 4], "ppv": [2, 3],
                                                    "npv": [3, 4]}
    assert r["sensitivity_ci"] == pytest.approx(wilson_interval(2, 3))
    assert operating_point.rates_at(y, s, 0.6)["sensitivity"] == 2 / 3  # score >= threshold is positive


@pytest.mark.parametrize("seed", range(3))
def test_operating_point_cis_contain_the_point_estimates(seed):
    y, s = _scores(seed, n=200)
    rep = operating_point.operating_point_report(y, s, operating_point.choose_threshold(y, s, "youden"))
    y, called = np.asarray(y).reshape(-1), s[:, 1] >= rep["threshold"]
    # each rate is a proportion of these images: its 95% interval is about +-1.96 binomial standard errors wide
    among = {"sensitivity": y == 1, "specificity": y == 0, "ppv": called, "npv": ~called}
    for k, rows in among.items():
        lo, hi = rep[f"{k}_ci"]
        p, m = rep[k], int(rows.sum())
        assert lo < p < hi, k
        assert (hi - lo) / (2 * 1.96 * np.sqrt(p * (1 - p) / m)) == pytest.approx(1, abs=0.3), k


@pytest.mark.parametrize("spec, message", [
    ("sensitivity=1.5", "must be in (0, 1)"), ("specificity=0", "must be in (0, 1)"),
    ("sensitivity=1", "must be in (0, 1)"), ("sensitivity=abc", "is not a number"),
    ("f1", "youden, sensitivity=P or specificity=P"), ("youden=0.3", "youden, sensitivity=P"),
    ("sensitivity", "youden, sensitivity=P"),
])
def test_bad_operating_points_are_refused(spec, message):
    with pytest.raises(MedtrainError, match=message.replace("(", r"\(").replace(")", r"\)")):
        operating_point.parse_operating_point(spec)


def test_good_operating_points_parse():
    assert operating_point.parse_operating_point("youden") == ("youden", None)
    assert operating_point.parse_operating_point("Sensitivity=0.95") == ("sensitivity", 0.95)
    assert operating_point.parse_operating_point("specificity=0.9") == ("specificity", 0.9)


def test_a_rejected_temperature_near_1_is_said_in_digits_that_are_not_1(monkeypatch):
    # "kept 1: T = 1 raised the validation ECE from 0.1282 to 0.1284": the fitted T was 1.0022 (a reader's walk)
    from medtrain.evaluation import calibration

    y = np.array([0, 1, 0, 1, 1, 0])
    scores = np.array([[0.6, 0.4], [0.3, 0.7], [0.45, 0.55], [0.8, 0.2], [0.4, 0.6], [0.7, 0.3]])
    eces = iter([0.1282, 0.1284])
    monkeypatch.setattr(calibration, "fit_temperature", lambda *a: 1.0021894)
    monkeypatch.setattr(calibration.metrics, "ece", lambda *a: next(eces))
    t, rule = choose_temperature(scores, y, BINARY)
    assert t == 1.0 and rule == "kept 1: T = 1.002 raised the validation ECE from 0.1282 to 0.1284"
    assert calibration.temperature_text(0.776) == "0.776" and calibration.temperature_text(0.99996) == "0.99996"
