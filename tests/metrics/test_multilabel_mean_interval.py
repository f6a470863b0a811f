"""A multi-label task's headline intervals: the mean AUC over labels and the mean per-label ACC. Every resample of a
set whose scores separate every label perfectly separates them again, so the bootstrap's "95%" interval of a mean
AUC of 1 was the point [1.000, 1.000] (and of a mean ACC of 1, [1, 1]) beside per-label Newcombe intervals from
0.44 (a user's 37 external images of 26 patients); and with few patients the labels' own intervals were replaced
as too narrow while the mean kept its bootstrap one over the same patients. The mean AUC's interval is there the
mean of the ends of the labels' own intervals (Newcombe's where the per-label table gives it, else its
bootstrap one): conservative, never claiming more than the labels do. Elsewhere the bootstrap's stands."""
from __future__ import annotations

import json

import numpy as np
import pytest

from medtrain import metrics
from medtrain._auc_interval import DEGENERATE_REASON
from medtrain.intervals import newcombe_auc_interval, wilson_interval

ML = "multi-label, binary-class"
LABEL_MEAN = "label-mean"  #: the recorded auc_ci_method (metrics.json, eval JSONs)
NAMES = {"0": "effusion", "1": "mass", "2": "nodule"}


def _labels(n: int, positives: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """``(n, k)`` 0/1 labels, label ``j`` positive for exactly ``positives[j]`` rows, placed at random."""
    rng = np.random.default_rng(seed)
    y = np.zeros((n, len(positives)), int)
    for j, m in enumerate(positives):
        y[rng.permutation(n)[:m], j] = 1
    return y


def _separated(y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Scores that put every positive of every label above every negative of it, and on the right side of 0.5."""
    return np.where(y == 1, 0.8, 0.2) + np.random.default_rng(seed).random(y.shape) * 0.1


def _label_cis(res: dict) -> np.ndarray:
    return np.array([res["per_class"][name]["auc_ci"] for name in NAMES.values()])


@pytest.mark.parametrize("inverted", [False, True], ids=["AUC 1", "AUC 0"])
def test_a_perfect_separation_of_many_images_gives_the_mean_of_the_labels_newcombe_intervals(inverted):
    y = _labels(120, (40, 48, 60))  # every label 40+ images of each side: no label is "few"
    s = _separated(y)
    s = 1 - s if inverted else s
    res = metrics.evaluate_scores(y, s, ML, NAMES, bootstrap=100)
    value = 0.0 if inverted else 1.0
    assert res["auc"] == value and res["acc"] == value
    cis = _label_cis(res)
    want = [newcombe_auc_interval(value, int(y[:, j].sum()), int((1 - y[:, j]).sum())) for j in range(3)]
    assert np.allclose(cis, want)  # each label's own: Newcombe's (the per-label table's)
    assert res["auc_ci"] == pytest.approx(list(np.mean(want, axis=0)))
    lo, hi = res["auc_ci"]
    assert (lo < 1 and hi == 1) if not inverted else (lo == 0 and hi > 0)  # not the point [1, 1] (or [0, 0])
    assert res["auc_ci_method"] == LABEL_MEAN and res["auc_ci_reason"] == DEGENERATE_REASON
    # ACC of 1 (or 0): Wilson's interval of 120 of 120 (0 of 120), as a binary task's ACC takes it
    assert res["acc_ci"] == pytest.approx(wilson_interval(120 * value, 120))
    assert res["acc_ci"] != [value, value]
    assert res["acc_ci_method"] == "wilson"
    assert res["acc_ci_reason"] == ("every image wrong" if inverted else "every image right")


def test_a_perfect_separation_over_patients_counts_the_patients():
    y = np.repeat(_labels(80, (35, 40, 45), seed=1), 2, axis=0)  # 80 patients of 2 images, one label set each
    groups = np.repeat(np.arange(80), 2).astype(str)
    res = metrics.evaluate_scores(y, _separated(y, 1), ML, NAMES, bootstrap=100, groups=groups)
    assert res["auc"] == 1.0 and res["patients"] == 80
    want = np.mean([newcombe_auc_interval(1.0, m, 80 - m) for m in (35, 40, 45)], axis=0)  # patients, not images
    assert res["auc_ci"] == pytest.approx(list(want)) and res["auc_ci"][0] < 1
    assert res["auc_ci"] == pytest.approx(list(_label_cis(res).mean(0)))
    assert res["auc_ci_method"] == LABEL_MEAN and res["auc_ci_reason"] == DEGENERATE_REASON
    # every image right: each patient counts once (clustered Wilson's effective size), the 80 patients
    assert res["acc_ci"] == pytest.approx(wilson_interval(80, 80)) and res["acc_ci"][0] < 1
    assert res["acc_ci_method"] == "wilson" and res["acc_ci_reason"] == "every image right"


def test_the_function_level_call_of_the_walk_gives_intervals_below_one():
    """The walk's reproduction (as cross-validation calls it, with no per-label intervals at hand)."""
    r = np.random.default_rng(0)
    y = (r.random((120, 3)) < .4).astype(int)
    s = np.where(y == 1, .9, .1) + r.random((120, 3)) * .05
    res = metrics.acc_auc_ci(y, s, ML, 200, 0, np.repeat(np.arange(60), 2).astype(str))
    assert res["auc_ci"][0] < 1 and res["acc_ci"][0] < 1
    assert res["auc_ci_method"] == LABEL_MEAN and res["acc_ci_method"] == "wilson"


def test_few_patients_of_a_label_side_replace_the_mean_s_bootstrap_interval():
    rng = np.random.default_rng(4)
    patient = (rng.random((16, 3)) < [0.5, 0.4, 0.3]).astype(int)
    patient[0], patient[1] = 1, 0  # every label positive and negative
    y = np.repeat(patient, 3, axis=0)  # 16 patients of 3 images (the walk's run had 16 test patients)
    groups = np.repeat(np.arange(16), 3).astype(str)
    s = np.clip(0.35 * y + 0.65 * rng.random(y.shape), 0, 1)
    res = metrics.evaluate_scores(y, s, ML, NAMES, bootstrap=200, groups=groups)
    assert res["auc"] < 0.99  # no perfect separation: the few patients, not a point at 1, replace the interval
    boot = metrics.bootstrap_ci(y, s, ML, 200, groups=groups)
    assert res["auc_ci"] != boot["auc_ci"]  # the bootstrap over the 16 patients: not kept
    for name in NAMES.values():  # every label has fewer than 30 patients of a side: Newcombe's over them
        assert res["per_class"][name]["auc_ci_reason"] == "few patients of a class"
    assert res["auc_ci"] == pytest.approx(list(_label_cis(res).mean(0)))
    assert res["auc_ci_method"] == LABEL_MEAN and res["auc_ci_reason"] == "few patients of a class"
    lo, hi = res["auc_ci"]
    assert lo < res["auc"] < hi
    # cross-validation's call, without the per-label table: the same interval from the same draws
    alone = metrics.acc_auc_ci(y, s, ML, 200, 0, groups)
    assert alone["auc_ci"] == pytest.approx(res["auc_ci"]) and alone["auc_ci_method"] == LABEL_MEAN


def test_a_rare_label_mixes_its_newcombe_interval_with_the_others_bootstrap_ones():
    rng = np.random.default_rng(5)
    y = _labels(200, (10, 90, 80), seed=5)  # label 0: 10 positives, the others many of each side
    s = np.clip(0.4 * y + 0.6 * rng.random(y.shape), 0, 1)
    res = metrics.evaluate_scores(y, s, ML, NAMES, bootstrap=200)
    rare, common = res["per_class"]["effusion"], res["per_class"]["mass"]
    assert rare["auc_ci_method"] == "newcombe" and "auc_ci_method" not in common  # bootstrap's for 90 + 110
    assert res["auc_ci"] == pytest.approx(list(_label_cis(res).mean(0)))
    assert res["auc_ci_method"] == LABEL_MEAN and res["auc_ci_reason"] == "few images of a class"


def test_many_images_of_every_label_side_and_an_auc_below_one_keep_the_bootstrap_interval_exactly():
    rng = np.random.default_rng(6)
    y = _labels(300, (90, 120, 150), seed=6)
    s = np.clip(0.4 * y + 0.6 * rng.random(y.shape), 0, 1)
    res = metrics.acc_auc_ci(y, s, ML, 200, 0)
    boot = metrics.bootstrap_ci(y, s, ML, 200, 0)
    assert metrics.auc(y, s, ML) < 0.99 and metrics.acc(y, s, ML) < 0.99  # neither rule of a perfect score applies
    assert res["auc_ci"][1] - res["auc_ci"][0] > 0.02  # the bootstrap's interval, not a point
    assert res == boot  # no method, no reason: the bootstrap's, as it was
    full = metrics.evaluate_scores(y, s, ML, NAMES, bootstrap=200)
    assert full["auc_ci"] == boot["auc_ci"] and "auc_ci_method" not in full


def test_an_undefined_label_leaves_the_mean_undefined_and_its_interval_alone():
    """metrics.auc does not leave a label out: one never positive makes the mean NaN, and no interval is made."""
    y = _labels(120, (40, 48, 0))
    res = metrics.evaluate_scores(y, _separated(y), ML, NAMES, bootstrap=50)
    assert np.isnan(res["auc"]) and "auc_ci_method" not in res


# --- through the command ------------------------------------------------------------------------------------

def test_eval_of_a_perfectly_separated_multilabel_set_prints_an_interval_not_a_point(tmp_path, capsys):
    import multilabel_op_data as data
    from conftest import read_rows, run_cli
    from medtrain.external import external_file, external_predictions_file

    run = data.train_run(tmp_path, data.arrays(0), rule="none", bootstrap=50)
    x, y = data.make_split(80, 21)
    np.savez(pool := tmp_path / "pool.npz", test_images=x, test_labels=y)
    code, _, err = run_cli(capsys, "eval", run, "--data", pool)
    assert code == 0, err
    rows = read_rows(run / external_predictions_file(pool))
    s = np.array([[float(r[k]) for k in ("0", "1", "2")] for r in rows])
    keep = np.ones(len(y), bool)  # the images the run separates perfectly, label by label, at a cut of each
    for j in range(3):
        sides = [(s[:, j] >= c) == (y[:, j] == 1) for c in np.unique(s[:, j])]
        keep &= max(sides, key=lambda right: int((right & keep).sum()))
    assert (y[keep].sum(0) > 0).all() and ((1 - y[keep]).sum(0) > 0).all()
    np.savez(perfect := tmp_path / "perfect.npz", test_images=x[keep], test_labels=y[keep])
    code, out, err = run_cli(capsys, "eval", run, "--data", perfect)
    assert code == 0, err
    got = json.loads((run / external_file(perfect)).read_text())
    assert got["auc"] == 1.0 and got["auc_ci"][0] < 1 and got["auc_ci_method"] == LABEL_MEAN
    line = out.splitlines()[0]
    assert "AUC 1.0000 [1.000, 1.000]" not in line
    assert f"AUC 1.0000 [{got['auc_ci'][0]:.3f}, 1.000]" in line
    assert "AUC's is the mean of the ends of the labels' own intervals" in line
