"""``medtrain export RUN --no-tta`` of a run whose operating point was chosen on validation probabilities averaged
over its test-time views says so on the console, in the one warning ``predict --no-tta`` and ``load(run, tta=False)``
give (:func:`medtrain.predictor._warn_threshold_fitted_with_tta`): the file's metadata said it, the console nothing,
and a user exporting for one forward pass per image read nothing of it."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import medtrain
from conftest import fast_config, make_images, run_cli
from medtrain.export import export_run
from medtrain.operating_point import OperatingPointWarning

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tta_run(tmp_path_factory):
    """A 1-epoch binary run with ``tta: hflip`` and ``--operating-point youden``."""
    root = tmp_path_factory.mktemp("export_no_tta")
    data = {}
    for split, n, seed in (("train", 48, 0), ("val", 16, 1), ("test", 16, 2)):
        data[f"{split}_images"], data[f"{split}_labels"] = make_images(n, seed=seed)
    np.savez(root / "b.npz", **data)
    medtrain.train(fast_config(root / "b.npz", root / "run", epochs=1, bootstrap=0, tta="hflip",
                               operating_point="youden"), verbose=False)
    return root / "run"


def _load_warning(run) -> str:
    """What ``medtrain.load(run, tta=False)`` warns (predict's words)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        medtrain.load(run, tta=False)
    said = [str(w.message) for w in caught if issubclass(w.category, OperatingPointWarning)]
    assert len(said) == 1
    return said[0]


def test_export_no_tta_prints_predict_s_warning_in_one_line(tta_run, tmp_path, capsys):
    code, out, err = run_cli(capsys, "export", tta_run, "--format", "torchscript", "--no-tta",
                             "--out", tmp_path / "m.pt")
    assert code == 0, err
    assert (tmp_path / "m.pt").is_file()
    lines = [line for line in err.splitlines() if "averaged over the run's test-time views" in line]
    # predict's warning up to what decides at the threshold: here the exported graph
    assert len(lines) == 1 and lines[0].startswith(f"medtrain: warning: {_load_warning(tta_run).split(';')[0]};")
    assert "operating point youden" in lines[0] and "(tta hflip)" in lines[0] and "Traceback" not in err
    assert "exported without TTA" in lines[0]


def test_export_with_the_run_s_views_says_nothing_of_them(tta_run, tmp_path, capsys):
    code, out, err = run_cli(capsys, "export", tta_run, "--format", "torchscript", "--out", tmp_path / "m.pt")
    assert code == 0, err
    assert "test-time views" not in err and "warning" not in err


def test_the_python_export_run_warns_alike(tta_run, tmp_path):
    with pytest.warns(OperatingPointWarning, match=r"tta hflip"):
        export_run(tta_run, "torchscript", tmp_path / "m.pt", tta=False)
