"""``medtrain eval`` of a run with an operating point, as a specification: the printed line and the
``operating_point`` of ``eval_<split>.json`` and ``eval_external_<name>.json`` name the rule the threshold realises
and the split it was chosen on, as ``metrics.json`` does (they had held the threshold alone: a reader of an
external evaluation could not tell it was ``sensitivity=0.95``)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import medtrain
from conftest import fast_config, make_images, run_cli
from medtrain.external import external_file


@pytest.fixture(scope="module")
def op_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("oprule")
    arrays = {}
    for split, n, seed in (("train", 64, 0), ("val", 16, 1), ("test", 40, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, seed=seed)
    arrays["val_labels"][:2] = 1 - arrays["val_labels"][:2]
    np.savez(root / "tiny.npz", **arrays)
    ext = root / "outside.npz"  # labelled data the run never saw, as external data
    ext_arrays = dict(zip(("test_images", "test_labels"), make_images(24, seed=7)))
    np.savez(ext, **ext_arrays)
    run = root / "run"
    medtrain.train(fast_config(root / "tiny.npz", run, model="resnet10_28_half", epochs=1, bootstrap=0,
                               operating_point="sensitivity=0.95"), verbose=False)
    return run, ext


def _origin(run) -> dict:
    op = json.loads((run / "metrics.json").read_text())["operating_point"]
    assert (op["rule"], op["chosen_on"]) == ("sensitivity=0.95", "val")  # as training records them
    return {"rule": op["rule"], "chosen_on": op["chosen_on"], "threshold": op["threshold"]}


def test_eval_of_the_run_s_own_split_names_the_operating_point_s_rule(op_run, capsys):
    run, _ = op_run
    code, out, err = run_cli(capsys, "eval", run, "--split", "test")
    assert code == 0, err
    op = json.loads((run / "eval_test.json").read_text())["operating_point"]
    assert {k: op[k] for k in ("rule", "chosen_on", "threshold")} == _origin(run)
    line = next(s for s in out.splitlines() if "threshold" in s)
    assert line.strip().startswith("operating point sensitivity=0.95, chosen on the run's validation split "
                                   f"(threshold {op['threshold']:.4f}")
    assert "in-sample" not in line


def test_eval_of_the_split_the_threshold_was_chosen_on_says_its_rates_are_in_sample(op_run, capsys):
    # eval --split val had printed the validation rates bare, where the report calls them in-sample, optimistic
    run, _ = op_run
    code, out, err = run_cli(capsys, "eval", run, "--split", "val")
    assert code == 0, err
    line = next(s for s in out.splitlines() if "threshold" in s)
    assert line.endswith("; in-sample: the threshold was chosen on these images, so these rates read optimistic")


def test_external_eval_names_the_operating_point_s_rule(op_run, capsys):
    run, ext = op_run
    code, out, err = run_cli(capsys, "eval", run, "--data", ext)
    assert code == 0, err
    op = json.loads((run / external_file(ext)).read_text())["operating_point"]
    assert {k: op[k] for k in ("rule", "chosen_on", "threshold")} == _origin(run)
    assert "operating point sensitivity=0.95, chosen on the run's validation split (threshold" in out
