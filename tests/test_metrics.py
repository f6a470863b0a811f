"""Our metrics must equal the MedMNIST evaluator's, so results compare with the paper's tables."""
import numpy as np
import pytest
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
    s[:, 1] = 0.6 * y[:, 0] + 0.4 * s[:, 1]
    res = metrics.evaluate_scores(y[:, 0], s, "binary-class", {"0": "a", "1": "b"}, bootstrap=200)
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
