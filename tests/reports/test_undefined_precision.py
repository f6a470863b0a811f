"""A class the network never predicts has no precision (0/0): ``metrics.json`` and the HTML report must agree
that it is undefined (null, "–"), not record a measured-looking 0.0 that a reader would average or plot."""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from medtrain import metrics
from medtrain._io import write_json
from medtrain.reports.html import run_report

from conftest import HtmlTables

NAMES = {"0": "benign", "1": "malignant", "2": "normal"}


def _never_normal():
    """30 test images, 10 per class; the network calls 'benign' or 'malignant', never 'normal'."""
    y = np.repeat([0, 1, 2], 10)
    pred = np.r_[np.zeros(8, int), np.ones(2, int), np.ones(9, int), np.zeros(1, int), np.arange(10) % 2]
    s = np.full((30, 3), 0.1)
    s[np.arange(30), pred] = 0.8
    return y, s


def _per_class(html: str) -> dict:
    """The per-class table's rows as ``{class: {column: cell text}}``."""
    table = next(t for t in HtmlTables(html).tables if t and t[0][:3] == ["class", "support", "precision"])
    return {r[0]: dict(zip(table[0], r)) for r in table[1:]}

def _report(test: dict) -> str:
    m = {"dataset": "mydata", "model": "resnet18_28", "seed": 0, "task": "multi-class", "history": [],
         "best_epoch": 0, "stop_epoch": 0, "val": {"auc": 0.9, "acc": 0.8}, "test": test}
    return run_report({}, m, {})


def test_a_never_predicted_class_has_no_precision_and_an_f1_of_0_as_sklearn_defines_them():
    y, s = _never_normal()
    pc = metrics.per_class(y, s, "multi-class", NAMES)
    assert pc["normal"]["predicted"] == 0 and pc["normal"]["precision"] is None  # undefined, not 0.0
    assert pc["normal"]["recall"] == 0.0 and pc["normal"]["f1"] == 0.0  # images of it, none called it: F1 is 0
    # the same numbers as sklearn's with zero_division=nan (NaN there is None here), F1 included
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns of the undefined precision it is asked to give as NaN
        p, r, f, _ = precision_recall_fscore_support(y, s.argmax(1), labels=[0, 1, 2], zero_division=np.nan)
    for i, name in NAMES.items():
        got = pc[name]
        want_p = None if math.isnan(p[int(i)]) else pytest.approx(p[int(i)])
        assert (got["precision"], got["recall"], got["f1"]) == (want_p, pytest.approx(r[int(i)]),
                                                                pytest.approx(f[int(i)]))


def test_metrics_json_records_null_and_the_report_a_dash_for_an_undefined_precision(tmp_path):
    y, s = _never_normal()
    test = metrics.evaluate_scores(y, s, "multi-class", NAMES, bootstrap=50)
    test.pop("scores")  # as a run writes it: not into metrics.json
    write_json(tmp_path / "metrics.json", test)

    def refuse(constant):  # a strict reader: NaN or Infinity is not JSON
        raise AssertionError(f"{constant} in metrics.json")

    saved = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"), parse_constant=refuse)
    normal = saved["per_class"]["normal"]
    assert normal["precision"] is None and normal["precision_ci"] == [None, None]
    assert normal["f1"] == 0.0 and normal["recall"] == 0.0
    assert all(isinstance(saved["per_class"][c]["precision"], float) for c in ("benign", "malignant"))

    # the page, from the dict in memory (as a run renders it) and from metrics.json read back, says the same
    for source in (test, saved):
        html = _report(source)
        rows = _per_class(html)
        assert rows["normal"]["precision"] == "–"
        assert rows["normal"]["recall"].startswith("0.000") and rows["normal"]["F1"].startswith("0.000")
        assert rows["benign"]["precision"].startswith(f"{saved['per_class']['benign']['precision']:.3f}")
        assert "A precision shown as – is undefined (null in metrics.json)" in " ".join(html.split())
