"""``eval RUN --vs OTHER`` of two multi-label runs compares each label, not only the mean over labels: +0.016 in the
mean had hidden labels that moved by +0.092, +0.115 and -0.157 (a walk)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from medtrain.versus import per_label, versus_summary


def _scores(y, signal, seed):
    rng = np.random.default_rng(seed)
    return 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.normal(0, 1, y.shape))))


def test_each_label_s_difference_is_its_binary_auc_and_acc_difference():
    rng = np.random.default_rng(0)
    y = (rng.random((120, 3)) < 0.4).astype(int)
    a = _scores(y, np.array([2.0, 0.2, 1.0]), 1)  # the first run better on label A, worse on label B
    b = _scores(y, np.array([0.2, 2.0, 1.0]), 2)
    per = per_label(y, a, b, ["A", "B", "C"], draws=200, groups=None)
    for j, name in enumerate("ABC"):
        auc = per[name]["auc"]
        assert auc["run"] == pytest.approx(roc_auc_score(y[:, j], a[:, j]))
        assert auc["other"] == pytest.approx(roc_auc_score(y[:, j], b[:, j]))
        assert auc["difference"] == pytest.approx(auc["run"] - auc["other"]) and auc["test"] == "DeLong"
        assert per[name]["acc"]["run"] == pytest.approx(((a[:, j] > 0.5) == y[:, j]).mean())
    assert per["A"]["auc"]["difference"] > 0.2 > -0.2 > per["B"]["auc"]["difference"]  # apart, as the mean hides
    assert per["A"]["auc"]["difference_ci"][0] > 0 and per["B"]["auc"]["difference_ci"][1] < 0


def test_a_label_without_positives_is_said_and_the_lines_name_every_label():
    rng = np.random.default_rng(1)
    y = (rng.random((60, 2)) < 0.5).astype(int)
    y[:, 1] = 0
    a, b = _scores(y, np.array([1.5, 1.0]), 3), _scores(y, np.array([0.5, 1.0]), 4)
    per = per_label(y, a, b, ["Effusion", "Nodule"], draws=100, groups=None)
    assert per["Nodule"] == {"undefined": "never positive"}
    res = {"run": "r1", "other": "r2", "split": "test", "n": 60, "patients": None, "bootstrap": 100,
           "same_test_set": "digest", "per_label": per,
           **{m: {"run": 0.7, "other": 0.6, "difference": 0.1, "difference_ci": [0.0, 0.2], "p": None, "test": None}
              for m in ("auc", "acc")}}
    text = versus_summary(res)
    assert "per label (each interval and p its own: of 2 labels, one may leave out 0 by chance):" in text
    assert f"    Effusion: AUC {per['Effusion']['auc']['run']:.4f} vs {per['Effusion']['auc']['other']:.4f}" in text
    assert "    Nodule: AUC undefined (never positive in these images)" in text
    # where they decide: which rule each run's calls come from, then each label's rates
    per["Effusion"]["at_operating_points"] = {"calls_differ": 3, **{k: {"run": 0.8, "other": 0.6, "p": None}
                                                                     for k in ("sensitivity", "specificity")}}
    text = versus_summary({**res, "label_operating_points": {"run": {"rule": "youden"}, "other": None}})
    assert "    (at their operating points: first: youden, a threshold per label; second: none, its calls at 0.5)" in text
    assert "      at their operating points: calls differ on 3 image(s); sensitivity 0.800 vs 0.600" in text


def test_each_label_is_compared_where_the_runs_decide_at_their_own_thresholds():
    # per-label operating points had been ignored by eval --vs (binary runs' were compared)
    from types import SimpleNamespace

    from medtrain.versus import label_calls

    y = np.array([[1, 0], [1, 1], [0, 1], [0, 0], [1, 0], [0, 0]])
    first = SimpleNamespace(decisions=["A", "A;B", "", "B", "", "A"], scores=np.full((6, 2), 0.9))
    second = SimpleNamespace(decisions=None, scores=np.array([[.9, .1], [.2, .8], [.1, .9], [.1, .1], [.9, .1],
                                                               [.1, .1]]))  # no operating point: its calls at 0.5
    at = label_calls(y, ["A", "B"], ({"operating_point": {"rule": "youden"}}, {}), (first, second), grouped=False)
    # A: first calls rows 0, 1, 5; second rows 0, 4. Positives 0, 1, 4: sensitivity 2/3 vs 2/3; negatives 2, 3, 5
    assert at["A"]["sensitivity"]["run"] == pytest.approx(2 / 3) and at["A"]["sensitivity"]["other"] == pytest.approx(2 / 3)
    assert at["A"]["specificity"]["run"] == pytest.approx(2 / 3) and at["A"]["specificity"]["other"] == 1.0
    assert at["A"]["calls_differ"] == 3 and at["A"]["sensitivity"]["test"] == "McNemar exact"
    # B: first calls rows 1, 3; second rows 1, 2. Positives 1, 2
    assert (at["B"]["sensitivity"]["run"], at["B"]["sensitivity"]["other"]) == (0.5, 1.0)
    assert label_calls(y, ["A", "B"], ({}, {}), (first, second), grouped=False) is None  # neither has one
