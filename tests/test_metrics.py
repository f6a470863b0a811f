"""Our metrics must equal the MedMNIST evaluator's, so results compare with the paper's tables."""
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score
from medmnist.evaluator import getACC, getAUC

from medtrain import metrics

rng = np.random.default_rng(0)


def _case(task, n=200, k=4):
    if task == "binary-class":
        y = rng.integers(0, 2, (n, 1))
        s = rng.random((n, 2))
        s /= s.sum(1, keepdims=True)
    elif task == "multi-label, binary-class":
        y = rng.integers(0, 2, (n, k))
        s = rng.random((n, k))
    else:
        y = rng.integers(0, k, (n, 1))
        s = rng.random((n, k))
        s /= s.sum(1, keepdims=True)
    return y, s


@pytest.mark.parametrize("task", ["binary-class", "multi-class", "ordinal-regression", "multi-label, binary-class"])
def test_acc_and_auc_equal_medmnist_evaluator(task):
    y, s = _case(task)
    yt = y[:, 0] if y.shape[1] == 1 else y
    assert metrics.auc(yt, s, task) == pytest.approx(getAUC(y, s, task), abs=1e-12)
    assert metrics.acc(yt, s, task) == pytest.approx(getACC(y, s, task), abs=1e-12)


def test_bootstrap_interval_brackets_the_estimate():
    y, s = _case("binary-class", n=400)
    s[:, 1] = 0.3 * y[:, 0] + 0.7 * s[:, 1]  # overlapping classes: an AUC below 1 that a draw can move
    res = metrics.evaluate_scores(y[:, 0], s, "binary-class", {"0": "a", "1": "b"}, bootstrap=200)
    assert 0.8 < res["auc"] < 1
    assert res["acc_ci"][0] <= res["acc"] <= res["acc_ci"][1]
    assert res["auc_ci"][0] <= res["auc"] <= res["auc_ci"][1]
    assert res["auc_ci"][1] - res["auc_ci"][0] > 0


def test_confusion_matrix_rows_are_true_classes():
    y = np.array([0, 0, 1, 2, 2, 2])
    s = np.eye(3)[[0, 1, 1, 2, 2, 0]]
    cm = metrics.confusion(y, s, "multi-class")
    assert cm == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    pc = metrics.per_class(y, s, "multi-class", {"0": "a", "1": "b", "2": "c"})
    assert pc["c"]["recall"] == pytest.approx(2 / 3) and pc["b"]["precision"] == pytest.approx(0.5)


