"""DropBlock (Ghiasi et al., NeurIPS 2018), the CNN member of the dropout family, is a setting: ``drop_block`` (flag
``--drop-block P``, a key of a config file and of ``compare --vary``) puts timm's DropBlock2d into the last two
stages of a ResNet-family network (timm's ``drop_block_rate``: blocks of 5 then 3 pixels, clamped to the feature
map, so the 7x7 and 4x4 maps of a 28 px image take it), and a network without those stages refuses it in one line.
Networks are built, not trained."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from timm.layers import DropBlock2d

from medtrain.errors import MedtrainError
from medtrain.models import create_model

pytestmark = pytest.mark.usefixtures("one_thread")

#: medtrain's default 2D network (its own 28 px builder) and the zoo's timm ResNet-18 at 28 px.
RESNETS = ["resnet18_28_half", "resnet18"]


def blocks_of(model: nn.Module) -> dict[str, DropBlock2d]:
    return {name: m for name, m in model.named_modules() if isinstance(m, DropBlock2d)}


def branches_live(model: nn.Module) -> nn.Module:
    """timm starts each residual branch at zero (its last batch norm's gamma = 0), which makes whatever a branch
    drops invisible at initialisation; gamma = 1 makes the branches count, as training does."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
    return model


@pytest.mark.parametrize("name", RESNETS)
def test_drop_block_sits_in_every_block_of_the_last_two_stages_at_the_probability_given(name):
    model = create_model(name, in_chans=1, num_classes=2, input_size=28, drop_block=0.2)
    blocks = blocks_of(model)
    assert sorted(blocks) == ["layer3.0.drop_block", "layer3.1.drop_block", "layer4.0.drop_block",
                              "layer4.1.drop_block"]
    assert {m.drop_prob for m in blocks.values()} == {0.2}
    # timm's block sizes (its drop_blocks): 5 in the third stage, 3 in the fourth
    assert [m.block_size for m in blocks.values()] == [5, 5, 3, 3]


@pytest.mark.parametrize("name", RESNETS)
def test_training_drops_blocks_at_random_and_evaluation_is_the_network_without_them(name):
    torch.manual_seed(0)
    dropping = branches_live(create_model(name, in_chans=1, num_classes=2, input_size=28, drop_block=0.2))
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        dropping.train()
        assert not torch.equal(dropping(x), dropping(x))  # the 7x7 and 4x4 maps of 28 px take their blocks
        plain = create_model(name, in_chans=1, num_classes=2, input_size=28)
        plain.load_state_dict(dropping.state_dict())  # DropBlock has no weights: the same tensors, strictly
        dropping.eval(), plain.eval()
        first = dropping(x)
        assert torch.equal(first, dropping(x)) and torch.equal(first, plain(x))


@pytest.mark.parametrize("name", RESNETS)
def test_drop_block_0_builds_the_network_as_before(name):
    off = create_model(name, in_chans=1, num_classes=2, input_size=28, drop_block=0.0)
    before = create_model(name, in_chans=1, num_classes=2, input_size=28)
    assert not blocks_of(off)
    assert [(n, type(m)) for n, m in off.named_modules()] == [(n, type(m)) for n, m in before.named_modules()]


@pytest.mark.parametrize("name", ["mobilenetv3_small_100", "densenet121", "vit_tiny_patch16_224", "med3d_resnet10",
                                  "resnetv2_50"])
def test_a_network_without_resnet_blocks_refuses_drop_block_in_one_line_naming_those_that_take_it(name):
    with pytest.raises(MedtrainError) as e:
        create_model(name, in_chans=1, num_classes=2, input_size=28, drop_block=0.1)
    said = str(e.value)
    assert "\n" not in said and f"model {name} does not support drop_block" in said
    assert "resnet18_28_half" in said and "ResNeXt" in said


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_a_probability_outside_0_1_is_refused(p):
    with pytest.raises(MedtrainError, match=r"drop_block must be in \[0, 1\)"):
        create_model("resnet18_28_half", in_chans=1, num_classes=2, drop_block=p)


def test_the_flag_a_config_file_and_compare_vary_reach_the_setting(tmp_path):
    from medtrain import config
    from medtrain.cli import build_parser
    from medtrain.cli._options import config_layers
    from medtrain.compare import parse_vary

    args = build_parser().parse_args(["train", "--dataset", "breastmnist", "--drop-block", "0.1"])
    assert config.resolve(*config_layers(args)).drop_block == 0.1
    path = tmp_path / "c.yaml"
    path.write_text("dataset: breastmnist\ndrop_block: 0.15\n")
    args = build_parser().parse_args(["train", "--config", str(path)])
    assert config.resolve(*config_layers(args)).drop_block == 0.15
    assert parse_vary(["drop_block=0,0.1"]) == {"drop_block": ["0", "0.1"]}
    assert config.resolve({"dataset": "breastmnist"}, {"drop_block": "0.1"}).drop_block == 0.1
    assert config.resolve({"dataset": "breastmnist"}).drop_block == 0.0  # off by default
    with pytest.raises(MedtrainError, match=r"drop_block must be in \[0, 1\)"):
        config.resolve({"dataset": "breastmnist"}, {"drop_block": "1"})


def test_the_run_builds_its_network_with_the_setting():
    """What ``train`` builds (and ``eval``/``predict`` rebuild) from a run's settings holds the DropBlock asked for."""
    from medtrain.config import resolve
    from medtrain.runmodel import _shape_only_splits
    from medtrain.training.build import build_model

    splits = _shape_only_splits({"in_chans": 1, "input_size": 28, "num_classes": 2, "task": "binary-class"})
    cfg = resolve({"dataset": "breastmnist", "model": "resnet18_28_half", "drop_block": 0.2})
    model, _ = build_model(cfg, splits, transfer=False)
    assert {m.drop_prob for m in blocks_of(model).values()} == {0.2} and len(blocks_of(model)) == 4
    with pytest.raises(MedtrainError, match="model vgg11 does not support drop_block"):
        build_model(resolve({"dataset": "breastmnist", "model": "vgg11", "drop_block": 0.2}), splits, transfer=False)
