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


def test_a_multi_label_overlay_says_whether_its_label_is_called():
    # an image with nothing called had an overlay titled "class Effusion (p = 0.439)": read as Effusion being there
    from types import SimpleNamespace

    from medtrain.explain.write import _target_words

    probs = np.array([[0.439, 0.2], [0.728, 0.1]])
    ml = SimpleNamespace(multilabel=True, probs=probs, labels=["Effusion", "Nodule"], operating_point=None,
                         label_thresholds={"Effusion": 0.454, "Nodule": 0.3})
    assert _target_words(ml, 0, 0) == "label Effusion (p = 0.439; not called at its threshold 0.454)"
    assert _target_words(ml, 1, 0) == "label Effusion (p = 0.728; called at its threshold 0.454)"
    at_half = SimpleNamespace(**{**vars(ml), "label_thresholds": None})
    assert _target_words(at_half, 0, 0) == "label Effusion (p = 0.439; not called at 0.5)"
    binary = SimpleNamespace(multilabel=False, probs=probs, labels=["normal", "tumour"], operating_point=None)
    assert _target_words(binary, 0, 0) == "class normal (p = 0.439)"  # a class's title as before
