"""``batch_norm=False`` (``--no-batch-norm``) on a timm network outside medtrain's zoo: "the same architecture with
every BatchNorm removed", as for the zoo's families, never its activations or its LayerNorms."""
import pytest
import torch
from torch import nn

from medtrain.errors import MedtrainError
from medtrain.models import create_model

BN = nn.modules.batchnorm._BatchNorm


def _count(model, kind) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def test_efficientnet_loses_its_batch_norms_and_keeps_every_activation():
    # timm's BatchNormAct2d holds the activation after each norm: 33 of its 49 SiLU went with the norms
    with_bn = create_model("efficientnet_b0", 1, 2, input_size=32)
    without = create_model("efficientnet_b0", 1, 2, input_size=32, batch_norm=False)
    assert _count(with_bn, BN) == 49 and _count(without, BN) == 0
    assert _count(without, nn.SiLU) == _count(with_bn, nn.SiLU) == 49
    bn_params = sum(p.numel() for m in with_bn.modules() if isinstance(m, BN) for p in m.parameters(recurse=False))
    assert sum(p.numel() for p in without.parameters()) == sum(p.numel() for p in with_bn.parameters()) - bn_params
    assert without(torch.randn(2, 1, 32, 32)).shape == (2, 2)


def test_a_network_whose_constructor_initialises_a_batch_norm_is_built_without_them():
    # RegNet zero-initialises each block's last BN weight: the Identity put there had no weight (a traceback)
    model = create_model("regnetx_002", 1, 2, input_size=32, batch_norm=False)
    assert _count(model, BN) == 0 and _count(model, nn.ReLU) == _count(create_model("regnetx_002", 1, 2), nn.ReLU)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 2)


@pytest.mark.parametrize("name, norm", [("convnext_atto", "LayerNorm2d"), ("vit_tiny_patch16_224", "LayerNorm")])
def test_a_network_without_batch_norm_is_refused_not_stripped_of_its_layer_norms(name, norm):
    with pytest.raises(MedtrainError, match=rf"--no-batch-norm: {name} has no BatchNorm layers.*{norm}"):
        create_model(name, 1, 2, input_size=32, batch_norm=False)


def test_a_zoo_network_without_batch_norm_is_refused_too():
    with pytest.raises(MedtrainError, match="--no-batch-norm: squeezenet1_1 has no BatchNorm layers"):
        create_model("squeezenet1_1", 1, 2, input_size=28, batch_norm=False)
