"""``medtrain predict --no-calibration`` and ``medtrain.load(run, calibrated=False)`` of a run with an operating point
and a temperature T != 1, as a specification: the decisions stay the run's (made on the calibrated probability at
the run's threshold t), and every place that states the threshold states it on the scale of the probabilities
written: the raw-scale equivalent ``sigmoid(T * logit(t))`` (temperature scaling is monotone), named as the run's t
mapped through T. So a user holding only the file reproduces each row's decision from its own columns: the positive
class where its written probability >= the stated threshold. (The file had held raw probabilities beside decisions
made on the calibrated ones, with no threshold of its own: 29 of 112 rows of a walker's T = 2 run contradicted the
calibrated threshold on their face.)"""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

import medtrain
from conftest import read_rows, run_cli, tiny_binary_run
from medtrain.evaluation import temperature_scale
from medtrain.operating_point import ABOVE_ONE, threshold_on_raw_scale
from medtrain.tasks import BINARY, MULTILABEL

OP, POS, THR = "prediction_at_operating_point", "positive_class_at_operating_point", "threshold_at_operating_point"
HOT = 10.0  #: a temperature far from 1, so that many raw probabilities lie between the two scales' thresholds


def _with_temperature(run, out, temperature: float):
    """A copy of ``run``'s model (weights and config, as a model is handed on) whose metadata holds ``temperature``."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    out.mkdir()
    shutil.copy(run / "config.yaml", out / "config.yaml")
    with safe_open(str(run / "model.safetensors"), "pt") as f:
        meta = dict(f.metadata())
    meta["temperature"] = repr(temperature)
    save_file(load_file(str(run / "model.safetensors")), str(out / "model.safetensors"), metadata=meta)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny binary run with ``--operating-point youden`` (its fitted T, 0.88) and its model at T = 10."""
    root = tmp_path_factory.mktemp("uncal")
    run, data, _ = tiny_binary_run(root, operating_point="youden")
    op = json.loads((run / "metrics.json").read_text())["operating_point"]
    return {"fitted": run, "hot": _with_temperature(run, root / "hot", HOT)}, data, op


def _decisions_read_off_the_file(rows) -> list[str]:
    """Each row's decision as a reader of the file alone makes it: the positive class where its own probability
    column >= the file's threshold, else the other class."""
    names = [k for k in rows[0] if k not in ("input", "prediction", POS, THR, OP)]
    out = []
    for r in rows:
        pos = r[POS]
        other = next(n for n in names if n != pos)
        out.append(pos if float(r[pos]) >= float(r[THR]) else other)
    return out


@pytest.mark.parametrize("which", ["fitted", "hot"])
def test_each_row_s_decision_reads_off_its_own_columns_calibrated_or_not(runs, tmp_path, capsys, which):
    run, data, op = runs[0][which], runs[1], runs[2]
    temperature = medtrain.load(run).temperature
    assert temperature == pytest.approx(HOT) if which == "hot" else abs(temperature - 1) > 0.05
    assert run_cli(capsys, "predict", run, data, "--out", tmp_path / "cal.csv")[0] == 0
    assert run_cli(capsys, "predict", run, data, "--no-calibration", "--out", tmp_path / "raw.csv")[0] == 0
    cal, raw = read_rows(tmp_path / "cal.csv"), read_rows(tmp_path / "raw.csv")
    assert list(raw[0])[-3:] == [POS, THR, OP] and list(cal[0]) == list(raw[0])
    assert {r[POS] for r in cal + raw} == {op["positive_class"]}
    # the decisions are the run's, with or without calibration, and each row's columns give them
    assert [r[OP] for r in raw] == [r[OP] for r in cal] == _decisions_read_off_the_file(cal)
    assert [r[OP] for r in raw] == _decisions_read_off_the_file(raw)
    assert {float(r[THR]) for r in cal} == {op["threshold"]}  # the run's own, on its calibrated probabilities
    t_raw = threshold_on_raw_scale(op["threshold"], temperature)  # on the raw ones: the run's mapped through T
    assert all(float(r[THR]) == pytest.approx(t_raw, abs=1e-15) for r in raw) and abs(t_raw - op["threshold"]) > 1e-3


