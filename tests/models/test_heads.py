"""Heads with a chosen dropout kind (build_head), dropout modules by name (make_dropout), replace_head."""
import warnings

import pytest
import torch
import torch.nn as nn
from timm.layers import DropBlock2d

from medtrain.errors import MedtrainError
from medtrain.models import create_model
from medtrain.models.heads import WithHead, build_head, make_dropout, replace_head
from medtrain.models.layers import AnnealedDropout, DropConnectLinear, Maxout, Standout, mc_predict, set_dropout_epoch


def test_default_head_is_a_linear_classifier_without_dropout():
    head = build_head(32, 5)
    assert [type(m) for m in head] == [nn.Identity, nn.Linear]
    assert head(torch.randn(2, 32)).shape == (2, 5)


@pytest.mark.parametrize(
    "kind, drop_type, fc_type",
    [
        ("dropout", nn.Dropout, nn.Linear),
        ("dropconnect", nn.Identity, DropConnectLinear),
        ("annealed", AnnealedDropout, nn.Linear),
        ("standout", Standout, nn.Linear),
    ],
)
def test_linear_head_with_each_dropout_kind(kind, drop_type, fc_type):
    head = build_head(32, 5, dropout_kind=kind, p=0.3, anneal_epochs=10)
    assert isinstance(head.drop, drop_type) and type(head.fc) is fc_type
    assert head(torch.randn(4, 32)).shape == (4, 5)
    head.eval()
    x = torch.randn(4, 32)
    assert torch.equal(head(x), head(x))


@pytest.mark.parametrize("p, drop_type", [(0.0, nn.Identity), (0.2, nn.Dropout)])
def test_maxout_head_with_and_without_dropout_before_it(p, drop_type):
    head = build_head(32, 5, p=p, head="maxout:3", hidden_features=16)
    assert list(dict(head.named_children())) == ["drop", "maxout", "drop_hidden", "fc"]
    assert isinstance(head.drop, drop_type) and isinstance(head.drop_hidden, drop_type)
    assert isinstance(head.maxout, Maxout) and head.maxout.k == 3 and head.maxout.out_features == 16
    assert head(torch.randn(2, 32)).shape == (2, 5)


def test_maxout_pieces_default_to_maxout_k_and_width_is_bounded():
    head = build_head(2048, 5, head="maxout", maxout_k=4)
    assert head.maxout.k == 4 and head.maxout.out_features == 512


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(dropout_kind="dropblock"), "unknown head dropout kind 'dropblock'"),
        (dict(head="maxot"), "did you mean maxout"),
        (dict(head="maxout:1"), "takes 2 to 32 pieces"),
        (dict(head="maxout:100000"), "takes 2 to 32 pieces"),  # it had died in a 26 GB allocation
        (dict(head="maxout", maxout_k=33), r"takes 2 to 32 pieces \(maxout:K\), got 33"),
        (dict(p=1.0), "drop probability"),
        (dict(dropout_kind="annealed", p=0.5), "anneal_epochs"),
        (dict(num_classes=0), "num_classes"),
    ],
)
def test_build_head_rejects_bad_parameters(kwargs, message):
    with pytest.raises(MedtrainError, match=message):
        build_head(**(dict(in_features=8, num_classes=2) | kwargs))


@pytest.mark.parametrize(
    "kind, module_type",
    [
        ("dropout", nn.Dropout),
        ("dropout2d", nn.Dropout2d),
        ("dropblock", DropBlock2d),
        ("annealed", AnnealedDropout),
        ("standout", Standout),
    ],
)
def test_make_dropout_by_name(kind, module_type):
    module = make_dropout(kind, 0.2, anneal_epochs=5, block_size=3)
    assert isinstance(module, module_type)
    x = torch.randn(2, 4, 8, 8)
    assert module(x).shape == x.shape
    assert isinstance(make_dropout(kind, 0.0, anneal_epochs=5), nn.Identity)


def test_spatial_dropout_drops_whole_channels():
    torch.manual_seed(0)
    y = make_dropout("dropout2d", 0.5)(torch.ones(8, 16, 4, 4))
    per_channel = y.flatten(2)
    assert ((per_channel == 0).all(-1) | (per_channel != 0).all(-1)).all()


def test_make_dropout_points_dropconnect_to_the_layer_and_suggests_names():
    with pytest.raises(MedtrainError, match="DropConnectLinear"):
        make_dropout("dropconnect", 0.5)
    with pytest.raises(MedtrainError, match="did you mean dropout2d"):
        make_dropout("dropout_2d", 0.5)


@pytest.fixture(scope="module")
def backbone_factory():
    return lambda **kw: create_model("resnet10_28_half", in_chans=1, num_classes=7, **kw)


def test_replace_head_keeps_backbone_and_head_and_timm_interface(backbone_factory):
    model = backbone_factory()
    width = model.num_features
    head = build_head(width, 3, "dropout", 0.2, head="maxout:2", hidden_features=8)
    wrapped = replace_head(model, head)
    assert isinstance(wrapped, WithHead) and wrapped.backbone is model and wrapped.head is head
    assert wrapped.get_classifier() is head and wrapped.num_features == width and wrapped.num_classes == 3
    x = torch.randn(2, 1, 28, 28)
    wrapped.eval()
    assert model(x).shape == (2, width)  # the backbone now outputs pooled features
    assert wrapped(x).shape == (2, 3)
    features = wrapped.forward_features(x)
    torch.testing.assert_close(wrapped.forward_head(features), wrapped(x))
    assert wrapped.forward_head(features, pre_logits=True).shape == (2, width)


def test_replace_head_rejects_a_head_of_the_wrong_width(backbone_factory):
    with pytest.raises(MedtrainError, match="takes 10 features"):
        replace_head(backbone_factory(), build_head(10, 3))


def test_replace_head_warns_about_dropout_in_backbone_and_head(backbone_factory):
    model = backbone_factory(dropout=0.3)
    with pytest.warns(UserWarning, match="dropout=0"):
        replace_head(model, build_head(model.num_features, 3, p=0.2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        replace_head(backbone_factory(), build_head(model.num_features, 3, p=0.2))


def test_a_replaced_head_supports_annealing_and_mc_dropout(backbone_factory):
    model = backbone_factory()
    wrapped = replace_head(model, build_head(model.num_features, 3, "annealed", 0.5, anneal_epochs=4)).eval()
    assert set_dropout_epoch(wrapped, 1) == [pytest.approx(0.375)]
    pred = mc_predict(wrapped, torch.randn(4, 1, 28, 28), T=3, task="multi-class")
    assert pred.probs.shape == (4, 3) and (pred.mutual_info > 0).any()
    assert not any(m.training for m in wrapped.modules())


def test_mc_predict_explains_timm_functional_dropout(backbone_factory):
    with pytest.raises(MedtrainError, match="drop_rate"):
        mc_predict(backbone_factory(dropout=0.3).eval(), torch.randn(2, 1, 28, 28), T=2, task="multi-class")


@pytest.mark.parametrize("head", ["maxout:100000", "maxout:33", "maxout:1"])
def test_a_run_s_settings_refuse_a_maxout_head_of_too_many_or_too_few_pieces(head):
    """``--head maxout:100000`` had died in training with a traceback (a 26 GB weight): refused with the settings."""
    from medtrain import config as config_mod

    with pytest.raises(MedtrainError, match=rf"^a maxout head takes 2 to 32 pieces \(maxout:K\), got {head[7:]}$"):
        config_mod.resolve({"head": head})
    assert config_mod.resolve({"head": "maxout:32"}).head == "maxout:32"
