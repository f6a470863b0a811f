"""A multi-label run's operating point, as a specification: ``--operating-point RULE`` chooses one threshold per
label on that label's calibrated validation probabilities (each label a binary problem, positive = 1), with the
binary rule's own ``choose_threshold``; ``metrics.json`` records them and each label's validation and test rates,
with a summary over the labels; ``medtrain eval`` of the run's split and of external data reproduces the test
rates. It had been refused ("needs a binary task"), and a 14-label run judged at 0.5 called no finding in 150
of its 160 test images, 8 labels never (recall 0) for AUCs of 0.68-0.94."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import medtrain
from conftest import read_rows, run_cli
from medtrain.external import external_file, external_predictions_file
from medtrain.operating_point import (KEPT, OperatingPointWarning, choose_label_thresholds, choose_threshold,
                                      label_report, rates_at)
from multilabel_op_data import arrays, train_run, write_npz

RULE = "sensitivity=0.8"
NAMES = ["0", "1", "2"]
RATES = ("sensitivity", "specificity", "ppv", "npv")


@pytest.fixture(scope="module")
def ml_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlop")
    data = arrays()
    run = train_run(root, data, RULE)
    return run, data, json.loads((run / "metrics.json").read_text())


def _val_probs(run, data) -> np.ndarray:
    """The run's calibrated validation probabilities, as medtrain.load gives them."""
    return medtrain.load(run).predict(data["val_images"][:, None])


def test_each_label_gets_the_binary_rule_s_threshold_on_its_own_validation_column(ml_run):
    run, data, m = ml_run
    op = m["operating_point"]
    assert (op["rule"], op["chosen_on"], op["not_chosen"]) == (RULE, "val", [])
    q, y = _val_probs(run, data), data["val_labels"]
    expected = [choose_threshold(y[:, j], q[:, j], RULE) for j in range(3)]
    assert list(op["thresholds"]) == NAMES
    np.testing.assert_allclose(list(op["thresholds"].values()), expected, atol=1e-6)
    assert len(set(op["thresholds"].values())) == 3  # one per label, not one for all


def test_every_label_meets_the_sensitivity_target_on_validation(ml_run):
    run, data, m = ml_run
    q, y = _val_probs(run, data), data["val_labels"]
    for j, name in enumerate(NAMES):
        t = m["operating_point"]["thresholds"][name]
        assert m["operating_point"]["val"]["per_label"][name]["sensitivity"] >= 0.8
        assert rates_at(y[:, j], q[:, j], t)["sensitivity"] >= 0.8  # recomputed from the probabilities


def test_the_thresholds_do_not_move_when_only_the_test_labels_change(ml_run, tmp_path):
    _, data, m = ml_run
    other = dict(data, test_labels=1 - data["test_labels"])
    again = json.loads((train_run(tmp_path, other, RULE) / "metrics.json").read_text())["operating_point"]
    assert again["thresholds"] == m["operating_point"]["thresholds"]  # chosen on validation only
    assert again["test"]["per_label"] != m["operating_point"]["test"]["per_label"]  # the test labels did change


def test_the_test_rates_are_those_of_the_written_probabilities_and_decisions(ml_run):
    run, data, m = ml_run
    op = m["operating_point"]
    rows = read_rows(run / "predictions_test.csv")
    q = np.array([[float(r[f"q{j}"]) for j in range(3)] for r in rows])
    y = data["test_labels"]
    t = list(op["thresholds"].values())
    report = label_report(y, q, t, NAMES)
    for name in NAMES:
        for k in RATES:
            assert op["test"]["per_label"][name][k] == pytest.approx(report["per_label"][name][k], abs=1e-12)
        assert len(op["test"]["per_label"][name]["sensitivity_ci"]) == 2  # Wilson intervals, as binary's
    called = [";".join(n for j, n in enumerate(NAMES) if q[i, j] >= t[j]) for i in range(len(q))]
    assert [r["prediction_at_operating_point"] for r in rows] == called
    assert [r["correct_at_operating_point"] == "true" for r in rows] == \
        [c == r["true_label"] for c, r in zip(called, rows)]
    s = op["test"]["summary"]
    assert s["images_called"] == sum(bool(c) for c in called) and s["images"] == len(rows)
    assert s["mean_sensitivity"] == pytest.approx(np.mean([report["per_label"][n]["sensitivity"] for n in NAMES]))