def test_the_test_above_is_not_vacuous_the_hot_model_puts_rows_between_the_two_thresholds(runs, tmp_path, capsys):
    run, data, op = runs[0]["hot"], runs[1], runs[2]
    assert run_cli(capsys, "predict", run, data, "--no-calibration", "--out", tmp_path / "raw.csv")[0] == 0
    raw = read_rows(tmp_path / "raw.csv")
    p = np.array([float(r[op["positive_class"]]) for r in raw])
    # compared with the run's calibrated threshold, these raw probabilities would contradict their decisions
    assert np.sum((p >= op["threshold"]) != np.array([r[OP] == op["positive_class"] for r in raw])) >= 5


@pytest.mark.parametrize("calibrated", [True, False])
def test_json_states_the_threshold_of_the_probabilities_it_holds(runs, tmp_path, capsys, calibrated):
    run, data, op = runs[0]["hot"], runs[1], runs[2]
    out = tmp_path / "p.json"
    assert run_cli(capsys, "predict", run, data, "--json", "--out", out,
                   *([] if calibrated else ["--no-calibration"]))[0] == 0
    doc = json.loads(out.read_text())
    assert doc["calibrated"] is calibrated and doc["temperature"] == HOT and doc["positive_class"] == op["positive_class"]
    if calibrated:
        assert doc["threshold"] == op["threshold"] and "threshold_on_calibrated" not in doc
    else:  # the run's threshold kept beside the one on the raw probabilities
        assert doc["threshold_on_calibrated"] == op["threshold"]
        assert doc["threshold"] == pytest.approx(threshold_on_raw_scale(op["threshold"], HOT)) != op["threshold"]
    pos, other = op["positive_class"], next(n for n in doc["labels"] if n != op["positive_class"])
    assert [r[OP] for r in doc["predictions"]] == [
        pos if r["probabilities"][pos] >= doc["threshold"] else other for r in doc["predictions"]]


def test_the_closing_line_states_the_raw_threshold_as_the_run_s_mapped_through_t(runs, tmp_path, capsys):
    run, data, op = runs[0]["hot"], runs[1], runs[2]
    code, out, _ = run_cli(capsys, "predict", run, data, "--no-calibration", "--out", tmp_path / "raw.csv")
    t_raw = float(read_rows(tmp_path / "raw.csv")[0][THR])
    assert code == 0 and f"{op['positive_class']} where its raw probability >= {t_raw:.6g} (the run's threshold " \
                          f"{op['threshold']:.6g} on the calibrated probability, mapped through T = 10)" in out
    code, out, _ = run_cli(capsys, "predict", run, data, "--out", tmp_path / "cal.csv")
    assert f"{op['positive_class']} where its calibrated probability >= {op['threshold']:.6g}" in out
    assert "mapped through" not in out


def test_load_uncalibrated_states_the_threshold_its_probabilities_are_decided_at(runs):
    run, data, op = runs[0]["hot"], runs[1], runs[2]
    images = np.load(data)["test_images"]
    cal, raw = medtrain.load(run), medtrain.load(run, calibrated=False)
    s = raw.settings()
    assert s["threshold_on_calibrated"] == op["threshold"] == cal.settings()["threshold"] != s["threshold"]
    p = raw.predict(images)
    k = raw.labels.index(s["positive_class"])
    called = [raw.labels[k] if v >= s["threshold"] else raw.labels[1 - k] for v in p[:, k]]
    assert raw.decide_at_operating_point(p) == called == cal.decide_at_operating_point(cal.predict(images))
    assert f"{s['threshold']:.3f} on {s['positive_class']!r} (raw scale: the run's {op['threshold']:.3f}" in repr(raw)
    assert "raw scale" not in repr(cal)


@pytest.fixture(scope="module")
def ml_run(tmp_path_factory):
    """A tiny multi-label run with ``--operating-point youden`` (one threshold per label), its model at T = 10, and
    its test images as a .npz."""
    from multilabel_op_data import arrays, train_run, write_npz

    root = tmp_path_factory.mktemp("uncal_ml")
    data = arrays(seed=10)
    run = _with_temperature(train_run(root, data, "youden"), root / "hot", HOT)
    npz = write_npz(root / "test_only.npz", {"test_images": data["test_images"], "test_labels": data["test_labels"]})
    return root, run, data, npz


