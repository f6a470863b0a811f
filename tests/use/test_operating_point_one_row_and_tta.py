"""A run's operating point used by hand, as a specification: one image's probability vector (``predict(...)[0]``)
is one row to ``decide`` and ``decide_at_operating_point`` alike, binary or multi-label, calibrated or not (the
latter had raised IndexError, the former given two names for one image); another shape is one MedtrainError naming
``(N, C)``. A run whose threshold was chosen on TTA-averaged validation probabilities, predicted with TTA off
(``medtrain.load(run, tta=False)``, ``medtrain predict --no-tta``), says so in one warning (it had said nothing)."""
from __future__ import annotations

import dataclasses
import re
import warnings

import numpy as np
import pytest

import medtrain
from conftest import fast_config, make_images, run_cli
from medtrain.errors import MedtrainError
from medtrain.operating_point import OperatingPointWarning
from multilabel_op_data import arrays, train_run

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory):
    """A 1-epoch binary run with ``tta: hflip`` and ``--operating-point youden`` (its threshold chosen on the
    flip-averaged validation probabilities), and its .npz."""
    root = tmp_path_factory.mktemp("op_row")
    data = {}
    for split, n, seed in (("train", 48, 0), ("val", 16, 1), ("test", 16, 2)):
        data[f"{split}_images"], data[f"{split}_labels"] = make_images(n, seed=seed)
    data["val_labels"][:2] = 1 - data["val_labels"][:2]  # validation errors: the run fits a temperature != 1
    np.savez(root / "b.npz", **data)
    medtrain.train(fast_config(root / "b.npz", root / "run", epochs=1, bootstrap=0, tta="hflip",
                               operating_point="youden"), verbose=False)
    return root / "run", root / "b.npz", data


@pytest.fixture(scope="module")
def ml_run(tmp_path_factory):
    """A 1-epoch 3-label run with ``tta: hflip`` and ``--operating-point youden`` (one threshold per label)."""
    data = arrays(seed=30)
    return train_run(tmp_path_factory.mktemp("op_row_ml"), data, "youden", tta="hflip", epochs=1), data


def _own_warnings(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [str(w.message) for w in caught if issubclass(w.category, OperatingPointWarning)]


def _each_row_alone_is_the_row_of_the_matrix(p, q):
    """``decide`` and ``decide_at_operating_point`` of each row ``q[i]`` (1-D) give a list of one name: the name
    of row i decided with the others."""
    together, at_op = p.decide(q), p.decide_at_operating_point(q)
    assert at_op is not None and len(together) == len(at_op) == len(q)
    for i in range(len(q)):
        assert p.decide(q[i]) == [together[i]]
        assert p.decide_at_operating_point(q[i]) == [at_op[i]]


def test_a_binary_runs_vector_of_two_is_refused_as_ambiguous_and_one_row_of_it_is_decided(binary_run):
    # one image's two probabilities, or two images' positive-class scores: a review found [0.2, 0.9] decided as
    # one image, where decide had read a vector as scores per image before
    run, _, data = binary_run
    p = medtrain.load(run)
    q = p.predict(data["test_images"][:, None])
    assert q.shape == (16, 2)
    for decide in (p.decide, p.decide_at_operating_point):
        with pytest.raises(MedtrainError, match=r"must be \(N, 2\).*probs\[None\].*got shape \(2,\)"):
            decide(q[3])
        assert decide(q[3][None]) == [decide(q)[3]]


@pytest.mark.parametrize("calibrated", [True, False])
def test_one_multilabel_image_s_vector_is_one_row(ml_run, calibrated):
    run, data = ml_run
    p = medtrain.load(run, calibrated=calibrated)
    q = p.predict(data["test_images"][:, None])
    assert q.shape == (40, 3)
    _each_row_alone_is_the_row_of_the_matrix(p, q)
    assert len(set(p.decide_at_operating_point(q))) > 1  # the rows are not all decided alike


@pytest.mark.parametrize("shape", [(3,), (4, 1), (4, 3), (2, 4, 2), ()])
def test_another_shape_is_one_error_naming_n_by_c(binary_run, shape):
    p = medtrain.load(binary_run[0])
    probs = np.full(shape, 0.5, np.float32)
    for decide in (p.decide, p.decide_at_operating_point):
        with pytest.raises(MedtrainError, match=r"must be \(N, C\) with C = 2 .* got shape " + re.escape(str(shape))):
            decide(probs)


def test_load_without_tta_warns_that_the_threshold_was_chosen_with_tta(binary_run, ml_run):
    run, _, _ = binary_run
    t = medtrain.load(run).operating_point[1]
    p, said = _own_warnings(lambda: medtrain.load(run, tta=False))
    assert said == [f"operating point youden: its threshold {t:.6g} was chosen on validation probabilities averaged "
                    f"over the run's test-time views (tta hflip); predicting without TTA (--no-tta, tta=False), the "
                    f"probabilities differ and decisions at it (the prediction_at_operating_point column, "
                    f"decide_at_operating_point) may not keep the rates the rule chose (run {run})"]
    assert p.operating_point is not None  # still decided at it, now with the caveat said
    assert _own_warnings(lambda: medtrain.load(run))[1] == []  # with its TTA: nothing to say
    said = _own_warnings(lambda: medtrain.load(ml_run[0], tta=False))[1]
    assert len(said) == 1 and "its 3 thresholds were chosen" in said[0] and "(tta hflip)" in said[0]


def test_no_warning_without_an_operating_point_or_without_tta(binary_run):
    from medtrain.predictor import _warn_threshold_fitted_with_tta
    from medtrain.runmodel import load_run_module

    run = load_run_module(binary_run[0])
    assert _own_warnings(lambda: _warn_threshold_fitted_with_tta(run))[1]  # the run as it is: said
    no_op = {k: v for k, v in run.meta.items() if k not in ("threshold", "positive_class", "operating_point")}
    assert _own_warnings(lambda: _warn_threshold_fitted_with_tta(dataclasses.replace(run, meta=no_op)))[1] == []
    assert _own_warnings(lambda: _warn_threshold_fitted_with_tta(run.without_tta()))[1] == []  # fitted without TTA


def test_predict_no_tta_says_it_in_one_warning_line(binary_run, tmp_path, capsys):
    run, data, _ = binary_run
    code, out, err = run_cli(capsys, "predict", run, data, "--no-tta", "--out", tmp_path / "p.csv")
    assert code == 0, err
    lines = [line for line in err.splitlines() if "chosen on validation probabilities averaged" in line]
    assert len(lines) == 1 and lines[0].startswith("medtrain: warning: operating point youden: its threshold ")
    assert "(tta hflip)" in lines[0] and "Traceback" not in err
    code, out, err = run_cli(capsys, "predict", run, data, "--out", tmp_path / "q.csv")
    assert code == 0 and "averaged over the run's test-time views" not in err
