"""``medtrain explain`` of a run trained with ``--mc-dropout N``: each map is of one pass of the network with dropout
off (the same maps every call, those of the same weights without MC dropout), while the probabilities, and so the
class explained and the p of each overlay, are predict's: the mean of the N passes. It had been said nowhere a user
of the command or of the maps reads (the CLI line, ``maps.npz``, ``Explanation``): now it is."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import medtrain
from medtrain.explain import explain
from medtrain.predictor import Predictor
from medtrain.runmodel import untrained_run_model

from conftest import fast_config, make_images, run_cli


@pytest.mark.parametrize("method", ["gradcam", "occlusion"])
def test_mc_dropout_maps_are_one_pass_with_dropout_off_and_the_probabilities_predicts(method):
    run = untrained_run_model("resnet10_28_half", input_size=16, dropout=0.5, mc_dropout=4)
    plain = dataclasses.replace(run, cfg=dataclasses.replace(run.cfg, mc_dropout=0))
    # 3 images: occlusion is ~170 forward passes an image, and each of the 7 explanations here scores them all
    x = torch.as_tensor(make_images(3, seed=5)[0])[:, None]  # (3, 1, 16, 16) uint8
    first, again, without = (explain(r, x, method=method) for r in (run, run, plain))
    assert first.mc_dropout == 4 and without.mc_dropout == 0
    np.testing.assert_array_equal(first.maps, again.maps)  # no mask drawn: the same maps every call
    p = Predictor(run).predict(x)
    np.testing.assert_allclose(first.probs, p, atol=1e-6)  # predict's: the passes' mean
    np.testing.assert_array_equal(first.targets, np.asarray(p).argmax(1))  # the class predict decides is explained
    assert np.abs(first.probs - without.probs).max() > 1e-4  # which the plain pass does not give
    for k in (0, 1):  # of one class, the maps are those of the network with dropout off
        np.testing.assert_array_equal(explain(run, x, method=method, target=k).maps,
                                      explain(plain, x, method=method, target=k).maps)
    assert not any(m.training for m in run.module.modules())  # the run is left in evaluation mode


def test_explain_of_an_mc_dropout_run_says_how_its_maps_and_p_are_made(tiny_npz, tmp_path, capsys):
    run = tmp_path / "run"
    medtrain.train(fast_config(tiny_npz, run, epochs=1, dropout=0.5, mc_dropout=3, bootstrap=0), verbose=False)
    code, out, err = run_cli(capsys, "explain", run, "--limit", "4", "--out", tmp_path / "maps")
    assert code == 0, err
    assert out.strip().endswith("; the maps are of one pass with dropout off, each p the mean of the run's 3 "
                                "MC-dropout passes, as predict gives it"), out
    with np.load(tmp_path / "maps" / "maps.npz") as z:
        assert int(z["mc_dropout"]) == 3
        images, target, probability = z["images"], z["target"], z["probability"]
    predicted = medtrain.load(run).predict(images)  # the overlays' p: predict's probabilities
    np.testing.assert_allclose(probability, np.asarray(predicted)[np.arange(len(target)), target], atol=1e-6)
