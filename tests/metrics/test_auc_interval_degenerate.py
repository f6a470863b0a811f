"""An AUC of exactly 1 (or 0) has an interval, not a point, however many units its classes have: 30 + 30 perfectly
separated test images had printed AUC 1.000 [1.000, 1.000] (every stratified resample of a perfectly separated set
is as perfectly separated), while the intervals module promises never a point. There the score interval over the
units takes the bootstrap's place: Newcombe's for a binary task and for each class, the mean one-vs-rest score
interval for a multi-class AUC, with ``auc_ci_reason`` ``"bootstrap degenerate: perfect separation"``."""
import numpy as np
import pytest

from medtrain import metrics

DEGENERATE = "bootstrap degenerate: perfect separation"


def _binary(per_class: int, images: int = 1, reverse: bool = False, seed: int = 0):
    """``per_class`` units (patients of ``images`` images; independent images where 1) of each class, every
    positive image scored above every negative one (below, ``reverse``)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.repeat([0, 1], per_class), images)
    p1 = np.where((y == 1) != reverse, rng.uniform(0.6, 1, len(y)), rng.uniform(0, 0.4, len(y)))
    groups = np.arange(len(y)) // images if images > 1 else None
    return y, np.stack([1 - p1, p1], 1), (None if groups is None else groups.astype(str))


def _multi(classes: int, per_class: int):
    y = np.repeat(np.arange(classes), per_class)
    s = np.full((len(y), classes), 0.1)
    s[np.arange(len(y)), y] = 0.8
    return y, s / s.sum(1, keepdims=True)


def test_a_perfect_binary_auc_of_thirty_and_thirty_images_has_newcombe_s_interval_not_a_point():
    y, s, _ = _binary(30)
    assert metrics.bootstrap_ci(y, s, "binary-class", 200, 0)["auc_ci"] == [1.0, 1.0]  # the bootstrap's point
    res = metrics.acc_auc_ci(y, s, "binary-class", n=200, seed=0)
    assert res["auc_ci"] == metrics.newcombe_auc_interval(1.0, 30, 30)
    assert 0.9 < res["auc_ci"][0] < 0.97 and res["auc_ci"][1] == 1.0
    assert res["auc_ci_method"] == "newcombe" and res["auc_ci_reason"] == DEGENERATE


def test_a_perfectly_reversed_binary_auc_has_an_interval_above_0():
    y, s, _ = _binary(40, reverse=True)
    res = metrics.acc_auc_ci(y, s, "binary-class", n=200, seed=0)
    assert metrics.auc(y, s, "binary-class") == 0.0
    assert res["auc_ci"][0] == 0.0 and 0.03 < res["auc_ci"][1] < 0.1 and res["auc_ci_reason"] == DEGENERATE


def test_a_perfect_auc_of_thirty_patients_a_class_counts_the_patients():
    y, s, groups = _binary(30, images=4)
    res = metrics.acc_auc_ci(y, s, "binary-class", n=200, seed=0, groups=groups)
    assert res["auc_ci"] == metrics.newcombe_auc_interval(1.0, 30, 30)  # not over 120 + 120 images ([0.985, 1])
    assert res["auc_ci_reason"] == DEGENERATE


def test_a_perfect_multi_class_auc_of_many_images_a_class_has_the_score_interval():
    y, s = _multi(3, 20)  # 20 images a class: enough for draws within classes, so no "few units" rule applies
    res = metrics.acc_auc_ci(y, s, "multi-class", n=200, seed=0)
    assert res["auc_ci"] == metrics.macro_auc_score_interval(1.0, [20, 20, 20]) and res["auc_ci"][0] < 0.97
    assert res["auc_ci_method"] == "score" and res["auc_ci_reason"] == DEGENERATE


@pytest.mark.parametrize("task,make", [("binary-class", lambda: _binary(30)[:2]), ("multi-class", lambda: _multi(3, 30))])
def test_each_perfectly_separated_class_has_newcombe_s_interval_not_none(task, make):
    # the draws' point had been dropped, leaving the class no interval at all ([nan, nan])
    y, s = make()
    k = s.shape[1]
    res = metrics.evaluate_scores(y, s, task, {str(i): f"c{i}" for i in range(k)}, bootstrap=100)
    own = len(y) // k
    for c in res["per_class"].values():
        assert c["auc_ci"] == metrics.newcombe_auc_interval(1.0, own, len(y) - own)
        assert c["auc_ci_method"] == "newcombe" and c["auc_ci_reason"] == DEGENERATE
    if task == "binary-class":  # each class's AUC is the task's: one interval
        assert res["auc_ci"] == c["auc_ci"]


def test_an_auc_below_1_over_many_images_keeps_the_bootstrap_s_interval():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 60)
    p = 1 / (1 + np.exp(-(rng.normal(0, 1, 120) + 2.5 * y)))
    s = np.stack([1 - p, p], 1)
    res = metrics.acc_auc_ci(y, s, "binary-class", n=200, seed=0)
    assert 0.9 < metrics.auc(y, s, "binary-class") < 1 and "auc_ci_method" not in res
    assert res["auc_ci"] == metrics.bootstrap_ci(y, s, "binary-class", 200, 0)["auc_ci"]


def test_near_a_perfect_auc_the_interval_holds_it_about_95_percent_of_the_time():
    # 30 + 30 images at a true AUC of 0.995: a fifth to a third of test sets score 1, where the bootstrap's point
    # never holds it (it held the AUC in 78.5% of 200 sets; this rule 100%: docs/results/auc_intervals.md)
    rng = np.random.default_rng(5)
    d = 3.643  # binormal: AUC = Phi(d / sqrt 2) = 0.995

    def split():
        y = np.repeat([0, 1], 30)
        p = 1 / (1 + np.exp(-(rng.normal(0, 1, 60) + d * y)))
        return y, np.stack([1 - p, p], 1)

    held = perfect = 0
    for t in range(80):
        y, s = split()
        res = metrics.acc_auc_ci(y, s, "binary-class", n=100, seed=t)
        perfect += metrics.auc(y, s, "binary-class") == 1.0
        held += res["auc_ci"][0] <= 0.995 <= res["auc_ci"][1]
    assert perfect >= 8 and held >= 75