def _three_class(n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    s = rng.random((n, 3))
    s[np.arange(n), y] += 0.6
    return y, s / s.sum(1, keepdims=True)


def test_rank_auc_is_sklearns_auc_ties_included():
    y, s = _three_class(300)
    s = np.round(s, 1)  # many ties
    member = (y[:, None] == np.arange(3)).astype(int)
    want = [roc_auc_score(member[:, i], s[:, i]) for i in range(3)]
    np.testing.assert_allclose(metrics._rank_auc(member, s), want, rtol=1e-12)


def test_per_class_cis_bracket_the_estimate_and_shrink_with_more_images():
    names = {"0": "a", "1": "b", "2": "c"}
    widths = []
    for n in (150, 2400):
        y, s = _three_class(n, seed=n)
        point = metrics.per_class(y, s, "multi-class", names)
        cis = metrics.per_class_ci(y, s, "multi-class", names, n=300, seed=0)
        for name in ("a", "b", "c"):
            for k in metrics.PER_CLASS_CI:
                lo, hi = cis[name][k + "_ci"]
                assert lo <= point[name][k] <= hi, (n, name, k)
        widths.append(np.mean([cis[c]["recall_ci"][1] - cis[c]["recall_ci"][0] for c in ("a", "b", "c")]))
    assert widths[1] < widths[0] / 2  # 16x the images: about a quarter of the width


def test_per_class_ci_of_an_undefined_statistic_is_nan_not_zero():
    """A class the model never predicts has no precision; its interval must not read [0, 0]. Its recall of 0
    of 20, the same in every draw, is Wilson's interval, not the point [0, 0] (as ACC's is)."""
    y = np.array([0, 1] * 20)
    s = np.tile([0.9, 0.1], (40, 1))  # always class 0
    cis = metrics.per_class_ci(y, s, "binary-class", {"0": "neg", "1": "pos"}, n=50)
    assert all(np.isnan(cis["pos"]["precision_ci"]))
    assert cis["pos"]["recall_ci"] == metrics.wilson_interval(0, 20) and cis["pos"]["recall_ci_method"] == "wilson"
    assert cis["neg"]["recall_ci"] == metrics.wilson_interval(20, 20)


def test_evaluate_scores_gives_per_class_cis_only_with_bootstrap():
    y, s = _three_class(120)
    names = {"0": "a", "1": "b", "2": "c"}
    with_ci = metrics.evaluate_scores(y, s, "multi-class", names, bootstrap=100)["per_class"]["b"]
    assert set(with_ci) >= {"precision_ci", "recall_ci", "f1_ci", "auc_ci"}
    assert "auc_ci" not in metrics.evaluate_scores(y, s, "multi-class", names, bootstrap=0)["per_class"]["b"]


def _cases():
    rng = np.random.default_rng(1)
    n = 120
    s2, s5 = np.round(rng.random((n, 2)), 2), rng.dirichlet(np.ones(5), n)  # rounded: tied scores
    nan = rng.random((n, 2))
    nan[0, 1] = np.nan  # a draw holding image 0 has an undefined AUC, the others do not
    return [
        ("binary-class", rng.integers(0, 2, n), s2),
        ("binary-class", rng.integers(0, 2, (n, 1)), s2[:, 1]),
        ("binary-class", np.r_[np.zeros(40, int), np.ones(2, int)], s2[:42]),  # draws without a positive
        ("binary-class", rng.integers(0, 2, n), nan),
        ("multi-class", rng.integers(0, 5, n), s5),
        ("ordinal-regression", rng.integers(0, 5, 30), s5[:30]),  # small: classes absent from draws
        ("multi-label, binary-class", rng.integers(0, 2, (n, 3)), np.round(rng.random((n, 3)), 1)),
    ]


def _sklearn_auc(y, s, task):
    """MedMNIST's AUC with sklearn's roc_auc_score, NaN where a column has one class or a non-finite score."""
    def one(t, c):
        return roc_auc_score(t, c) if len(np.unique(t)) == 2 and np.isfinite(c).all() else np.nan
    y, s = np.asarray(y), np.asarray(s)
    if task == "multi-label, binary-class":
        return np.mean([one(y[:, i], s[:, i]) for i in range(s.shape[1])])
    if task == "binary-class":
        return one(y.reshape(-1), s[:, -1] if s.ndim == 2 else s)
    return np.mean([one(y.reshape(-1) == i, s[:, i]) for i in range(s.shape[1])])


def _sklearn_acc(y, s, task):
    pred = metrics.predictions(s, task)
    y = np.asarray(y)
    if task == "multi-label, binary-class":
        return np.mean([accuracy_score(y[:, i], pred[:, i]) for i in range(y.shape[1])])
    return accuracy_score(y.reshape(-1), pred)


@pytest.mark.parametrize("task,y,s", _cases())
def test_acc_and_auc_are_sklearn_s_numbers_on_every_task_with_ties_nans_and_missing_classes(task, y, s):
    assert metrics.acc(y, s, task) == pytest.approx(_sklearn_acc(y, s, task), abs=1e-12)
    assert metrics.auc(y, s, task) == pytest.approx(_sklearn_auc(y, s, task), abs=1e-12, nan_ok=True)


@pytest.mark.parametrize("task,y,s", _cases())
def test_the_bootstrap_cis_are_those_of_resampling_sklearn_s_acc_and_auc(task, y, s):
    """ACC and AUC are computed without sklearn (1,000 draws in a fraction of a second); each CI must be the one
    that resampling sklearn's accuracy and AUC gives: the same draws, undefined ones left out the same way.
    An interval is given exactly where its statistic was defined in at least half the draws (the NaN score:
    an image in about 63% of draws, so no AUC interval, as there is no AUC)."""
    slow = metrics.bootstrap(y, s, {"acc": lambda a, b: _sklearn_acc(a, b, task),
                                    "auc": lambda a, b: _sklearn_auc(a, b, task)}, n=150, seed=3)
    fast = metrics.bootstrap_ci(y, s, task, n=150, seed=3)
    assert fast.keys() == slow.keys() == {"acc_ci", "auc_ci", "acc_ci_draws", "auc_ci_draws"}
    for k in fast:
        assert np.allclose(fast[k], slow[k], atol=1e-12, equal_nan=True), (k, fast[k], slow[k])
    for k in ("acc", "auc"):
        assert np.isfinite(fast[k + "_ci"]).all() == (fast[k + "_ci_draws"] >= 75)
    assert np.isfinite(fast["auc_ci"]).all() == np.isfinite(metrics.auc(y, s, task))


def test_patient_bootstrap_does_not_count_copies_of_a_patient_as_evidence():
    # four images of each patient that say the same thing are one patient's worth of evidence: resampling
    # images singly had made the "95%" intervals half as wide (64-69% coverage in a simulation)
    from medtrain.metrics import bootstrap_ci

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40)
    s = np.clip(y * 0.3 + rng.random(40) * 0.7, 0, 1)
    scores = np.stack([1 - s, s], 1)
    once = bootstrap_ci(y, scores, "binary-class", n=2000)
    y4, s4, groups = np.repeat(y, 4), np.repeat(scores, 4, axis=0), np.repeat(np.arange(40).astype(str), 4)
    by_image = bootstrap_ci(y4, s4, "binary-class", n=2000)
    by_patient = bootstrap_ci(y4, s4, "binary-class", n=2000, groups=list(groups))
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    for k in ("acc_ci", "auc_ci"):
        assert width(by_patient[k]) == pytest.approx(width(once[k]), rel=0.15)
        assert width(by_image[k]) < 0.7 * width(once[k])
    # without repeats the groups change nothing: the same draws as per image
    assert bootstrap_ci(y, scores, "binary-class", n=200, groups=list(map(str, range(40)))) == \
        bootstrap_ci(y, scores, "binary-class", n=200)


