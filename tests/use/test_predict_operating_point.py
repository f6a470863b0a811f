"""``medtrain predict`` of a run with an operating point, as a specification: ``--no-calibration`` writes the
raw probabilities but keeps ``prediction_at_operating_point``, decided as the calibrated predictor decides it
(temperature scaling is monotone for a binary task; the column had been dropped without a word), and the
output records whether its probabilities are calibrated, the temperature, the rule and its threshold."""
from __future__ import annotations

import json

import numpy as np
import pytest

import medtrain
from conftest import read_rows, run_cli, tiny_binary_run

OP = "prediction_at_operating_point"


@pytest.fixture(scope="module")
def op_run(tmp_path_factory):
    """As ``trained_run`` (two validation labels flipped, so the run fits T != 1), with ``--operating-point``."""
    run, data, arrays = tiny_binary_run(tmp_path_factory.mktemp("op"), operating_point="youden")
    meta = json.loads((run / "metrics.json").read_text())["operating_point"]
    return run, data, arrays, meta


def test_no_calibration_keeps_the_operating_point_column_with_the_calibrated_decisions(op_run, tmp_path, capsys):
    run, data, _, op = op_run
    p = medtrain.load(run)
    assert abs(p.temperature - 1) > 0.05  # the raw and calibrated probabilities really differ
    assert run_cli(capsys, "predict", run, data, "--out", tmp_path / "cal.csv")[0] == 0
    assert run_cli(capsys, "predict", run, data, "--no-calibration", "--out", tmp_path / "raw.csv")[0] == 0
    cal, raw = read_rows(tmp_path / "cal.csv"), read_rows(tmp_path / "raw.csv")
    assert list(raw[0]) == list(cal[0]) and list(raw[0])[-1] == OP
    pos = p.labels.index(op["positive_class"])
    q = np.array([float(r[p.labels[pos]]) for r in cal])
    assert np.abs(q - np.array([float(r[p.labels[pos]]) for r in raw])).max() > 1e-3  # raw ones written
    called = [p.labels[pos] if v >= op["threshold"] else p.labels[1 - pos] for v in q]
    assert [r[OP] for r in raw] == [r[OP] for r in cal] == called
    assert [r[OP] for r in cal] == [r[OP] for r in read_rows(run / "predictions_test.csv")]


def test_load_uncalibrated_decides_at_the_operating_point_as_the_calibrated_predictor(op_run):
    run, _, arrays, _ = op_run
    cal, raw = medtrain.load(run), medtrain.load(run, calibrated=False)
    assert raw.temperature is None and raw.operating_point == cal.operating_point is not None
    images = arrays["test_images"]
    assert raw.decide_at_operating_point(raw.predict(images)) == cal.decide_at_operating_point(cal.predict(images))


@pytest.mark.parametrize("calibrated", [True, False])
def test_json_output_records_calibration_temperature_rule_and_threshold(op_run, tmp_path, capsys, calibrated):
    run, data, _, op = op_run
    p = medtrain.load(run)
    out = tmp_path / "p.json"
    assert run_cli(capsys, "predict", run, data, "--json", "--out", out,
                   *([] if calibrated else ["--no-calibration"]))[0] == 0
    doc = json.loads(out.read_text())
    assert doc["calibrated"] is calibrated and doc["temperature"] == pytest.approx(p.temperature)
    # the threshold on the probabilities written: uncalibrated, the run's mapped through T, the run's kept beside
    # (tests/use/test_predict_uncalibrated_threshold.py)
    assert doc["operating_point"] == "youden"
    assert doc["threshold" if calibrated else "threshold_on_calibrated"] == pytest.approx(op["threshold"])
    assert doc["positive_class"] == op["positive_class"]
    assert all(OP in rec for rec in doc["predictions"])
    settings = medtrain.load(run, calibrated=calibrated).settings()
    assert settings == {k: doc[k] for k in settings}


def test_the_closing_line_says_what_the_probabilities_are_and_the_threshold_applied(op_run, tmp_path, capsys):
    run, data, _, op = op_run
    t = medtrain.load(run).temperature
    code, out, _ = run_cli(capsys, "predict", run, data, "--no-calibration", "--out", tmp_path / "raw.csv")
    assert code == 0 and out.count("\n") == 1
    assert f"raw probabilities (the run's temperature {t:.3g} not applied)" in out
    assert f"prediction_at_operating_point: youden, {op['positive_class']} where its raw probability >= " in out
    assert f"(the run's threshold {op['threshold']:.6g} on the calibrated probability, mapped through T = {t:.3g})" in out
    code, out, _ = run_cli(capsys, "predict", run, data, "--out", tmp_path / "cal.csv")
    assert f"temperature-scaled (T = {t:.3g})" in out
