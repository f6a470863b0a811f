"""``medtrain explain`` of a binary run with an operating point explains the class the run calls at that point,
``medtrain predict``'s ``prediction_at_operating_point``, and its overlay says so: it had explained the class at
0.5, so an image called 'tumour' at the operating point was shown as 'normal (p = 0.638)' (walk 'oppoint')."""
from __future__ import annotations

import numpy as np
import pytest

import medtrain
from conftest import run_cli, tiny_binary_run
from medtrain.explain import explain


@pytest.fixture(scope="module")
def op_run(tmp_path_factory):
    """A 1-epoch binary run whose operating point (sensitivity 0.99 on validation) lies away from 0.5."""
    run, _, arrays = tiny_binary_run(tmp_path_factory.mktemp("op"), flipped=3, tta="none",
                                     operating_point="sensitivity=0.99")
    return run, arrays["test_images"]


def test_explain_targets_the_class_called_at_the_operating_point(op_run):
    run, images = op_run
    p = medtrain.load(run)
    probs = p.predict(images)
    at_op, at_half = p.decide_at_operating_point(probs), p.decide(probs)
    assert at_op != at_half  # the operating point calls some images otherwise than 0.5 does
    res = explain(run, images)
    assert [res.labels[k] for k in res.targets] == at_op
    positive, threshold = res.operating_point
    assert (positive, threshold) == (p.labels[p.operating_point[2]], p.operating_point[1])


def test_the_command_writes_the_operating_points_classes(op_run, tmp_path, capsys):
    run, images = op_run
    p = medtrain.load(run)
    assert run_cli(capsys, "explain", run, "--out", tmp_path / "maps")[0] == 0
    saved = np.load(tmp_path / "maps" / "maps.npz")
    assert list(saved["target_name"]) == p.decide_at_operating_point(p.predict(images))
