"""``medtrain predict``, ``medtrain.load`` and ``medtrain export`` of a multi-label run with an operating point, as a
specification: ``prediction_at_operating_point`` is the labels whose calibrated probability reaches their own
threshold, joined by ``;`` as ``prediction`` joins the labels called at 0.5, the very decisions the run's metrics
score (its ``predictions_test.csv``); the uncalibrated predictor decides alike; the JSON output and
``Predictor.settings()`` give the thresholds by label; the exported ONNX file carries them, and its output
decided at them is predict's decision."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

import medtrain
from conftest import read_rows, run_cli
from multilabel_op_data import arrays, train_run, write_npz

OP = "prediction_at_operating_point"
NAMES = ["0", "1", "2"]


@pytest.fixture(scope="module")
def ml_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlop_predict")
    data = arrays(seed=10)
    run = train_run(root, data, "youden")
    ext = write_npz(root / "test_only.npz", {"test_images": data["test_images"], "test_labels": data["test_labels"]})
    return run, data, ext, json.loads((run / "metrics.json").read_text())["operating_point"]


def _called(q: np.ndarray, thresholds: dict) -> list[str]:
    t = [thresholds[n] for n in NAMES]
    return [";".join(n for j, n in enumerate(NAMES) if row[j] >= t[j]) for row in q]


def test_predict_decides_each_label_at_its_threshold_as_the_run_s_metrics_do(ml_run, tmp_path, capsys):
    run, _, ext, op = ml_run
    code, out, err = run_cli(capsys, "predict", run, ext, "--out", tmp_path / "p.csv")
    assert code == 0, err
    rows = read_rows(tmp_path / "p.csv")
    assert list(rows[0])[-1] == OP
    q = np.array([[float(r[n]) for n in NAMES] for r in rows])
    assert [r[OP] for r in rows] == _called(q, op["thresholds"])
    own = read_rows(run / "predictions_test.csv")  # the decisions the run's operating-point rates score
    assert [r[OP] for r in rows] == [r[OP] for r in own]
    assert len({r[OP] for r in rows}) > 1 and any(r[OP] != r["prediction"] for r in rows)  # not 0.5's
    assert "the labels whose calibrated probability >= their own threshold (3 thresholds" in out


def test_load_decides_at_the_operating_point_calibrated_or_not(ml_run):
    run, data, _, op = ml_run
    cal, raw = medtrain.load(run), medtrain.load(run, calibrated=False)
    assert cal.operating_point[0] == "youden" and cal.operating_point[2] is None
    assert cal.operating_point[1] == [op["thresholds"][n] for n in NAMES]
    images = data["test_images"][:, None]
    q = cal.predict(images)
    assert cal.decide_at_operating_point(q) == _called(q, op["thresholds"])
    assert raw.decide_at_operating_point(raw.predict(images)) == cal.decide_at_operating_point(q)
    assert cal.settings() == {"calibrated": True, "temperature": cal.temperature, "operating_point": "youden",
                              "thresholds": op["thresholds"], "not_chosen": [], "tta": "none"}
    assert "operating point youden per label (3 thresholds)" in repr(cal)


def test_json_output_lists_the_thresholds_by_label(ml_run, tmp_path, capsys):
    run, _, ext, op = ml_run
    out = tmp_path / "p.json"
    assert run_cli(capsys, "predict", run, ext, "--json", "--out", out)[0] == 0
    doc = json.loads(out.read_text())
    assert doc["thresholds"] == op["thresholds"] and doc["operating_point"] == "youden"
    assert [r[OP] for r in doc["predictions"]] == _called(
        np.array([[r["probabilities"][n] for n in NAMES] for r in doc["predictions"]]), op["thresholds"])


def test_the_exported_onnx_file_carries_the_thresholds_and_decides_as_predict(ml_run, tmp_path, capsys):
    import onnxruntime as ort

    run, data, _, op = ml_run
    out = tmp_path / "m.onnx"
    code, _, err = run_cli(capsys, "export", run, "--out", out, "--exporter", "torchscript")
    assert code == 0, err
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    meta = json.loads(props["operating_point"])
    assert meta["rule"] == "youden" and meta["thresholds"] == op["thresholds"] and meta["not_chosen"] == []
    assert meta["applies_to"].startswith("the ") and "each label" in meta["applies_to"]
    images = data["test_images"][:, None]
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: images.astype(np.float32) / 255.0})[0]
    labels = json.loads(props["label_names"])
    decided = [";".join(n for j, n in enumerate(labels) if row[j] >= meta["thresholds"][n]) for row in got]
    p = medtrain.load(run)
    assert decided == p.decide_at_operating_point(p.predict(images))


@pytest.mark.parametrize("calibration", [[], ["--no-calibration"]])
def test_each_row_states_each_label_s_threshold_its_decision_reads_off(ml_run, tmp_path, capsys, calibration):
    # the CSV had held the labels called and nothing of the thresholds (the JSON header alone had them): with
    # --no-calibration its raw probabilities were decided at thresholds that appeared nowhere in the file
    run, _, ext, op = ml_run
    code, _, err = run_cli(capsys, "predict", run, ext, *calibration, "--out", tmp_path / "p.csv")
    assert code == 0, err
    rows = read_rows(tmp_path / "p.csv")
    cols = [f"threshold_at_operating_point:{n}" for n in NAMES]
    assert list(rows[0])[-4:] == [*cols, OP]
    t = {n: float(rows[0][c]) for n, c in zip(NAMES, cols)}
    assert all(float(r[c]) == t[n] for r in rows for n, c in zip(NAMES, cols))  # the same on every row
    q = np.array([[float(r[n]) for n in NAMES] for r in rows])
    assert [r[OP] for r in rows] == _called(q, t)  # from the file alone
    # on the scale of the probabilities written: the run's, or raw ones mapped through its temperature
    assert t == medtrain.load(run, calibrated=not calibration).settings()["thresholds"]
    assert calibration or t == op["thresholds"]
