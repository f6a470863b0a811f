"""An AUC interval over few patients of many images each counts the patients, not the images: a binary test split
of 120 images from 8 patients that separated them perfectly had printed AUC 1.000 [1.000, 1.000], a "95%"
interval claiming certainty from 4 + 4 patients (the cluster bootstrap of a perfectly separated set is a point)."""
import numpy as np

from conftest import few_patients_scores
from medtrain import metrics

NAMES2 = {"0": "benign", "1": "malignant"}


def _separated(patients_per_class: int, images: int, seed: int = 0):
    """A binary test split of ``patients_per_class`` patients of each class, ``images`` images each, every
    positive image scored above every negative one."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.repeat([0, 1], patients_per_class), images)
    groups = [f"p{i // images}" for i in range(len(y))]
    p1 = np.where(y == 1, rng.uniform(0.6, 1, len(y)), rng.uniform(0, 0.4, len(y)))
    return y, np.stack([1 - p1, p1], 1), groups


def test_a_perfect_auc_from_four_patients_a_class_has_an_interval_well_below_1():
    y, s, groups = _separated(4, 15)
    res = metrics.acc_auc_ci(y, s, "binary-class", n=300, seed=0, groups=groups)
    assert metrics.auc(y, s, "binary-class") == 1.0
    lo, hi = res["auc_ci"]
    assert hi == 1.0 and lo < 0.75  # not the point [1, 1], nor Newcombe's over 60 + 60 images ([0.968, 1])
    assert res["auc_ci"] == metrics.newcombe_auc_interval(1.0, 4, 4)
    assert res["auc_ci_method"] == "newcombe" and res["auc_ci_reason"] == "few patients of a class"


def test_the_headline_and_per_class_auc_intervals_of_a_patient_split_are_one_interval():
    y, s, groups = _separated(4, 15)
    res = metrics.evaluate_scores(y, s, "binary-class", NAMES2, bootstrap=100, groups=groups)
    assert res["patients"] == 8 and res["auc_ci"][0] < 0.75
    for c in res["per_class"].values():  # each class's AUC is the task's: no point, no second interval
        assert c["auc_ci"] == res["auc_ci"] and c["auc_ci_method"] == "newcombe"


def test_patients_of_both_classes_count_once_on_each_side():
    # 10 patients, each with 3 positive and 3 negative images: 10 units of each class, not 30 images
    y = np.tile(np.repeat([1, 0], 3), 10)
    groups = np.repeat(np.arange(10), 6).astype(str)
    assert metrics.few_for_auc(y, "binary-class", groups) == (10, 10)
    assert metrics.few_for_auc(y, "binary-class") is None  # as independent images: 30 a class, not few
    own, rest = metrics.class_units(np.concatenate([y, [2, 2]]), 3, np.concatenate([groups, ["x", "y"]]))
    assert own.tolist() == [10, 10, 2] and rest.tolist() == [12, 12, 10]


def test_the_auc_interval_of_few_patients_holds_the_auc_95_percent_of_the_time():
    # 4 + 4 patients of 15 images, a patient effect (SD 1) and image noise (SD 0.7), true AUC about 0.99: a
    # third of such test splits score 1; the patient bootstrap held the AUC in 41% of them (a point at 1)
    rng = np.random.default_rng(0)

    def split(p):
        lab = np.repeat([0, 1], p)
        z = np.repeat(4.0 * lab + rng.normal(0, 1, 2 * p), 15) + rng.normal(0, 0.7, 30 * p)
        q = 1 / (1 + np.exp(-z))
        return np.repeat(lab, 15), np.stack([1 - q, q], 1), np.repeat(np.arange(2 * p), 15).astype(str)

    truth = float(np.mean([metrics.auc(*split(200)[:2], "binary-class") for _ in range(5)]))
    held = 0
    for t in range(100):
        y, s, groups = split(4)
        # 5 draws: Newcombe's whatever the draws; the bootstrap's own, were it kept, holds less with fewer
        res = metrics.acc_auc_ci(y, s, "binary-class", n=5, seed=t, groups=groups)
        held += res["auc_ci"][0] <= truth <= res["auc_ci"][1]
    assert held >= 93


def test_a_perfect_multi_class_auc_from_three_patients_a_class_has_an_interval_well_below_1():
    y = np.repeat(np.arange(3), 30)
    groups = [f"q{i // 10}" for i in range(90)]  # 3 patients of 10 images a class
    s = np.full((90, 3), 0.1)
    s[np.arange(90), y] = 0.8
    res = metrics.acc_auc_ci(y, s, "multi-class", n=300, seed=0, groups=groups)
    assert metrics.auc(y, s, "multi-class") == 1.0
    assert res["auc_ci"] == metrics.macro_auc_score_interval(1.0, [3, 3, 3]) and res["auc_ci"][0] < 0.8
    assert res["auc_ci_method"] == "score" and res["auc_ci_reason"] == "few units per class"
    # over the 90 images as if independent it would read [0.968, 1]
    assert metrics.macro_auc_score_interval(1.0, [30, 30, 30])[0] > 0.95


def test_a_multi_class_auc_below_1_over_few_patients_is_the_score_interval_over_patients_too():
    y, groups, s = few_patients_scores()  # 4 patients of 8 images a class
    a = metrics.auc(y, s, "multi-class")
    res = metrics.acc_auc_ci(y, s, "multi-class", n=100, seed=0, groups=groups)
    assert 0 < a < 1 and res["auc_ci_method"] == "score"
    assert res["auc_ci"] == metrics.macro_auc_score_interval(a, [4, 4, 4, 4])