def test_the_printed_summary_has_one_line_for_the_operating_point(tmp_path, capsys):
    data = arrays(seed=3)
    run = write_npz(tmp_path / "d.npz", data)
    code, out, err = run_cli(capsys, "train", "--data", run, "--model", "resnet10_28_half", "--epochs", "1",
                             "--batch-size", "32", "--no-progress", "--bootstrap", "0", "--accelerator", "cpu",
                             "--flip", "true", "--tta", "none", "--operating-point", "youden",
                             "--out", tmp_path / "r")
    assert code == 0, err
    lines = [s for s in out.splitlines() if "a threshold for each of 3 labels" in s]
    s = json.loads((tmp_path / "r" / "metrics.json").read_text())["operating_point"]["test"]["summary"]
    assert len(lines) == 1 and lines[0].startswith("youden, a threshold for each of 3 labels: mean sensitivity")
    assert lines[0].endswith(f"{s['images_called']} of {s['images']} images have a finding called")


def test_medtrain_eval_reproduces_the_per_label_test_rates(ml_run, capsys):
    run, _, m = ml_run
    code, out, err = run_cli(capsys, "eval", run, "--split", "test")
    assert code == 0, err
    ev = json.loads((run / "eval_test.json").read_text())["operating_point"]
    assert (ev["rule"], ev["chosen_on"], ev["not_chosen"]) == (RULE, "val", [])
    _same_rates(ev, m["operating_point"]["test"])
    assert f"operating point {RULE}, chosen on the run's validation split, a threshold for each of 3 labels" in out


def test_external_eval_scores_each_label_at_its_own_threshold(ml_run, tmp_path, capsys):
    """The run's test images given as external data: the same per-label rates, and per-image decisions."""
    run, data, m = ml_run
    ext = write_npz(tmp_path / "outside.npz", {"test_images": data["test_images"], "test_labels": data["test_labels"]})
    code, _, err = run_cli(capsys, "eval", run, "--data", ext)
    assert code == 0, err
    _same_rates(json.loads((run / external_file(ext)).read_text())["operating_point"],
                m["operating_point"]["test"])
    rows = read_rows(run / external_predictions_file(ext))
    own = read_rows(run / "predictions_test.csv")
    assert [r["prediction_at_operating_point"] for r in rows] == [r["prediction_at_operating_point"] for r in own]


def _same_rates(got: dict, want: dict) -> None:
    assert list(got["per_label"]) == list(want["per_label"])
    for name, r in want["per_label"].items():
        for k in (*RATES, "threshold"):
            assert got["per_label"][name][k] == pytest.approx(r[k], abs=1e-9, nan_ok=True), (name, k)
    assert got["summary"] == want["summary"]


def test_a_label_without_validation_positives_keeps_half_and_is_named():
    rng = np.random.default_rng(0)
    y = (rng.random((30, 3)) < 0.4).astype(int)
    y[:, 2] = 0  # label 'c': no validation positive
    q = np.clip(y * 0.5 + rng.random((30, 3)) * 0.5, 0, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        thresholds, kept = choose_label_thresholds(y, q, "youden", ["a", "b", "c"])
    assert kept == ["c"] and thresholds[2] == KEPT == 0.5
    assert thresholds[:2] == [choose_threshold(y[:, j], q[:, j], "youden") for j in range(2)]
    said = [str(w.message) for w in caught if issubclass(w.category, OperatingPointWarning)]
    assert len(said) == 1 and "'c'" in said[0] and "keep 0.5" in said[0]


def test_a_label_s_edge_warning_names_the_label():
    y = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 5)
    q = np.column_stack([y[:, 0] * 0.6 + 0.2, np.full(len(y), 0.4)])  # label 'flat': one score for all
    with pytest.warns(OperatingPointWarning, match="label 'flat': operating point specificity=0.9"):
        choose_label_thresholds(y, q, "specificity=0.9", ["sharp", "flat"])


