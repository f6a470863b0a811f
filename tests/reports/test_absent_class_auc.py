"""Data in which a class has no image (external data without a rare class; a multi-label label never positive):
the AUC over every class is undefined, and what is printed, recorded and shown says which class and why, with
the mean over the classes where it is defined labelled as such. ``medtrain eval`` of an 8-class run on data
without 'lymphoma' had printed ``AUC nan ... (95% CIs: ...; no AUC interval: the resamples cannot differ)``,
and metrics.json a recall of 0.0 beside a support of 0 for it."""
from __future__ import annotations

import html as markup
import json

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from medtrain import metrics
from medtrain._io import write_json
from medtrain.reports.html import run_report
from medtrain.reports.summary import auc_acc_line

from conftest import HtmlTables

CLASSES = ["normal", "benign", "cyst", "lymphoma"]
NAMES = {str(i): c for i, c in enumerate(CLASSES)}
ML = "multi-label, binary-class"


def _without_lymphoma(n: int = 90, seed: int = 0):
    """Multi-class data of 4 classes with no 'lymphoma' image; scores with some signal."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    s = rng.dirichlet(np.ones(4), n)
    s[np.arange(n), y] += 0.5
    s[:, 3] *= 0.2  # never the arg-max: never called either
    return y, s / s.sum(1, keepdims=True)


def _label_never_positive(n: int = 120, seed: int = 1):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 3)) < [0.4, 0.3, 0.0]).astype(int)
    s = np.clip(0.4 * y + 0.6 * rng.random((n, 3)), 0, 1)
    return y, s


def _saved(res: dict, tmp_path) -> dict:
    res = dict(res)
    res.pop("scores")
    write_json(tmp_path / "eval.json", res)
    return json.loads((tmp_path / "eval.json").read_text(encoding="utf-8"))


def test_a_class_with_no_image_has_no_recall_and_the_auc_names_it_with_the_mean_over_the_rest(tmp_path):
    y, s = _without_lymphoma()
    res = metrics.evaluate_scores(y, s, "multi-class", NAMES, bootstrap=200)
    assert np.isnan(res["auc"])  # MedMNIST's mean over every class: undefined, and kept so
    lymph = res["per_class"]["lymphoma"]
    assert lymph["support"] == 0 and lymph["recall"] is None and np.isnan(lymph["auc"])  # not 0.0
    u = res["auc_undefined"]
    assert u["no_positive"] == ["lymphoma"] and u["unit"] == "class" and u["rest"] == 3
    want = np.mean([roc_auc_score(y == c, s[:, c]) for c in range(3)])
    assert u["mean_over_rest"] == pytest.approx(want)
    # balanced ACC over the classes the data hold, as sklearn's (it leaves out a class absent from y_true)
    assert res["balanced_acc"] == pytest.approx(balanced_accuracy_score(y, s.argmax(1)))
    for source in (res, _saved(res, tmp_path)):  # in memory, and as eval_*.json holds it
        line = auc_acc_line(source)
        assert line.startswith(f"AUC undefined (no 'lymphoma' image in these data; mean over the 3 other classes "
                               f"{want:.4f})  ACC ")
        assert "nan" not in line.lower() and "cannot differ" not in line and "(95% bootstrap CIs)" in line
    saved = _saved(res, tmp_path)
    # never called either: F1 = 2TP / (2TP + FP + FN) is 0/0 (a class called but absent would have F1 0)
    assert saved["per_class"]["lymphoma"]["recall"] is None and saved["per_class"]["lymphoma"]["f1"] is None


def test_a_label_never_positive_is_named_and_the_mean_over_the_other_labels_given():
    y, s = _label_never_positive()
    res = metrics.evaluate_scores(y, s, ML, {"0": "Effusion", "1": "Mass", "2": "Hernia"}, bootstrap=100)
    hernia = res["per_class"]["Hernia"]
    assert hernia["support"] == 0 and hernia["recall"] is None
    want = np.mean([roc_auc_score(y[:, j], s[:, j]) for j in range(2)])
    line = auc_acc_line(res)
    assert line.startswith(f"AUC undefined (label 'Hernia' never positive in these data; mean over the 2 other "
                           f"labels {want:.4f})")
    assert "cannot differ" not in line
    # a label positive in every image is as undefined, and said so
    y2 = y.copy()
    y2[:, 2] = 1
    text = auc_acc_line(metrics.evaluate_scores(y2, s, ML, {"0": "a", "1": "b", "2": "c"}, bootstrap=0))
    assert "label 'c' positive in every image of these data" in text and "(no CIs: the run was trained with --bootstrap 0)" in text


def test_data_with_every_class_record_nothing_of_it_and_print_as_before():
    rng = np.random.default_rng(2)
    y = np.arange(60) % 4
    s = rng.dirichlet(np.ones(4), 60)
    res = metrics.evaluate_scores(y, s, "multi-class", NAMES, bootstrap=50)
    assert "auc_undefined" not in res and all(c["recall"] is not None for c in res["per_class"].values())
    assert auc_acc_line(res).startswith(f"AUC {res['auc']:.4f} [")


def test_the_report_says_why_the_test_auc_is_undefined_and_shows_the_recall_as_a_dash():
    y, s = _without_lymphoma()
    test = metrics.evaluate_scores(y, s, "multi-class", NAMES, bootstrap=50)
    test.pop("scores")
    html = run_report({}, {"task": "multi-class", "history": [], "best_epoch": 0, "stop_epoch": 0,
                           "val": {"auc": 0.9, "acc": 0.8}, "test": test}, {})
    text = markup.unescape(" ".join(html.split()))
    assert "The test AUC is undefined (no 'lymphoma' image in the test split; mean over the 3 other classes" in text
    assert "every resample would be the test split itself" not in text  # not the reason
    table = next(t for t in HtmlTables(html).tables if t and t[0][:2] == ["class", "support"])
    row = dict(zip(table[0], next(r for r in table[1:] if r[0] == "lymphoma")))
    assert row["recall"] == "–" and row["AUC"] == "–" and row["support"] == "0"
    assert "1 class has no image in the test split (support 0)" in text
