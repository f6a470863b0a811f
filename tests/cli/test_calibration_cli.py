"""Calibration and operating points end to end: the run's outputs, ``medtrain eval`` reproducing them, and
bad input refused before anything is written."""
import csv
import json

import numpy as np
import pytest

from medtrain import metrics
from medtrain.cli import main
from medtrain.models.weights import read_meta
from medtrain.tasks import BINARY

pytestmark = pytest.mark.plots  # the run's reliability and ROC plots are checked drawn (conftest._plots_blank)

FAST = ["--model", "resnet10_28_half", "--epochs", "2", "--batch-size", "32", "--no-progress", "--bootstrap", "50",
        "--accelerator", "cpu", "--flip", "true"]  # flip pinned: no pilot runs (tests/training/test_choices.py)


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def run(learnable_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("calib") / "run"
    assert main(["train", "--data", str(learnable_npz), *FAST, "--operating-point", "sensitivity=0.9",
                 "--positive-class", "0", "--out", str(out)]) == 0
    return out


def test_run_reports_calibration_and_the_operating_point(run):
    m = json.loads((run / "metrics.json").read_text())
    cal, op = m["calibration"], m["operating_point"]
    t = cal["temperature"]
    assert t > 0 and t != 1.0 and cal["bins"] == 15
    assert set(cal["val"]) == set(cal["test"]) == {"ece", "ece_scaled", "acc_scaled", "auc_scaled"}
    # T minimises the validation NLL, and on validation it did not make the calibration worse here
    assert cal["val"]["ece_scaled"] < cal["val"]["ece"]
    assert op["rule"] == "sensitivity=0.9" and op["chosen_on"] == "val"
    assert op["val"]["sensitivity"] >= 0.9
    assert op["test"]["threshold"] == op["threshold"]
    # the rates are those of the named positive class, class 0 here, read on its calibrated probability q0
    y, _, q = _predictions(run)
    first_class = next(iter(m["test"]["per_class"]))  # per-class metrics are in class order
    assert op["positive_class"] == op["test"]["positive_class"] == first_class
    assert op["test"]["sensitivity"] == pytest.approx(np.mean(q[y == 0, 0] >= op["threshold"]))
    assert op["test"]["specificity"] == pytest.approx(np.mean(q[y == 1, 0] < op["threshold"]))
    for k in ("sensitivity", "specificity", "ppv", "npv"):
        lo, hi = op["test"][f"{k}_ci"]
        assert lo <= op["test"][k] <= hi
    assert m["test"]["acc"] == pytest.approx(metrics.acc(*_predictions(run)[:2], BINARY))  # headline: 0.5, raw p
    meta = read_meta(run / "model.safetensors")
    assert meta["temperature"] == t and meta["threshold"] == op["threshold"]
    assert (run / "reliability.png").stat().st_size > 10_000 and (run / "roc_pr.png").stat().st_size > 10_000


def _predictions(run):
    rows = np.genfromtxt(run / "predictions_test.csv", delimiter=",", names=True)
    p = np.stack([rows["p0"], rows["p1"]], 1)
    q = np.stack([rows["q0"], rows["q1"]], 1)
    return rows["label0"].astype(int), p, q


def test_scaled_probabilities_keep_auc_and_decisions_on_a_trained_run(run):
    y, p, q = _predictions(run)
    assert not np.allclose(p, q, atol=1e-3)  # scaling did change the probabilities
    m = json.loads((run / "metrics.json").read_text())
    for split in ("val", "test"):  # the (TTA-averaged) scaled scores rank and decide as the raw ones
        assert m["calibration"][split]["auc_scaled"] == pytest.approx(m[split]["auc"], abs=1e-12)
        assert m["calibration"][split]["acc_scaled"] == m[split]["acc"]
    assert metrics.ece(y, q, BINARY) == pytest.approx(m["calibration"]["test"]["ece_scaled"], abs=1e-4)


def test_eval_reproduces_the_calibrated_numbers(run, capsys):
    code, stdout, _ = _run(capsys, "eval", str(run))
    assert code == 0 and "ECE" in stdout and "threshold" in stdout
    m = json.loads((run / "metrics.json").read_text())
    again = json.loads((run / "eval_test.json").read_text())
    assert again["calibration"]["temperature"] == m["calibration"]["temperature"]
    for k in ("ece", "ece_scaled", "auc_scaled", "acc_scaled"):
        assert again["calibration"][k] == pytest.approx(m["calibration"]["test"][k], abs=1e-6)
    for k, v in m["operating_point"]["test"].items():
        assert again["operating_point"][k] == pytest.approx(v, abs=1e-6), k


@pytest.mark.parametrize("value, message", [
    ("sensitivity=1.2", "must be in (0, 1)"), ("specificity=0", "must be in (0, 1)"),
    ("f1", "operating_point must be youden, sensitivity=P or specificity=P"),
])
def test_bad_operating_point_is_one_line_exit_2_and_writes_nothing(tiny_npz, tmp_path, capsys, value, message):
    out = tmp_path / "never"
    code, _, err = _run(capsys, "train", "--data", str(tiny_npz), *FAST, "--operating-point", value, "--out", str(out))
    assert code == 2 and message in err and err.strip().count("\n") == 0 and "Traceback" not in err
    assert not out.exists()


def test_predict_and_export_carry_the_operating_point(run, learnable_npz, tmp_path, capsys):
    """medtrain predict adds each input's class at the run's operating point (the threshold on the positive
    class's calibrated probability, as metrics.json scores it); the exported file names that rule."""
    import onnx

    from medtrain.export import export_run

    m = json.loads((run / "metrics.json").read_text())
    op = m["operating_point"]
    out = tmp_path / "p.csv"
    assert main(["predict", str(run), str(learnable_npz), "--split", "test", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    names = list(rows[0])[2:4]  # the class columns
    positive = names.index(op["positive_class"])
    called = [r["prediction_at_operating_point"] == op["positive_class"] for r in rows]
    assert called == [float(r[names[positive]]) >= op["threshold"] for r in rows]
    y, _, q = _predictions(run)
    is_pos = y == positive
    assert np.mean(np.array(called)[is_pos]) == pytest.approx(op["test"]["sensitivity"])  # the run's own figure
    # the run's own predictions_test.csv carries the same column (a clinical reader had only the arg-max there)
    own = list(csv.DictReader((run / "predictions_test.csv").open()))
    assert [r["prediction_at_operating_point"] for r in own] == [r["prediction_at_operating_point"] for r in rows]
    export_run(run, "onnx", tmp_path / "m.onnx", exporter="torchscript")
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert json.loads(props["operating_point"])["threshold"] == op["threshold"]
    assert json.loads(props["operating_point"])["positive_class"] == op["positive_class"]


def test_an_unknown_positive_class_is_one_line_exit_2_and_writes_nothing(tiny_npz, tmp_path, capsys):
    out = tmp_path / "never"
    code, _, err = _run(capsys, "train", "--data", str(tiny_npz), *FAST, "--operating-point", "youden",
                        "--positive-class", "cancer", "--out", str(out))
    assert code == 2 and "positive_class 'cancer' is not a class of the data" in err and err.strip().count("\n") == 0
    assert not out.exists()


@pytest.mark.parametrize("flags, message", [
    (["--operating-point", "youden"], "needs a binary task"),
    # it had been recorded in config.yaml and read by nothing (a user walkthrough of multi-class data)
    (["--positive-class", "2"], "positive_class 2 applies to a binary task"),
])
def test_binary_only_settings_on_a_multiclass_task_are_refused_before_writing(three_class_npz, tmp_path, capsys,
                                                                              flags, message):
    out = tmp_path / "never"
    code, _, err = _run(capsys, "train", "--data", str(three_class_npz), *FAST, *flags, "--out", str(out))
    assert code == 2 and message in err and err.strip().count("\n") == 0
    assert not out.exists()
