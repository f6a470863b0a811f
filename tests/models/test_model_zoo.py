"""The architecture zoo: every family builds for any channels and classes, at 28 px and at 224 px."""
import pytest
import torch
import torch.nn as nn

import medtrain
from medtrain.errors import MedtrainError
from medtrain.models import list_models
from medtrain.models.zoo import FAMILIES

# The cheapest network of each family stands for it (the others differ only in depth or width).
REPRESENTATIVE = {
    "AlexNet": "alexnet",
    "VGG": "vgg11_bn",
    "ResNet": "resnet18",
    "ResNeXt": "resnext50_32x4d",
    "Wide ResNet": "wide_resnet50_2",
    "DenseNet": "densenet121",
    "SqueezeNet": "squeezenet1_1",
    "GoogLeNet": "googlenet",
    "Inception v3": "inception_v3",
    "Inception-ResNet v2": "inception_resnet_v2",
    "Xception": "xception",
    "ShuffleNet v2": "shufflenet_v2_x0_5",
    "MobileNet v1": "mobilenetv1_025",
    "MobileNet v2": "mobilenetv2_100",
    "MobileNet v3": "mobilenetv3_small_100",
    "MNASNet": "mnasnet_100",
}
# Every family runs forward and backward at 224 px (one image); the heaviest (VGG and WRN: 7-11 GMACs,
# 70-130M parameters to initialise) and the 299 px Inception designs are marked slow.
SLOW_AT_224 = {"vgg11_bn", "wide_resnet50_2", "inception_v3", "inception_resnet_v2", "xception"}


@pytest.fixture
def native_vgg_conv(name, monkeypatch):
    """oneDNN re-lays out the 102M weights of VGG's 7x7 pre-logits convolution on every call, forward and
    backward (3x ATen's own kernel on one thread); what these tests check does not depend on the CPU kernel."""
    if name in FAMILIES["VGG"]["names"]:
        monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)


def _backward(model: nn.Module, x: torch.Tensor, classes: int) -> None:
    out = model(x)
    assert out.shape == (x.shape[0], classes)
    out.sum().backward()
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first.weight.grad is not None and first.in_channels == x.shape[1]


def test_the_zoo_covers_every_requested_family_and_keeps_the_28px_resnets():
    assert set(REPRESENTATIVE) == set(FAMILIES)
    assert {n for f in FAMILIES.values() for n in f["names"]} >= {
        "vgg11", "vgg11_bn", "vgg19", "vgg19_bn", "resnet152", "resnext101_32x4d", "wide_resnet101_2",
        "densenet161", "densenet201", "squeezenet1_0", "mobilenetv1_025", "mobilenetv1_050", "mobilenetv1_075",
        "mobilenetv1_100", "mobilenetv3_large_100",
    }
    assert {"resnet18_28", "resnet50_28", "resnet18_28_half", "resnet10_28_half"} <= set(list_models())
    sources = {f: e["source"] for f, e in FAMILIES.items()}
    assert {f for f, s in sources.items() if s == "torchvision"} == {"AlexNet", "SqueezeNet", "GoogLeNet", "ShuffleNet v2"}


@pytest.mark.parametrize("name", REPRESENTATIVE.values())
def test_every_family_trains_on_one_28px_grey_image(name, native_vgg_conv):
    torch.manual_seed(0)
    model = medtrain.create_model(name, in_chans=1, num_classes=3, input_size=28).train()
    _backward(model, torch.randn(1, 1, 28, 28), 3)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_AT_224 else n for n in REPRESENTATIVE.values()],
)
def test_every_family_runs_at_224px_with_its_stock_stem(name, native_vgg_conv):
    torch.manual_seed(0)
    model = medtrain.create_model(name, in_chans=3, num_classes=2)
    x = torch.randn(1, 3, 224, 224)
    _backward(model.train(), x, 2)  # forward and backward for every family


def test_small_inputs_get_the_medmnist_stem_so_a_28px_image_ends_in_a_4x4_map():
    stock = medtrain.create_model("resnet18", 1, 2).eval()
    small = medtrain.create_model("resnet18", 1, 2, input_size=28).eval()
    reference = medtrain.create_model("resnet18_28", 1, 2)
    x = torch.randn(1, 1, 28, 28)
    assert stock.forward_features(x).shape[-2:] == (1, 1)
    assert small.forward_features(x).shape[-2:] == (4, 4)
    shapes = lambda m: [tuple(p.shape) for p in m.parameters()]
    assert shapes(small) == shapes(reference)  # input_size=28 builds exactly MedMNIST's ResNet-18 (28)


