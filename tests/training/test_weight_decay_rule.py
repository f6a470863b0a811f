"""Which parameters weight decay leaves alone: timm's rule (``param_groups_weight_decay``), as README states it:
tensors of one dimension or none, names ending in ``.bias``, and what the network's ``no_weight_decay()`` names."""
import pytest
import torch
from torch import nn

from medtrain.models import create_model
from medtrain.training.optim import build_optimizer


def _decay_of(model, **kwargs) -> dict:
    opt = build_optimizer(model, "adamw", 1e-3, 0.5, **kwargs)
    by_id = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    return {name: by_id[id(p)] for name, p in model.named_parameters()}


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    return create_model("vit_tiny_patch16_224", 1, 2, input_size=32)


def test_a_vit_position_embedding_and_class_token_are_not_decayed(vit):
    assert {"pos_embed", "cls_token"} <= set(vit.no_weight_decay())
    decay = _decay_of(vit)
    assert decay["pos_embed"] == decay["cls_token"] == 0.0  # 3-D tensors, excluded by the network's own list
    assert decay["patch_embed.proj.weight"] == decay["blocks.0.attn.qkv.weight"] == 1.0  # 2 x lambda
    assert decay["blocks.0.norm1.weight"] == decay["head.bias"] == 0.0


def test_the_exclusions_follow_a_network_wrapped_in_another_module(vit):
    decay = _decay_of(nn.Sequential(vit))  # an ensemble's member, a network behind a new head: names prefixed
    assert decay["0.pos_embed"] == decay["0.cls_token"] == 0.0 and decay["0.patch_embed.proj.weight"] == 1.0


def test_decay_norm_and_bias_decays_every_parameter(vit):
    assert set(_decay_of(vit, decay_norm_and_bias=True).values()) == {1.0}


def test_a_convnext_layer_scale_is_not_decayed():
    model = create_model("convnext_atto", 1, 2, input_size=32, ls_init_value=1e-6)
    decay = _decay_of(model)
    assert decay["stages.0.blocks.0.gamma"] == 0.0 and decay["stages.0.blocks.0.conv_dw.weight"] == 1.0