def test_operating_point_intervals_use_the_patients_effective_size():
    from medtrain.metrics import wilson_interval
    from medtrain.operating_point import operating_point_report

    y = np.array([1] * 20 + [0] * 20)
    s = np.array([0.9] * 15 + [0.1] * 5 + [0.1] * 20)  # sensitivity 15/20
    scores = np.stack([1 - s, s], 1)
    plain = operating_point_report(y, scores, 0.5)
    assert plain["sensitivity_ci"] == pytest.approx(wilson_interval(15, 20), abs=1e-9)
    # the same 40 outcomes, each patient seen 3 times: 20 positive patients, not 60 positive images
    y3, s3, g = np.repeat(y, 3), np.repeat(scores, 3, axis=0), list(np.repeat(np.arange(40).astype(str), 3))
    grouped = operating_point_report(y3, s3, 0.5, groups=g)
    assert grouped["patients"] == 40 and grouped["sensitivity"] == 0.75
    assert grouped["sensitivity_ci"] == pytest.approx(wilson_interval(0.75 * 19, 19), abs=1e-9)  # n_eff = G - 1
    assert grouped["specificity_ci"] == pytest.approx(wilson_interval(20, 20), abs=1e-9)  # all hits: n_eff = G
    by_image = operating_point_report(y3, s3, 0.5)
    assert by_image["sensitivity_ci"][0] > grouped["sensitivity_ci"][0] + 0.05


