"""A run with a source is built from the random state of its own initialisation seed (``init_seed(seed)``): its new
head, ``partial:K``'s upper stages and a scratch control beside the source are the network's own initialisation drawn
afresh, exactly as a network built from that seed is. They had been the source's initial values permuted (the same
multiset as the source's initialisation when the seeds match: not a draw of their own). A run without a source is
built from the run's random state as before, bit for bit, and leaves that state where it always did."""
from __future__ import annotations

import pytest
import torch

from medtrain.config import Config
from medtrain.data import load_splits
from medtrain.models import create_model
from medtrain.models.weights import save_weights
from medtrain.training.build import build_model
from medtrain.training.transfer import TransferPlan, init_seed

pytestmark = pytest.mark.usefixtures("one_thread")

MODEL = "resnet10_28_half"
#: tensors of the head and of partial:2's upper stages, drawn at random by the network's initialisation
UPPER = ("layer2.0.conv1.weight", "layer3.0.conv2.weight", "layer4.0.conv1.weight", "layer4.0.downsample.0.weight")
HEAD = ("fc.weight", "fc.bias")


def _net(splits, seed: int) -> dict:
    """The network's own initialisation from ``seed``: what a run of that seed without a source starts from."""
    torch.manual_seed(seed)
    net = create_model(MODEL, in_chans=splits.in_chans, num_classes=splits.num_classes, input_size=16)
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.fixture
def source(tiny_npz, tmp_path):
    """The data, and a source A whose weights are its initialisation from seed 0 (A's head init, the one a seed-0
    run would have permuted), saved as a weights file."""
    splits = load_splits(Config(data=str(tiny_npz), model=MODEL))
    a0 = _net(splits, 0)
    net = create_model(MODEL, in_chans=splits.in_chans, num_classes=splits.num_classes, input_size=16)
    net.load_state_dict(a0)
    w = tmp_path / "a.safetensors"
    save_weights(net, w, {"model": MODEL})
    return splits, a0, str(w)


def _built(splits, seed=0, **cfg):
    torch.manual_seed(seed)  # as fit's seed_everything leaves the torch generator before building the run's model
    model, plan = build_model(Config(data="x.npz", model=MODEL, seed=seed, **cfg), splits)
    return model.state_dict(), plan


def _permutation(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.equal(a.flatten().sort().values, b.flatten().sort().values)


def test_a_finetune_head_is_a_fresh_draw_not_the_sources_head_init_permuted(source):
    splits, a0, w = source
    b, plan = _built(splits, pretrained=w, transfer="finetune")
    fresh = _net(splits, init_seed(0))
    assert plan.init_seed == plan.to_dict()["init_seed"] == init_seed(0)
    for k in HEAD:
        assert not torch.equal(b[k], a0[k]), k
        assert not _permutation(b[k], a0[k]), k  # the permutation's multiset was the source's init's
        assert torch.equal(b[k], fresh[k]), k  # exactly the network's own initialisation from init_seed(0)
    assert torch.equal(b["layer3.0.conv2.weight"], a0["layer3.0.conv2.weight"])  # copied stages: the source's


def test_partial_upper_stages_are_the_networks_own_draw_from_init_seed(source):
    splits, a0, w = source
    b, plan = _built(splits, pretrained=w, transfer="partial:2")
    fresh = _net(splits, init_seed(0))
    assert plan.copied == ["stem", "layer1"] and plan.random == ["layer2", "layer3", "layer4"]
    for k in ("conv1.weight", "layer1.0.conv1.weight", "layer1.0.bn1.running_mean"):
        assert torch.equal(b[k], a0[k]), k
    for k in UPPER + HEAD:
        assert not _permutation(b[k], a0[k]), k
        assert torch.equal(b[k], fresh[k]), k
    other, plan1 = _built(splits, seed=1, pretrained=w, transfer="partial:2")  # another seed, another draw
    assert plan1.init_seed == init_seed(1) and torch.equal(other["layer2.0.conv1.weight"],
                                                           _net(splits, init_seed(1))["layer2.0.conv1.weight"])


def test_a_scratch_control_beside_a_source_is_not_the_sources_init(source):
    splits, a0, w = source
    b, plan = _built(splits, pretrained=w, transfer="scratch")
    fresh = _net(splits, init_seed(0))
    assert plan.init_seed == init_seed(0) and plan.copied == []
    assert b.keys() == fresh.keys() and all(torch.equal(b[k], fresh[k]) for k in fresh)
    for k in ("conv1.weight",) + UPPER + HEAD:
        assert not _permutation(b[k], a0[k]), k


def test_scale_draws_its_head_fresh_and_its_stages_at_the_sources_scale(source):
    splits, a0, w = source
    b, plan = _built(splits, pretrained=w, transfer="scale")
    fresh = _net(splits, init_seed(0))
    assert plan.init_seed == init_seed(0) and plan.copied == []
    for k in HEAD:
        assert torch.equal(b[k], fresh[k]) and not _permutation(b[k], a0[k]), k
    k = "layer3.0.conv2.weight"  # N(mu, sigma^2) of A's tensor, not A's values
    assert not _permutation(b[k], a0[k]) and abs(float(b[k].std() / a0[k].std()) - 1) < 0.05


def test_a_run_with_a_source_leaves_the_runs_random_state_as_it_found_it(source):
    splits, _, w = source
    torch.manual_seed(0)
    before = torch.get_rng_state()
    build_model(Config(data="x.npz", model=MODEL, seed=0, pretrained=w, transfer="finetune"), splits)
    assert torch.equal(torch.get_rng_state(), before)


def test_a_run_without_a_source_is_built_and_draws_on_as_before(source):
    """Bit for bit: the network of seed 0 without a source is the network's own initialisation from seed 0, twice, and
    the random state the rest of the run draws from is the one building it leaves (as before: nothing forked)."""
    splits, a0, _ = source
    torch.manual_seed(0)
    create_model(MODEL, in_chans=splits.in_chans, num_classes=splits.num_classes, input_size=16)
    after_plain = torch.get_rng_state()
    for _ in range(2):
        b, plan = _built(splits, transfer="scratch")
        assert plan is None
        assert b.keys() == a0.keys() and all(torch.equal(b[k], a0[k]) for k in a0)
        assert torch.equal(torch.get_rng_state(), after_plain)


def test_record_source_fills_the_named_fields_and_nothing_else():
    plan = TransferPlan("finetune")
    plan.record_source({"file": "a.safetensors", "sha256": "ab" * 32, "dataset": "tiny", "data": "tiny.npz",
                        "seed": 3, "medtrain": "1.2", "commit": "c0ffee", "strategy": "scale"})
    assert (plan.source_file, plan.source_sha256, plan.source_dataset, plan.source_data, plan.source_seed,
            plan.source_medtrain, plan.source_commit) == ("a.safetensors", "ab" * 32, "tiny", "tiny.npz", 3, "1.2",
                                                          "c0ffee")
    assert plan.strategy == "finetune"
