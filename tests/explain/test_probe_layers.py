"""Grad-CAM of a linear-probe run names its network's layers as the same network trained does: its stage names had
been "no such module" (a probe wraps the frozen network, its modules under ``model.``), and the default fell to an
inner convolution of layer3 (a walk); a probe of an earlier stage is explained at or below the stage it pools (the
stages above it give no gradient)."""
from __future__ import annotations

import numpy as np
import pytest

import medtrain
from conftest import fast_config
from medtrain.errors import MedtrainError
from medtrain.explain import check_layer, default_layer, explain
from medtrain.runmodel import load_run_module


@pytest.fixture(scope="module")
def probes(trained_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("probes")
    run, data, _ = trained_run
    for name, layer in (("head", None), ("layer1", "layer1")):
        medtrain.train(fast_config(data, root / name, pretrained=str(run), transfer="linear-probe", tta="none", model="auto",
                                   bootstrap=0, **({"probe_layer": layer} if layer else {})), verbose=False)
    return root


def test_a_probe_is_explained_at_its_networks_stage_names_as_the_trained_network_is(trained_run, probes):
    trained, probe = load_run_module(trained_run[0]), load_run_module(probes / "head")
    assert default_layer(probe) == default_layer(trained) == "layer2"  # (16 px images: layer2's 8x8 map)
    assert check_layer(probe, "layer2") == "layer2"
    maps = explain(probe, limit=8).maps  # (class 0's images, without the bright square, give blank maps)
    assert maps.shape[0] == 8 and np.ptp(maps, axis=(1, 2)).max() == 1  # gradients reach the probed network


def test_a_probe_of_an_earlier_stage_is_explained_at_or_below_it(probes):
    probe = load_run_module(probes / "layer1")
    assert default_layer(probe) == "layer1"
    with pytest.raises(MedtrainError, match="^--layer layer3: the probe pools layer1, and the layers above it are not "
                                            "run; use layer1 or one below it$"):
        check_layer(probe, "layer3")
