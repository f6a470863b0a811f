"""A Wilson interval of 0 hits starts at exactly 0, one of all hits ends at exactly 1: metrics.json of a 14-label
run had recorded recall intervals starting at 6.25e-18 and 2.1e-17 (the formula's floating error) for labels the
network never called. Fixed where the interval is computed (intervals.wilson_interval), for every caller."""
from __future__ import annotations

import json

import numpy as np

from medtrain import metrics
from medtrain._io import write_json
from medtrain.intervals import wilson_interval

ML = "multi-label, binary-class"


def test_a_label_never_called_has_a_recall_interval_from_exactly_0(tmp_path):
    assert wilson_interval(0, 35)[0] == 0.0  # the formula alone gives 6.25e-18
    assert wilson_interval(0, 35.5)[0] == 0.0  # an effective size (patients)
    rng = np.random.default_rng(0)
    y = np.zeros((300, 3), int)
    y[:35, 0] = 1  # 35 positives, never called
    y[:, 1] = rng.random(300) < 0.5
    y[:, 2] = rng.random(300) < 0.5
    s = np.where(y == 1, 0.7, 0.2) + 0.05 * rng.random((300, 3))
    s[:, 0] = 0.1 + 0.3 * rng.random(300)  # never above 0.5
    res = metrics.evaluate_scores(y, s, ML, {"0": "never", "1": "b", "2": "c"}, bootstrap=100)
    never = res["per_class"]["never"]
    assert never["recall"] == 0.0 and never["recall_ci_method"] == "wilson"
    assert never["recall_ci"][0] == 0.0 and never["recall_ci"][1] > 0.05
    out = dict(res)
    out.pop("scores")
    write_json(tmp_path / "m.json", out)
    assert json.loads((tmp_path / "m.json").read_text())["per_class"]["never"]["recall_ci"][0] == 0.0


def test_every_image_right_has_an_acc_interval_to_exactly_1_and_every_image_wrong_from_exactly_0():
    assert wilson_interval(25, 25)[1] == 1.0  # the formula alone gives 0.9999999999999998
    for n in (25, 35):  # 25 of 25 ends at 0.9999999999999998, 0 of 35 starts at 6.25e-18
        yy, ss = np.arange(n) % 2, np.stack([1 - np.arange(n) % 2, np.arange(n) % 2], 1) * 0.8 + 0.1
        res = metrics.acc_auc_ci(yy, ss, "binary-class", 100, 0)
        assert res["acc_ci_reason"] == "every image right" and res["acc_ci"][1] == 1.0 and res["acc_ci"][0] < 1
        res = metrics.acc_auc_ci(yy, ss[:, ::-1], "binary-class", 100, 0)
        assert res["acc_ci_reason"] == "every image wrong" and res["acc_ci"][0] == 0.0 and res["acc_ci"][1] > 0
