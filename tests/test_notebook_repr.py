"""What a notebook shows of medtrain's objects and gets back from it: ``train()``'s result, a loaded predictor and
an explanation display as one short line of what they are (their default reprs had printed the whole metrics.json,
nothing at all, every array); ``evaluate()`` returns what its file holds; wrong argument types are one
MedtrainError naming the argument, not an error from deep inside."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import medtrain
from conftest import fast_config
from medtrain import rundir
from medtrain.errors import MedtrainError
from medtrain.reuse import RunResult

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def result(trained_run):
    """``train()`` of the finished run's own settings: the run, returned as it is."""
    run, data, _ = trained_run
    return medtrain.train(fast_config(data, run, model="resnet18_28_half", epochs=1, bootstrap=0, tta="hflip"),
                          verbose=False)


def test_a_train_result_shows_its_run_and_test_scores_in_one_short_line_and_stays_the_file(result, trained_run):
    run = trained_run[0]
    on_disk = json.loads((run / rundir.METRICS_FILE).read_text())
    shown = repr(result)
    assert len(shown) < 400 and "\n" not in shown, shown  # dict's repr: 4,254 characters for this 1-epoch run
    assert shown.startswith("RunResult(") and str(run) in shown
    assert f"auc={on_disk['test']['auc']:.3f}" in shown and f"acc={on_disk['test']['acc']:.3f}" in shown
    assert "epoch 1 of 1 kept" in shown and "resnet18_28_half" in shown
    # what it is stays the file's content: equality, keys, JSON, a plain dict of it
    assert result == on_disk and list(result) == list(on_disk) and dict(result) == on_disk
    assert json.dumps(result, sort_keys=True) == json.dumps(on_disk, sort_keys=True)
    assert repr(dict(result)) == repr(on_disk)  # everything is still one dict() away


def test_a_result_shows_its_intervals_and_stays_short_however_long_its_history(result):
    metrics = json.loads(json.dumps(result))
    metrics["test"].update(auc=0.912, auc_ci=[0.851, 0.962], acc=0.85, acc_ci=[0.8, 0.9])
    metrics["history"] = [dict(metrics["history"][0], epoch=e) for e in range(30)]
    metrics.update(best_epoch=11, stop_epoch=29)
    shown = repr(RunResult(metrics, result.run_dir))
    assert "auc=0.912 [0.851, 0.962]" in shown and "acc=0.850 [0.800, 0.900]" in shown
    assert "epoch 12 of 30 kept" in shown and len(shown) < 400, shown
    assert "[" not in repr(result).split("auc=")[1].split(",")[0]  # --bootstrap 0: no interval, not [n/a, n/a]


def test_jupyter_shows_the_short_line(result):
    pretty = pytest.importorskip("IPython.lib.pretty")
    assert pretty.pretty(result) == repr(result)


def test_a_loaded_predictor_says_which_run_and_how_it_predicts(trained_run):
    run = trained_run[0]
    predictor = medtrain.load(run)
    shown = repr(predictor)
    assert "object at 0x" not in shown and len(shown) < 400, shown
    assert str(run) in shown and predictor.task in shown and "classes ['0', '1']" in shown
    assert f"calibrated T={predictor.temperature:.3f}" in shown and "tta=hflip" in shown
    plain = repr(medtrain.load(run, calibrated=False, tta=False))
    assert "uncalibrated" in plain and "tta=none" in plain


def test_an_explanation_shows_its_method_targets_and_map_shape_not_its_arrays(trained_run):
    from medtrain.explain import explain

    run, _, arrays = trained_run
    e = explain(run, arrays["test_images"][:4][:, None])
    shown = repr(e)
    assert len(shown) < 300 and "array(" not in shown, shown  # the dataclass's: 3,961 characters for 4 images
    assert shown.startswith("Explanation(gradcam") and "4 inputs" in shown and "maps (4, 16, 16)" in shown
    for name in {e.labels[int(t)] for t in e.targets}:
        assert repr(name) in shown
    assert e.maps.shape == (4, 16, 16)  # the arrays are still there, as attributes


def test_evaluate_returns_what_its_file_holds(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run[0], run)
    # the shared run drew no intervals (bootstrap 0); scored again with 50 draws, its validation split's per-class
    # F1 intervals are undefined (NaN), which the file holds as null
    config = run / rundir.CONFIG_FILE
    config.write_text(config.read_text().replace("\nbootstrap: 0\n", "\nbootstrap: 50\n"))
    got = medtrain.evaluate(run, "val", verbose=False)
    on_disk = json.loads((run / rundir.eval_file("val")).read_text())
    assert "f1_ci_draws" in got["per_class"]["0"]  # the intervals were drawn
    assert any(c["f1_ci"] == [None, None] for c in on_disk["per_class"].values())  # (what this test is about)
    assert got == on_disk  # [nan, nan] had been returned where the file holds [null, null]


@pytest.mark.parametrize("call, named", [
    (lambda run: medtrain.load(run, batch_size="8"), "batch_size"),
    (lambda run: medtrain.load(run, batch_size=2.5), "batch_size"),
    (lambda run: medtrain.load(None), "run_dir"),
    (lambda run: medtrain.evaluate(123), "run_dir"),
    (lambda run: medtrain.evaluate(None, "val"), "run_dir"),
])
def test_a_wrong_type_is_one_line_naming_the_argument(trained_run, call, named):
    with pytest.raises(MedtrainError) as e:
        call(trained_run[0])
    assert named in str(e.value) and "\n" not in str(e.value)


def test_a_train_result_given_for_a_run_dir_is_pointed_to_its_run_dir(result):
    with pytest.raises(MedtrainError, match=r"\.run_dir"):
        medtrain.load(result)
    assert np.isfinite(medtrain.load(result.run_dir).predict(np.zeros((1, 1, 16, 16), np.uint8))).all()