def test_alexnet_stock_stem_cannot_see_a_28px_image_but_the_adapted_one_can():
    with pytest.raises(RuntimeError):
        with torch.no_grad():
            medtrain.create_model("alexnet", 1, 2).eval()(torch.randn(1, 1, 28, 28))
    with torch.no_grad():
        assert medtrain.create_model("alexnet", 1, 2, input_size=28).eval()(torch.randn(1, 1, 28, 28)).shape == (1, 2)


def test_input_size_above_64_builds_the_stock_timm_network():
    ours = medtrain.create_model("mobilenetv2_100", 3, 10, input_size=96)
    import timm

    theirs = timm.create_model("mobilenetv2_100", num_classes=10)
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    assert ours.conv_stem.stride == (2, 2)


def test_batch_norm_false_removes_every_norm_but_keeps_fused_activations():
    with_bn = medtrain.create_model("mobilenetv2_100", 1, 2, input_size=28)
    without = medtrain.create_model("mobilenetv2_100", 1, 2, input_size=28, batch_norm=False)
    acts = lambda m: sum(isinstance(x, nn.ReLU6) for x in m.modules())
    assert not any(isinstance(x, nn.modules.batchnorm._BatchNorm) for x in without.modules())
    assert acts(without) == acts(with_bn) > 0
    assert without(torch.randn(1, 1, 28, 28)).shape == (1, 2)
    gnet = medtrain.create_model("googlenet", 1, 2, input_size=28, batch_norm=False)
    assert not any(isinstance(x, nn.BatchNorm2d) for x in gnet.modules())


def test_dropout_reaches_each_family_classifier():
    alex = medtrain.create_model("alexnet", 1, 2, dropout=0.3)
    assert {m.p for m in alex.modules() if isinstance(m, nn.Dropout)} == {0.3}
    # dropout 0 (the default) is none for every family: AlexNet, SqueezeNet and GoogLeNet had kept torchvision's
    # 0.5 / 0.5 / 0.2 while the run recorded dropout 0.0 (a walk)
    for name in ("alexnet", "squeezenet1_1", "googlenet"):
        built = medtrain.create_model(name, 1, 2, input_size=28)
        assert {m.p for m in built.modules() if isinstance(m, nn.Dropout)} <= {0.0}, name
    shuffle = medtrain.create_model("shufflenet_v2_x0_5", 1, 2, dropout=0.2)
    assert isinstance(shuffle.fc[0], nn.Dropout) and shuffle.fc[0].p == 0.2
    assert medtrain.create_model("mobilenetv1_025", 1, 2, dropout=0.2).drop_rate == 0.2


def test_options_a_family_lacks_are_user_errors():
    with pytest.raises(MedtrainError, match="drop_path"):
        medtrain.create_model("googlenet", 1, 2, drop_path=0.1)
    with pytest.raises(MedtrainError, match="drop_path"):
        medtrain.create_model("squeezenet1_1", 1, 2, drop_path=0.1)
    resnet = medtrain.create_model("resnet18", 1, 2, drop_path=0.1, input_size=28)
    from timm.layers import DropPath
    rates = [m.drop_prob for m in resnet.modules() if isinstance(m, DropPath)]
    # timm's linear rule over the 8 blocks: 0.1 * i / 7, the first block's 0 an Identity
    assert rates == pytest.approx([0.1 * i / 7 for i in range(1, 8)])


def test_unregistered_timm_names_still_pass_through_and_ignore_input_size():
    import timm

    model = medtrain.create_model("resnet10t", 1, 3, input_size=28).eval()
    plain = timm.create_model("resnet10t", in_chans=1, num_classes=3)
    shapes = lambda m: [(k, tuple(v.shape)) for k, v in m.state_dict().items()]  # noqa: E731
    assert shapes(model) == shapes(plain)  # timm's network as it is: no 28 px stem swapped in
    assert model.conv1[0].stride == (2, 2) and isinstance(model.maxpool, nn.MaxPool2d)
    with torch.no_grad():
        assert model(torch.randn(1, 1, 32, 32)).shape == (1, 3)


def test_torchvision_families_take_any_number_of_input_channels_at_224():
    for name, stem in (("squeezenet1_1", lambda m: m.features[0]), ("shufflenet_v2_x0_5", lambda m: m.conv1[0])):
        model = medtrain.create_model(name, in_chans=1, num_classes=4)
        assert stem(model).in_channels == 1 and stem(model).stride == (2, 2)
