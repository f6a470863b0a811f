"""A run with a source draws its own initialisation afresh, not the source's: with the same seed (both default 0),
``partial:K``'s "re-initialised" stages and a scratch control beside a source had been built from exactly the random
state the source was built from, so they started as the source's initial weights (walkthrough: cosine 0.96-0.99 to
a 1-epoch source after training; seed 1: ~0.00). A run without a source keeps its initialisation bit for bit."""
from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch

from medtrain.config import Config
from medtrain.data import load_splits
from medtrain.models import create_model
from medtrain.models.weights import save_weights
from medtrain.training.build import build_model
from medtrain.training.transfer import init_seed

pytestmark = pytest.mark.usefixtures("one_thread")

MODEL = "resnet10_28_half"


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))


@pytest.fixture
def source(tiny_npz, tmp_path):
    """The data, and a source whose weights are its own initialisation from seed 0 (a source trained for one epoch
    is still close to it): the network a run of seed 0 starts from."""
    splits = load_splits(Config(data=str(tiny_npz), model=MODEL))
    torch.manual_seed(0)
    a0 = create_model(MODEL, in_chans=splits.in_chans, num_classes=splits.num_classes, input_size=16)
    w = tmp_path / "a.safetensors"
    save_weights(a0, w, {"model": MODEL})
    return splits, {k: v.clone() for k, v in a0.state_dict().items()}, str(w)


def _built(splits, seed=0, **cfg):
    pl.seed_everything(seed, verbose=False)  # as fit does before building the run's model
    return build_model(Config(data="x.npz", model=MODEL, seed=seed, **cfg), splits)


def test_partial_re_initialised_stages_are_not_the_sources_initial_weights(source):
    splits, a0, w = source
    model, plan = _built(splits, pretrained=w, transfer="partial:2")
    b = model.state_dict()
    assert plan.copied == ["stem", "layer1"] and plan.random == ["layer2", "layer3", "layer4"]
    assert plan.to_dict()["init_seed"] == init_seed(0) != 0
    for k in ("conv1.weight", "layer1.0.conv1.weight"):  # copied: the source's
        assert torch.equal(b[k], a0[k])
    for k in ("layer2.0.conv1.weight", "layer3.0.conv2.weight", "layer4.0.conv1.weight", "layer4.0.downsample.0.weight",
              "fc.weight"):
        assert not torch.equal(b[k], a0[k]), k
        assert abs(_cos(b[k], a0[k])) < 0.1, (k, _cos(b[k], a0[k]))  # the source's init had cosine 1.00
        # not the source's initial values at other places either (test_own_init_exact: a draw from init_seed)
        assert not torch.equal(b[k].flatten().sort().values, a0[k].flatten().sort().values), k
    assert torch.equal(b["layer4.0.bn2.weight"], a0["layer4.0.bn2.weight"])  # constants stay what they are
    other, _ = _built(splits, seed=1, pretrained=w, transfer="partial:2")  # another seed, another draw
    assert not torch.equal(other.state_dict()["layer2.0.conv1.weight"], b["layer2.0.conv1.weight"])


def test_a_scratch_control_beside_a_source_does_not_start_from_the_sources_init(source):
    splits, a0, w = source
    model, plan = _built(splits, pretrained=w, transfer="scratch")
    b = model.state_dict()
    assert plan.init_seed == init_seed(0)
    for k in ("conv1.weight", "layer1.0.conv1.weight", "layer3.0.conv1.weight", "fc.weight"):
        assert abs(_cos(b[k], a0[k])) < 0.2, (k, _cos(b[k], a0[k]))


def test_a_run_without_a_source_keeps_its_initialisation_bit_for_bit(source):
    splits, a0, _ = source
    model, plan = _built(splits, transfer="scratch")
    assert plan is None
    b = model.state_dict()
    assert b.keys() == a0.keys() and all(torch.equal(b[k], a0[k]) for k in a0)