@pytest.mark.parametrize("calibrated", [True, False])
def test_multi_label_json_states_each_label_s_threshold_on_the_probabilities_it_holds(ml_run, capsys, calibrated):
    root, run, data, npz = ml_run
    out = root / f"p{calibrated}.json"
    code, said, _ = run_cli(capsys, "predict", run, npz, "--json", "--out", out,
                            *([] if calibrated else ["--no-calibration"]))
    assert code == 0
    doc = json.loads(out.read_text())
    run_t = json.loads((root / "run" / "metrics.json").read_text())["operating_point"]["thresholds"]
    names = doc["labels"]
    if calibrated:
        assert doc["thresholds"] == run_t and "thresholds_on_calibrated" not in doc
    else:
        assert doc["thresholds_on_calibrated"] == run_t
        assert doc["thresholds"] == {n: pytest.approx(threshold_on_raw_scale(run_t[n], HOT, *_ends(MULTILABEL, HOT)))
                                     for n in names}
        assert "the labels whose raw probability >= their own threshold" in said and "mapped through T = 10" in said
        at_run_t = [";".join(n for n in names if r["probabilities"][n] >= run_t[n]) for r in doc["predictions"]]
        assert at_run_t != [r[OP] for r in doc["predictions"]]  # the run's thresholds would contradict the file
    called = [";".join(n for n in names if r["probabilities"][n] >= doc["thresholds"][n]) for r in doc["predictions"]]
    assert [r[OP] for r in doc["predictions"]] == called
    images = data["test_images"][:, None]
    cal, raw = medtrain.load(run), medtrain.load(run, calibrated=False)
    assert raw.decide_at_operating_point(raw.predict(images)) == cal.decide_at_operating_point(cal.predict(images)) \
        == called


# --------------------------------------------------------------------------- the mapping itself

def _called(raw: np.ndarray, task: str, temperature: float, threshold: float) -> np.ndarray:
    """The run's decisions of raw probabilities of the positive class: temperature-scaled as predict scales them
    (float32), then compared with the threshold as a float32 probability is compared."""
    if task == MULTILABEL:
        q = temperature_scale(torch.as_tensor(raw[:, None]), task, temperature).float().numpy()[:, 0]
    else:
        q = temperature_scale(torch.as_tensor(np.stack([1 - raw, raw], 1)), task, temperature).float().numpy()[:, 1]
    return q >= threshold


def _ends(task: str, temperature: float) -> tuple[float, float]:
    ends = torch.tensor([[0.0], [1.0]] if task == MULTILABEL else [[1.0, 0.0], [0.0, 1.0]])
    return tuple(temperature_scale(ends, task, temperature).float()[:, -1].tolist())


@pytest.mark.parametrize("task", [BINARY, MULTILABEL])
@pytest.mark.parametrize("temperature", [0.05, 0.5, 2.0, 20.0])
def test_raw_probabilities_at_the_mapped_threshold_are_called_as_the_calibrated_at_the_run_s(task, temperature):
    raw = np.concatenate([[0.0, 1e-30, 1e-9, 1e-6, 1 - 1e-6, 1.0], np.linspace(0, 1, 2001)]).astype(np.float32)
    lowest, highest = _ends(task, temperature)
    for t in [0.0, 1e-9, 1e-4, 0.05, 0.3, 0.4349, 0.5, 0.77, 0.999, 1 - 1e-9, 1.0, lowest, highest,
              lowest * 0.9, (1 + highest) / 2]:
        t_raw = threshold_on_raw_scale(t, temperature, lowest, highest)
        called = _called(raw, task, temperature, t)
        # read as a reader of the file reads it: the written float32 probability, compared in float64
        assert np.array_equal(raw.astype(np.float64) >= t_raw, called), (t, t_raw)


def test_the_mapping_at_its_edges():
    assert threshold_on_raw_scale(0.3, 1.0) == threshold_on_raw_scale(0.3, None) == 0.3  # T = 1 or none: unchanged
    assert threshold_on_raw_scale(0.5, 7.0) == pytest.approx(0.5)  # logit 0 at any T (a label kept at 0.5)
    t = threshold_on_raw_scale(0.3, 2.0)
    assert t == pytest.approx(1 / (1 + math.exp(-2 * math.log(0.3 / 0.7))))
    assert threshold_on_raw_scale(0.0, 2.0) == 0.0 and np.float32(threshold_on_raw_scale(1.0, 2.0)) == 1.0
    assert threshold_on_raw_scale(1e-300, 20.0) == 0.0  # no overflow: a threshold every probability reaches
    # calibrated ends inside (0, 1) (the pseudo-logits' clamp): at or below a raw 0's, every image; above a raw 1's, none
    assert threshold_on_raw_scale(0.15, 20.0, 0.2, 0.8) == 0.0
    assert threshold_on_raw_scale(0.9, 20.0, 0.2, 0.8) == ABOVE_ONE > 1.0 and np.float32(ABOVE_ONE) > np.float32(1.0)
