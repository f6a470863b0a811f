"""I3D inflation: on a volume of identical slices the 3D twin computes what the 2D model computes."""
import pytest
import timm
import torch
import torch.nn as nn

from medtrain.errors import MedtrainError
from medtrain.models import create_model
from medtrain.models.inflate import DepthPadConv3d, inflate_conv, inflate_model


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest.one_thread


def _randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial running statistics and affine parameters, as a trained model has."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return model.eval()


def _stack(x2d: torch.Tensor, depth: int) -> torch.Tensor:
    return x2d.unsqueeze(2).expand(-1, -1, depth, -1, -1).contiguous()


def _small_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 5, padding=2, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AvgPool2d(3, stride=1, padding=1),
        nn.Dropout2d(0.1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3),
    )


def test_conv_inflation_repeats_the_kernel_and_divides_by_its_depth():
    conv = nn.Conv2d(2, 3, 3, padding=1)
    c3 = inflate_conv(conv)
    assert c3.kernel_size == (3, 3, 3) and c3.padding == (1, 1, 1)
    assert torch.allclose(c3.weight.sum(2), conv.weight, atol=1e-6)
    assert torch.equal(c3.bias, conv.bias)


def test_sequential_cnn_matches_the_2d_model_away_from_the_depth_borders():
    m2 = _randomise_bn(_small_cnn())
    m3 = inflate_model(m2).eval()
    x = torch.rand(2, 1, 16, 16)
    v = _stack(x, 24)
    acts2, acts3 = {}, {}
    for name, mod in m2.named_children():
        mod.register_forward_hook(lambda m, i, o, n=name: acts2.update({n: o}))
    for name, mod in m3.named_children():
        mod.register_forward_hook(lambda m, i, o, n=name: acts3.update({n: o}))
    with torch.no_grad():
        m2(x), m3(v)
    for n in ("0", "1", "2", "4", "5", "6"):
        a2, a3 = acts2[n], acts3[n]
        # compare the central half of the slices: the zeros padded at the depth borders reach inwards
        # by the receptive field (depth halves at the max-pool, index 3)
        depth = a3.shape[2]
        for d in range(depth // 4, depth - depth // 4):
            assert torch.allclose(a3[:, :, d], a2, atol=1e-5), (n, d)
    # zero padding does change the border slices
    assert not torch.allclose(acts3["0"][:, :, 0], acts2["0"], atol=1e-5)


def test_replicate_depth_padding_makes_the_identity_exact_everywhere():
    m2 = _randomise_bn(_small_cnn())
    m3 = inflate_model(m2, padding_mode="replicate").eval()
    assert isinstance(m3[0], DepthPadConv3d)
    x = torch.rand(3, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(m3(_stack(x, 6)), m2(x), atol=1e-5)


def test_medtrain_resnet18_28_inflates_with_equal_logits():
    m2 = _randomise_bn(create_model("resnet18_28", in_chans=1, num_classes=2))
    m3 = inflate_model(m2, padding_mode="replicate").eval()
    assert list(m3.state_dict()) == list(m2.state_dict())  # same names: 2D checkpoints map 1:1
    assert not any(isinstance(m, (nn.Conv2d, nn.BatchNorm2d)) for m in m3.modules())
    assert m3.conv1.weight.shape == (64, 1, 3, 3, 3)
    x = torch.rand(1, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(m3(_stack(x, 3)), m2(x), atol=1e-4)
    # the 2D model is left as it was
    assert isinstance(m2.conv1, nn.Conv2d) and m2.conv1.weight.ndim == 4


def test_timm_resnet_with_7x7_stem_and_maxpool_inflates():
    torch.manual_seed(1)
    m2 = _randomise_bn(timm.create_model("resnet10t", pretrained=False, in_chans=1, num_classes=3))
    m3 = inflate_model(m2, padding_mode="replicate").eval()
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():  # depth is strided like height: it must be as deep as the image is high
        out2, out3 = m2(x), m3(_stack(x, 32))
    assert out3.shape == (1, 3)
    assert torch.allclose(out3, out2, atol=1e-4)


def test_timm_fast_global_pool_is_replaced():
    torch.manual_seed(2)
    m2 = _randomise_bn(timm.create_model("resnet18", pretrained=False, in_chans=1, num_classes=2,
                                         global_pool="fast"))
    m3 = inflate_model(m2, padding_mode="replicate").eval()
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(m3(_stack(x, 2)), m2(x), atol=1e-4)


def test_a_2d_module_without_3d_twin_is_named_in_the_error():
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sequential(nn.InstanceNorm2d(2)))
    with pytest.raises(MedtrainError, match=r"1\.0 of type InstanceNorm2d"):
        inflate_model(m)
    with pytest.raises(MedtrainError, match="padding_mode"):
        inflate_model(nn.Conv2d(1, 1, 1), padding_mode="reflect")


def _trained_like(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights everywhere (as after loading a trained 2D checkpoint), batch-norm statistics included."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return _randomise_bn(model, seed)


@pytest.mark.parametrize("name", ["resnet18_28_half", "resnet10_28_half"])
@pytest.mark.parametrize("head", ["linear", "maxout:2"])
def test_default_2d_networks_with_a_custom_head_inflate_to_equal_logits(name, head):
    from medtrain.models.heads import build_head, feature_width, replace_head

    torch.manual_seed(0)
    backbone = create_model(name, in_chans=1, num_classes=3, input_size=16)
    m2 = _trained_like(replace_head(backbone, build_head(feature_width(backbone), 3, "dropout", 0.5, head=head)))
    m3 = inflate_model(m2, padding_mode="replicate").eval()
    # every 2D weight is kept: same names, kernels repeated over depth / depth, the rest unchanged
    s2, s3 = m2.state_dict(), m3.state_dict()
    assert list(s3) == list(s2)
    for k, w2 in s2.items():
        w3 = s3[k]
        if w3.ndim == 5:
            assert torch.allclose(w3, w2.unsqueeze(2).expand_as(w3) / w3.shape[2]), k
        else:
            assert torch.equal(w3, w2), k
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        logits2 = m2(x)
        torch.testing.assert_close(m3(_stack(x, 8)), logits2, atol=1e-5, rtol=1e-4)
    assert logits2.std() > 0.01  # not a degenerate comparison of constants


def test_separable_twin_of_a_resnet_inflates_to_equal_logits():
    m2 = _trained_like(create_model("resnet10_28_half-separable", in_chans=1, num_classes=2, input_size=16))
    m3 = inflate_model(m2, padding_mode="replicate").eval()
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(m3(_stack(x, 4)), m2(x), atol=1e-5, rtol=1e-4)


def test_check_inflatable_refuses_a_family_by_name_before_anything_is_built():
    from medtrain.models.inflate import check_inflatable

    for ok in ("resnet18_28_half", "resnet50-separable", "alexnet", "med3d_resnet10", "a_timm_only_name"):
        check_inflatable(ok)
    with pytest.raises(MedtrainError, match=r"model mobilenetv2_100 \(MobileNet v2\) cannot be inflated to 3D"):
        check_inflatable("mobilenetv2_100")
