import pytest
import torch

import medtrain
from medtrain.errors import MedtrainError


def test_resnet18_28_keeps_a_28px_map_in_the_first_stage():
    m = medtrain.create_model("resnet18_28", in_chans=1, num_classes=2)
    feats = {}
    m.layer1.register_forward_hook(lambda mod, i, o: feats.update(l1=o.shape))
    assert m(torch.randn(2, 1, 28, 28)).shape == (2, 2)
    assert feats["l1"][-2:] == (28, 28)  # 3x3 stride-1 stem, no max-pool (MedMNIST's ResNet-18 (28))
    assert sum(p.numel() for p in m.parameters()) == pytest.approx(11.17e6, rel=0.01)


def test_batch_norm_switch_builds_the_same_network_without_bn():
    with_bn = medtrain.create_model("resnet18_28", 3, 5)
    without = medtrain.create_model("resnet18_28", 3, 5, batch_norm=False)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in with_bn.modules())
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in without.modules())
    convs = lambda net: [tuple(m.weight.shape) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs(with_bn) == convs(without)


def test_dropout_before_the_classifier_is_applied_in_training_only():
    m = medtrain.create_model("resnet10_28_half", 1, 2, dropout=0.5)
    seen = []
    m.get_classifier().register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    x = torch.rand(8, 1, 28, 28)
    m.eval()
    assert torch.equal(m(x), m(x))  # no dropout at evaluation
    plain = seen[-1]
    m.train()
    for mod in m.modules():  # batch norm on its running statistics, so only dropout differs from eval
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.eval()
    torch.manual_seed(0)
    m(x)
    dropped = seen[-1]
    live = plain != 0  # pooled ReLU features of the 256-wide last stage; a few channels are dead at init
    assert plain.shape == (8, 256) and live.float().mean() > 0.5
    kept = dropped[live] != 0
    assert 0.4 < kept.float().mean().item() < 0.6  # about half the classifier's inputs are zeroed ...
    assert torch.allclose(dropped[live][kept], 2 * plain[live][kept])  # ... and the rest scaled by 1 / (1 - p)


def test_any_timm_name_works_and_unknown_names_suggest():
    assert medtrain.create_model("resnet18", 1, 3)(torch.randn(1, 1, 64, 64)).shape == (1, 3)
    with pytest.raises(MedtrainError, match="did you mean resnet18_28"):
        medtrain.create_model("resnet18_82")
    with pytest.raises(MedtrainError, match="dropout"):
        medtrain.create_model("resnet18_28", dropout=1.0)


@pytest.mark.parametrize("args, kwargs, message", [
    (("resnet18_28", 1, 2), {"foo": 3}, "resnet18_28 does not support these options"),  # was a bare TypeError
    (("resnet18_28", 1.5, 2), {}, "in_chans and num_classes must be integers >= 1, got 1.5"),  # was a ValueError
    (("resnet18_28", "1", 2), {}, "integers >= 1, got '1'"),  # was a TypeError from a comparison
])
def test_bad_arguments_of_a_registered_network_are_one_medtrain_error(args, kwargs, message):
    with pytest.raises(MedtrainError, match=message):
        medtrain.create_model(*args, **kwargs)


def test_numpy_integers_are_channel_and_class_counts():
    import numpy as np

    assert medtrain.create_model("resnet10_28_half", np.int64(1), np.int32(3))(torch.zeros(1, 1, 28, 28)).shape == (1, 3)


def test_an_unknown_model_far_from_every_name_points_to_the_zoo_instead_of_listing_it():
    """The error had listed all ~60 names of the zoo on one line; a close name is still suggested."""
    from medtrain.errors import MedtrainError
    from medtrain.models.factory import check_model_name

    with pytest.raises(MedtrainError) as far:
        check_model_name("nonexist")
    assert "`medtrain models` lists them" in str(far.value) and "alexnet" not in str(far.value)
    with pytest.raises(MedtrainError, match="did you mean resnet18"):
        check_model_name("resnt18")