def test_a_perfect_test_split_gets_an_honest_accuracy_interval_not_a_point():
    # every resample of 24 right answers is right: the bootstrap's "95% CI" was [1.000, 1.000]
    from medtrain.metrics import evaluate_scores

    y = np.array([0] * 12 + [1] * 12)
    scores = np.stack([1 - y * 0.8 - 0.1, y * 0.8 + 0.1], 1)
    res = evaluate_scores(y, scores, "binary-class", {"0": "a", "1": "b"}, bootstrap=200)
    assert res["acc"] == 1.0 and res["acc_ci_method"] == "wilson"
    assert res["acc_ci"][0] == pytest.approx(0.862, abs=0.001) and res["acc_ci"][1] == 1.0
    one_wrong = y.copy()
    one_wrong[0] = 1
    imperfect = evaluate_scores(one_wrong, scores, "binary-class", {"0": "a", "1": "b"}, bootstrap=200)
    assert imperfect["acc"] < 1 and "acc_ci_method" not in imperfect  # otherwise the bootstrap's


def test_pooled_intervals_of_an_all_right_set_of_patients_are_wilson_over_patients():
    # cross-validation pooled its out-of-fold predictions through the bootstrap alone: [1.000, 1.000]
    from medtrain.metrics import acc_auc_ci, wilson_interval

    y = np.repeat(np.array([0, 1] * 30), 3)
    scores = np.stack([1 - (y * 0.8 + 0.1), y * 0.8 + 0.1], 1)
    groups = list(np.repeat(np.arange(60).astype(str), 3))
    res = acc_auc_ci(y, scores, "binary-class", 200, 0, groups)
    assert res["acc_ci_method"] == "wilson" and res["acc_ci"] == pytest.approx(wilson_interval(60, 60))


def test_a_class_never_called_gets_no_point_interval_and_its_wilson_ones_say_why():
    """A network calling every image one class: every draw gives the same per-class recall, precision and F1, and
    the report had shown '0.845 [0.845, 0.845]' on a 44-image class, as if certain (regression walk)."""
    import numpy as np

    from medtrain.metrics import per_class_ci

    y = np.array([0] * 44 + [1] * 112)
    p1 = np.random.default_rng(0).uniform(0.6, 1.0, len(y))  # every image called class 1
    cis = per_class_ci(y, np.stack([1 - p1, p1], 1), "binary-class", {"0": "a", "1": "b"}, n=200)
    for name, why in (("a", "every draw gave one value"), ("b", "every image called one class")):
        c = cis[name]
        assert c["recall_ci_method"] == "wilson" and c["recall_ci_reason"] == why
        assert np.isnan(c["f1_ci"]).all() or c["f1_ci"][0] < c["f1_ci"][1]
    assert np.isnan(cis["b"]["f1_ci"]).all()  # F1 0.836 in every draw: no interval, not [0.836, 0.836]


def test_a_class_called_for_every_image_over_patients_gets_wilson_precision_as_acc_does():
    """Over patients of unequal size a one-class network's draws vary a little: its class's precision (which is
    the ACC) had read [0.439, 0.581] beside ACC's clustered Wilson [0.339, 0.679] on one page (regression walk)."""
    import numpy as np

    from medtrain.metrics import ONE_CLASS, acc_auc_ci, per_class_ci

    rng = np.random.default_rng(2)
    sizes = rng.integers(1, 6, 36)
    groups = [str(g) for g in np.repeat(np.arange(36), sizes)]
    y = np.repeat(rng.random(36) < 0.5, sizes).astype(int)
    p1 = rng.uniform(0.6, 1.0, len(y))  # every image called class 1
    scores = np.stack([1 - p1, p1], 1)
    cis = per_class_ci(y, scores, "binary-class", {"0": "a", "1": "b"}, n=200, groups=groups)
    acc = acc_auc_ci(y, scores, "binary-class", n=200, seed=0, groups=groups)
    assert acc["acc_ci_reason"] == ONE_CLASS
    assert cis["b"]["precision_ci"] == acc["acc_ci"] and cis["b"]["precision_ci_reason"] == ONE_CLASS
    assert np.isnan(cis["b"]["f1_ci"]).all()
