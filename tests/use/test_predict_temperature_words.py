"""predict's closing line says why the probabilities are the network's own (T = 1): a run whose calibration
FITTED a temperature and rejected it (it raised the validation ECE) had been said to have "no temperature
fitted", as a run whose validation has no error (nothing to fit) rightly is."""
from __future__ import annotations

import json
import shutil

import pytest

import medtrain
from conftest import fast_config, make_npz, run_cli

#: the rule choose_temperature records for a fitted T it rejects (its format)
REJECTED = "kept 1: T = 0.613 raised the validation ECE from 0.0412 to 0.0587"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(a run whose validation has no error: none fitted, the same run recorded as having rejected its fit)."""
    root = tmp_path_factory.mktemp("t1")
    make_npz(root / "tiny.npz", sizes=(64, 16, 24))
    medtrain.train(fast_config(root / "tiny.npz", root / "none", model="resnet18_28_half", epochs=1, bootstrap=0),
                   verbose=False)
    metrics = json.loads((root / "none" / "metrics.json").read_text())
    assert metrics["calibration"]["temperature"] == 1 and metrics["calibration"]["rule"].startswith("kept 1: valid")
    shutil.copytree(root / "none", root / "rejected")
    metrics["calibration"]["rule"] = REJECTED
    (root / "rejected" / "metrics.json").write_text(json.dumps(metrics))
    return root / "none", root / "rejected"


@pytest.mark.parametrize("fmt", [[], ["--json"]])
def test_a_rejected_fit_is_not_said_to_be_no_fit(runs, tmp_path, capsys, fmt):
    _, rejected = runs
    code, out, _ = run_cli(capsys, "predict", rejected, rejected.parent / "tiny.npz", "--out", tmp_path / "p", *fmt)
    assert code == 0 and "no temperature fitted" not in out, out
    assert ("probabilities as the network gives them (temperature kept at 1: the fitted T = 0.613 raised the "
            "validation ECE from 0.0412 to 0.0587)") in out, out


@pytest.mark.parametrize("fmt", [[], ["--json"]])
def test_a_run_with_nothing_to_fit_still_says_none_was_fitted_and_why(runs, tmp_path, capsys, fmt):
    none, _ = runs
    code, out, _ = run_cli(capsys, "predict", none, none.parent / "tiny.npz", "--out", tmp_path / "p", *fmt)
    assert code == 0 and "(no temperature fitted: validation has no error, so it does not determine T)" in out, out