def _refused(capsys, data, out, *flags) -> str:
    code, _, err = run_cli(capsys, "train", "--data", data, "--epochs", "1", "--no-progress", *flags, "--out", out)
    assert code == 2 and err.strip().count("\n") == 0, err
    assert not out.exists()  # nothing written
    return err


def test_a_multi_class_task_still_refuses_the_operating_point_in_one_line(tmp_path, capsys):
    rng = np.random.default_rng(0)
    three = {f"{s}_images": rng.integers(0, 255, (30, 16, 16)).astype(np.uint8) for s in ("train", "val", "test")}
    three.update({f"{s}_labels": np.arange(30).reshape(-1, 1) % 3 for s in ("train", "val", "test")})
    err = _refused(capsys, write_npz(tmp_path / "three.npz", three), tmp_path / "never", "--operating-point", "youden")
    assert "needs a binary task or a multi-label one" in err and "multi-class" in err


def test_a_multi_label_task_refuses_a_positive_class_in_one_line(tmp_path, capsys):
    err = _refused(capsys, write_npz(tmp_path / "ml.npz", arrays()), tmp_path / "never", "--operating-point",
                   "youden", "--positive-class", "1")
    assert "positive_class 1 applies to a binary task" in err


def test_a_binary_run_s_operating_point_keeps_its_format(tmp_path):
    """The keys a binary run's metrics.json and weights record (tests/cli/test_calibration_cli.py reads them)."""
    from conftest import fast_config, make_npz
    from medtrain.models.weights import read_meta

    run = tmp_path / "bin"
    medtrain.train(fast_config(make_npz(tmp_path / "b.npz", sizes=(64, 24, 24)), run, epochs=1, bootstrap=0,
                               tta="none", operating_point="youden"), verbose=False)
    op = json.loads((run / "metrics.json").read_text())["operating_point"]
    assert list(op) == ["rule", "chosen_on", "threshold", "positive_class", "val", "test"]
    # each rate with its Wilson interval and [hits, eligible images], on validation (in-sample) as on test
    assert list(op["val"]) == [*RATES, *(f"{k}_ci" for k in RATES), *(f"{k}_counts" for k in RATES)]
    assert list(op["test"]) == ["positive_class", "threshold", *RATES, *(f"{k}_ci" for k in RATES),
                                *(f"{k}_counts" for k in RATES)]
    meta = read_meta(run / "model.safetensors")
    assert {"threshold", "positive_class", "operating_point"} <= set(meta) and "thresholds" not in meta
    assert set(medtrain.load(run).settings()) == {"calibrated", "temperature", "operating_point", "threshold",
                                                  "positive_class", "tta"}


def test_a_no_finding_label_is_not_counted_as_a_finding_called_or_had():
    # a CheXpert-style "No Finding" column had made every image "have a finding": "48 of 48 (48 have one)"
    from medtrain.reports.summary import label_operating_point_line

    y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]])  # columns: Effusion, Nodule, No Finding
    q = np.array([[0.9, 0.1, 0.1], [0.2, 0.3, 0.2], [0.1, 0.1, 0.9], [0.1, 0.8, 0.9]])
    s = label_report(y, q, [0.5, 0.5, 0.5], ["Effusion", "Nodule", "No Finding"])["summary"]
    assert (s["images_called"], s["images_with_finding"], s["not_findings"]) == (2, 2, ["No Finding"])
    plain = label_report(y[:, :2], q[:, :2], [0.5, 0.5], ["Effusion", "Nodule"])["summary"]
    assert (plain["images_called"], plain["images_with_finding"]) == (2, 2) and "not_findings" not in plain
    line = label_operating_point_line({"summary": s}, "youden")
    assert line.endswith("2 of 4 images have a finding called ('No Finding' not counted as a finding)")
