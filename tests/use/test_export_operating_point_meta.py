"""What an exported file says about the operating point it carries, as a specification: the threshold and the
temperature were fitted on the run's own probabilities, averaged over its test-time views; a graph exported
without them (``--no-tta``) says that it lacks them and that the run's threshold was not fitted on its output
(it had said the threshold applied to "this output": 9 of 150 decisions of a run differed), and a run whose
temperature was kept at 1 is said to be uncalibrated (it had read "calibrated at temperature 1")."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

import medtrain
from conftest import fast_config, make_images, run_cli


def _run(root, flipped_val: int):
    arrays = {}
    for split, n, seed in (("train", 64, 0), ("val", 16, 1), ("test", 40, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, seed=seed)
    arrays["val_labels"][:flipped_val] = 1 - arrays["val_labels"][:flipped_val]
    np.savez(root / "tiny.npz", **arrays)
    medtrain.train(fast_config(root / "tiny.npz", root / "run", model="resnet18_28_half", epochs=1, bootstrap=0,
                               tta="hflip", operating_point="sensitivity=0.95"), verbose=False)
    return root / "run"


@pytest.fixture(scope="module")
def fitted_run(tmp_path_factory):
    """Flip TTA, a fitted temperature (two validation labels flipped: T != 1) and sensitivity=0.95."""
    run = _run(tmp_path_factory.mktemp("fitted"), flipped_val=2)
    assert json.loads((run / "metrics.json").read_text())["calibration"]["rule"] == "fitted"
    return run


@pytest.fixture(scope="module")
def kept_run(tmp_path_factory):
    """Flip TTA and sensitivity=0.95; a validation split without error: the temperature is kept at 1."""
    run = _run(tmp_path_factory.mktemp("kept"), flipped_val=0)
    assert json.loads((run / "metrics.json").read_text())["calibration"]["rule"].startswith("kept 1")
    return run


def _export(capsys, run, out, *flags) -> dict:
    code, _, err = run_cli(capsys, "export", run, "--out", out, "--exporter", "torchscript", *flags)
    assert code == 0, err
    return {p.key: p.value for p in onnx.load(str(out)).metadata_props}


def test_a_graph_without_the_run_s_views_says_its_threshold_and_temperature_were_fitted_on_them(
        fitted_run, tmp_path, capsys):
    props = _export(capsys, fitted_run, tmp_path / "notta.onnx", "--no-tta")
    op = json.loads(props["operating_point"])
    assert op["rule"] == "sensitivity=0.95"
    assert json.loads(props["preprocessing"])["inside_the_graph"]["tta"] == "none"  # what the graph does
    assert props["run_tta"] == "hflip"  # what the run's scores averaged
    for said in (op["applies_to"], props["output"]):
        assert "fitted on its 'hflip'-averaged views and this graph has none" in said, said
    assert "temperature and operating-point threshold were fitted" in props["output"]
    assert not op["applies_to"].endswith("(this output)")


def test_a_graph_with_the_run_s_views_says_its_threshold_applies_to_its_output(fitted_run, tmp_path, capsys):
    props = _export(capsys, fitted_run, tmp_path / "tta.onnx")
    op = json.loads(props["operating_point"])
    assert props["run_tta"] == "hflip" and json.loads(props["preprocessing"])["inside_the_graph"]["tta"] == "hflip"
    assert op["applies_to"] == "the calibrated probability of positive_class (this output)"
    t = medtrain.load(fitted_run).temperature
    assert props["output"] == f"class probabilities (N, K), softmax, averaged over the test-time views 'hflip', " \
                              f"calibrated at temperature {t:.6g}"


def test_a_run_whose_temperature_was_kept_at_1_exports_as_uncalibrated(kept_run, tmp_path, capsys):
    props = _export(capsys, kept_run, tmp_path / "kept.onnx")
    assert json.loads(props["temperature"]) == 1.0
    assert "calibrated at temperature" not in props["output"]
    assert props["output"].endswith(", uncalibrated (temperature kept at 1)")
    op = json.loads(props["operating_point"])
    assert "calibrated probability" not in op["applies_to"] and "uncalibrated: temperature kept at 1" in op["applies_to"]

    notta = _export(capsys, kept_run, tmp_path / "kept_notta.onnx", "--no-tta")  # T = 1: only the threshold fitted
    assert "the run's operating-point threshold was fitted on its 'hflip'-averaged views and this graph has none" \
        in json.loads(notta["operating_point"])["applies_to"]


def test_predict_of_a_run_whose_temperature_was_kept_at_1_says_none_was_fitted(kept_run, tmp_path, capsys):
    # its closing line had said "temperature-scaled (T = 1)", as if a calibration had been applied
    code, out, _ = run_cli(capsys, "predict", kept_run, kept_run.parent / "tiny.npz", "--split", "test", "--out",
                           tmp_path / "p.csv")
    assert code == 0 and "no temperature fitted" in out and "temperature-scaled" not in out
