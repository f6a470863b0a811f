"""What the exported file of an MC-dropout run says about its operating point: the file is one pass with dropout
off, while the run's temperature and threshold were fitted on the mean of its MC passes. Its metadata had said the
threshold applied to "this output" with no caveat (85 of 160 multi-label decisions differed from predict's); the
note was on stderr only, which a user given just the file never sees."""
from __future__ import annotations

import json

import numpy as np
import onnx

import medtrain
from conftest import fast_config, make_images, run_cli


def test_an_mc_dropout_run_s_file_says_its_threshold_was_fitted_on_the_mean_of_the_passes(tmp_path, capsys):
    arrays = {}
    for split, n, seed in (("train", 64, 0), ("val", 16, 1), ("test", 40, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, seed=seed)
    arrays["val_labels"][:2] = 1 - arrays["val_labels"][:2]
    np.savez(tmp_path / "tiny.npz", **arrays)
    run = tmp_path / "run"
    medtrain.train(fast_config(tmp_path / "tiny.npz", run, model="resnet18_28_half", epochs=1, bootstrap=0,
                               tta="none", dropout=0.3, mc_dropout=3, operating_point="sensitivity=0.95"),
                   verbose=False)
    code, _, err = run_cli(capsys, "export", run, "--out", tmp_path / "mc.onnx", "--exporter", "torchscript")
    assert code == 0, err
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "mc.onnx")).metadata_props}
    op = json.loads(props["operating_point"])
    assert op["rule"] == "sensitivity=0.95"
    said = "fitted on the mean of its 3 MC-dropout passes and this graph is one pass with dropout off"
    for where in (op["applies_to"], props["output"]):
        assert said in where and "decisions can differ from the run's" in where, where
    assert not op["applies_to"].endswith("(this output)")
    assert "operating-point threshold" in props["output"]
    assert "MC dropout (3 passes averaged)" in err and "fitted on the mean of the passes" in err
    assert "the file's metadata says so" in err
