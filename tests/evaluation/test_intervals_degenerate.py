"""Bootstrap intervals that mean what they say: a "95% CI" from every resample, within each class, or none.

Two user walkthroughs: a 30-class test split of 60 images printed ``test AUC 0.7006 [0.704, 0.725]`` (the
interval from the 5 of 1000 resamples that held every class), and a test split of one patient printed
``test AUC 1.0000 [1.000, 1.000]`` (a bootstrap over one patient draws that patient every time).
"""
import numpy as np
import pytest

from medtrain import metrics, operating_point
from medtrain.intervals import MIN_DEFINED, Resampler, clustered_wilson

NAMES2 = {"0": "a", "1": "b"}


def _absent(ci) -> bool:
    return len(ci) == 2 and all(np.isnan(ci))


def _many_classes(seed: int, k: int = 30, per: int = 2):
    """The walkthrough's test split: ``k`` classes of ``per`` images each, scores with a little signal."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), per)
    s = rng.dirichlet(np.ones(k), len(y))
    s[np.arange(len(y)), y] += 0.02
    return y, s / s.sum(1, keepdims=True)


# --- problem 1: a multi-class AUC whose resamples miss classes ----------------------------------------------

def test_every_stratified_resample_keeps_each_class_count_and_each_patient_whole():
    y = np.repeat(np.arange(5), [1, 2, 3, 4, 10])
    r = Resampler(len(y), seed=1, strata=y)
    for _ in range(50):
        assert np.array_equal(np.bincount(y[r.draw()], minlength=5), np.bincount(y))
    groups = np.repeat(np.arange(10).astype(str), 2)  # 10 patients of 2 images, one class each
    yg = np.repeat([0, 0, 0, 1, 1, 1, 1, 2, 2, 2], 2)
    r = Resampler(len(yg), groups, seed=1, strata=yg)
    for _ in range(50):
        ix = r.draw()
        assert np.array_equal(np.bincount(yg[ix], minlength=3), np.bincount(yg))
        assert all(np.sum(groups[ix] == g) % 2 == 0 for g in set(groups))  # both images of a drawn patient


def test_a_30_class_auc_interval_brackets_its_auc_and_rests_on_every_resample():
    n = 500
    widths = []
    for seed in range(12):
        y, s = _many_classes(seed)
        res = metrics.evaluate_scores(y, s, "multi-class", {str(i): str(i) for i in range(30)}, bootstrap=n,
                                      seed=seed)
        lo, hi = res["auc_ci"]
        assert lo <= res["auc"] <= hi, (seed, res["auc"], res["auc_ci"])
        assert res["auc_ci_draws"] == n  # every resample holds every class
        widths.append(hi - lo)
    # an interval from a handful of selected draws is as narrow as chance makes it (0.013 to 0.087 had been seen)
    assert min(widths) > 0.6 * np.median(widths)


def test_patients_of_one_class_each_are_resampled_within_their_class():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 6)  # 10 classes, 2 patients of 3 images each
    groups = np.repeat(np.arange(20).astype(str), 3)
    s = rng.dirichlet(np.ones(10), 60)
    s[np.arange(60), y] += 0.1
    res = metrics.bootstrap_ci(y, s, "multi-class", n=300, groups=list(groups))
    assert res["auc_ci_draws"] == 300  # drawn freely, 72% of resamples missed a class
    assert res["auc_ci"][0] <= metrics.auc(y, s, "multi-class") <= res["auc_ci"][1]


def test_an_auc_defined_in_fewer_than_half_the_resamples_has_no_interval_and_says_how_many():
    # multi-label rows are not stratified: two labels with one positive each are both in ~40% of resamples
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (60, 3))
    y[:, 1:] = 0
    y[0, 1] = y[1, 2] = 1
    s = np.clip(y * 0.3 + rng.random((60, 3)) * 0.7, 0, 1)
    boot = metrics.bootstrap_ci(y, s, "multi-label, binary-class", 400)
    assert _absent(boot["auc_ci"]) and 0 < boot["auc_ci_draws"] < MIN_DEFINED * 400
    assert np.isfinite(boot["acc_ci"]).all() and boot["acc_ci_draws"] == 400  # ACC is defined in every resample
    res = metrics.evaluate_scores(y, s, "multi-label, binary-class", {"0": "x", "1": "y", "2": "z"}, bootstrap=400)
    assert np.isfinite(res["auc"])
    # the headline takes the mean of its labels' intervals instead (y and z: one positive each, Newcombe's)
    assert res["auc_ci_method"] == "label-mean" and res["auc_ci"][0] < res["auc"] < res["auc_ci"][1]
    x = res["per_class"]["x"]  # label x has ~30 positives: its own interval stands
    assert x["auc_ci"][0] <= x["auc"] <= x["auc_ci"][1] and x["auc_ci_draws"] == 400


def test_stratifying_leaves_a_usual_binary_interval_nearly_as_it_was():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    p = np.clip(0.3 * y + 0.7 * rng.random(400), 0, 1)
    s = np.stack([1 - p, p], 1)
    strat = metrics.bootstrap_ci(y, s, "binary-class", n=1000)
    free = metrics.bootstrap(y, s, {"acc": lambda a, b: metrics.acc(a, b, "binary-class"),
                                    "auc": lambda a, b: metrics.auc(a, b, "binary-class")}, n=1000, stratify=False)
    for k, est in (("acc", metrics.acc(y, s, "binary-class")), ("auc", metrics.auc(y, s, "binary-class"))):
        assert strat[f"{k}_ci"][0] < est < strat[f"{k}_ci"][1]
        width = strat[f"{k}_ci"][1] - strat[f"{k}_ci"][0]
        assert width == pytest.approx(free[f"{k}_ci"][1] - free[f"{k}_ci"][0], rel=0.15)


# --- problem 2: a bootstrap over one patient ----------------------------------------------------------------

def _one_patient(n: int = 33, right: bool = False):
    y = np.arange(n) % 2
    p = (0.1 + 0.8 * y) if right else (0.4 + 0.05 * y)  # AUC 1; all called negative unless ``right``
    return y, np.stack([1 - p, p], 1), ["A"] * n


def test_one_test_patient_gets_no_interval_not_a_zero_width_one():
    y, s, groups = _one_patient()
    res = metrics.evaluate_scores(y, s, "binary-class", NAMES2, bootstrap=200, groups=groups)
    assert res["patients"] == 1 and res["auc"] == 1.0 and 0 < res["acc"] < 1
    assert _absent(res["auc_ci"]) and _absent(res["acc_ci"])
    assert res["auc_ci_draws"] == res["acc_ci_draws"] == 0 and "acc_ci_method" not in res
    for c in res["per_class"].values():
        for k in metrics.PER_CLASS_CI:
            assert _absent(c[f"{k}_ci"]), (k, c[f"{k}_ci"])


def test_one_patient_all_right_gets_no_wilson_interval_either():
    y, s, groups = _one_patient(right=True)
    res = metrics.evaluate_scores(y, s, "binary-class", NAMES2, bootstrap=200, groups=groups)
    assert res["acc"] == 1.0 and _absent(res["acc_ci"]) and "acc_ci_method" not in res
    assert _absent(clustered_wilson(np.ones(33, bool), groups))
    assert _absent(clustered_wilson(np.arange(33) % 3 == 0, groups))


def test_operating_point_rates_over_one_patient_have_no_interval():
    y, s, groups = _one_patient(right=True)
    op = operating_point.operating_point_report(y, s, 0.5, groups=groups)
    assert op["sensitivity"] == 1.0
    for k in ("sensitivity", "specificity", "ppv", "npv"):
        assert _absent(op[f"{k}_ci"]), k


def test_two_patients_of_one_class_each_cannot_vary_within_their_class():
    # every stratified resample is the two patients themselves: a point, not an interval
    y = np.repeat([0, 1], 10)
    p = np.linspace(0.2, 0.8, 20)
    res = metrics.bootstrap_ci(y, np.stack([1 - p, p], 1), "binary-class", n=100,
                               groups=list(np.repeat(["A", "B"], 10)))
    assert _absent(res["auc_ci"]) and _absent(res["acc_ci"])


def test_two_patients_with_both_classes_still_get_an_interval():
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    p = np.clip(0.3 * y + 0.7 * rng.random(40), 0, 1)
    res = metrics.bootstrap_ci(y, np.stack([1 - p, p], 1), "binary-class", n=200,
                               groups=list(np.repeat(["A", "B"], 20)))
    assert res["auc_ci"][0] < res["auc_ci"][1] and res["auc_ci_draws"] == 200


# --- the run report: an absent interval is absent, and says why ---------------------------------------------

def _report_text(test: dict) -> str:
    import json
    from html.parser import HTMLParser

    from medtrain._io import json_safe
    from medtrain.reports.html import run_report

    test = json.loads(json.dumps(json_safe({k: v for k, v in test.items() if k != "scores"})))  # as metrics.json
    m = {"dataset": "x", "model": "m", "seed": 0, "task": "binary-class", "history": [], "best_epoch": 0,
         "stop_epoch": 0, "val": {"auc": 0.9, "acc": 0.8}, "test": test, "calibration": {}}
    text = []
    parser = HTMLParser()
    parser.handle_data = text.append
    parser.feed(run_report({}, m, {}))
    return " ".join(" ".join(text).split())


def test_the_report_of_one_test_patient_shows_no_brackets_and_says_why():
    y, s, groups = _one_patient()
    text = _report_text(metrics.evaluate_scores(y, s, "binary-class", NAMES2, bootstrap=100, groups=groups))
    assert "[1.000, 1.000]" not in text and "[0.485, 0.485]" not in text and "nan" not in text.lower()
    assert "No intervals: with 1 test patient(s)" in text


def test_the_report_says_why_an_auc_defined_in_too_few_resamples_has_no_interval():
    res = metrics.evaluate_scores(np.repeat([0, 1], 20), np.tile([0.4, 0.6], (40, 1)), "binary-class", NAMES2,
                                  bootstrap=50)
    res.update(auc_ci=[float("nan")] * 2, auc_ci_draws=7)  # as a multi-label or patient-grouped AUC can be
    assert "AUC has no interval: it was defined in only 7 of the resamples" in _report_text(res)


def test_a_cross_validation_report_shows_the_pooled_interval_not_its_draw_count(tmp_path):
    from medtrain.reports.html import write_crossval_report

    pooled = {"oof_auc": 0.84, "oof_auc_ci": [0.81, 0.87], "oof_auc_ci_draws": 1000}
    page = write_crossval_report(tmp_path, {"folds": [{"fold": 0, "test_auc": 0.8}, {"fold": 1, "test_auc": 0.85}],
                                            "pooled": pooled}).read_text()
    assert "[0.810, 0.870]" in page and "ci_draws" not in page


def test_a_network_calling_every_image_one_class_gets_a_wilson_acc_interval_not_a_point():
    """Within-class resampling fixes the class counts, so a one-class predictor has the same ACC in every draw:
    '[0.731, 0.731]' had claimed certainty. ACC is a proportion: Wilson's interval of the hits instead."""
    import numpy as np

    from medtrain.metrics import acc_auc_ci, wilson_interval

    y = np.array([0] * 114 + [1] * 42)
    rng = np.random.default_rng(0)
    p1 = rng.uniform(0.0, 0.4, len(y))  # every image called class 0, the scores still rank
    scores = np.stack([1 - p1, p1], 1)
    res = acc_auc_ci(y, scores, "binary-class", n=200, seed=0)
    assert res["acc_ci_method"] == "wilson" and res["acc_ci"] == wilson_interval(114, 156)
    assert res["acc_ci"][1] - res["acc_ci"][0] > 0.1


def test_a_network_calling_every_image_one_class_gets_wilson_over_patients_of_unequal_size_too():
    """Over patients of unequal size the draws differ a little even for a one-class predictor, so the interval
    was no exact point and stayed: [0.632, 0.712] for 120 of 180 over 49 patients (a cross-validation walk)."""
    import numpy as np

    from medtrain.metrics import acc_auc_ci, clustered_wilson

    rng = np.random.default_rng(1)
    sizes = rng.integers(1, 8, 49)
    groups = np.repeat(np.arange(49), sizes)
    y = np.repeat(rng.random(49) < 0.35, sizes).astype(int)  # one class per patient
    p1 = rng.uniform(0.0, 0.4, len(y))  # every image called class 0
    res = acc_auc_ci(y, np.stack([1 - p1, p1], 1), "binary-class", n=300, seed=0, groups=[str(g) for g in groups])
    assert res["acc_ci_method"] == "wilson"
    assert res["acc_ci"] == clustered_wilson(y == 0, [str(g) for g in groups])
