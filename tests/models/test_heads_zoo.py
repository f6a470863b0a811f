"""Custom heads (every dropout kind, linear or maxout) and MC dropout on every family and code path of the zoo.

What the training code does with ``--dropout-kind``/``--head``/``--mc-dropout``: build the backbone,
``replace_head`` with ``build_head(feature_width(model), ...)``, and for volumes inflate a 2D network.
Every network of ``list_models()`` must give (N, classes) logits, deterministic in evaluation and varying
across MC passes; 2D networks whose family inflates must also do so with the head on a small volume,
and the others must be refused with a MedtrainError naming the module, not fail inside forward.
Networks that differ from another of their family only in depth or width (the same class, block type, stem and
shortcut: VGG-13/16/19 and VGG-11, ResNet-34/101/152 and ResNet-18/50, ...) are stood in for by it (``STAND_IN``,
checked against ``family_of``); a network not listed there, a new one included, is tested itself.
"""
import math
import re

import pytest
import torch

from medtrain.errors import MedtrainError
from medtrain.models import create_model, list_models
from medtrain.models.heads import WithHead, build_head, feature_width, replace_head
from medtrain.models.inflate import INFLATABLE_FAMILIES, check_inflatable, inflate_model
from medtrain.models.layers import mc_dropout_mode, mc_predict
from medtrain.models.zoo import family_of

NUM_CLASSES = 3
# (dropout_kind, head) cycled over the zoo so that every family meets several kinds; the default
# networks meet them all in test_every_head_variant_on_the_default_networks.
VARIANTS = [("dropout", "maxout:2"), ("dropconnect", "linear"), ("annealed", "maxout:3"), ("standout", "linear")]
# A quick run (-m "not slow") covers the default networks and one cheap member of every family; the
# rest of the zoo (the deep, wide and VGG networks: seconds each on a shared CPU) is marked slow.
FAST = {
    "resnet10_28_half", "resnet18_28_half", "resnet18_28", "resnet18", "resnext50_32x4d", "alexnet",
    "densenet121", "squeezenet1_1", "googlenet", "inception_v3", "inception_resnet_v2", "xception",
    "shufflenet_v2_x0_5", "mobilenetv1_050", "mobilenetv2_100", "mobilenetv3_small_100", "mnasnet_100",
    "med3d_resnet10", "med3d_resnet18", "resnet10_3d",
}
# A randomly initialised Inception v3 at 16 px pools features that are 0 (after ReLU: dropping them
# changes nothing) or 1e4 and more, where standout's keep probability sigmoid(alpha * a + beta) is 1:
# its MC passes are (rightly) identical. Standout itself is tested on the default networks.
OVERRIDES = {"inception_v3": ("annealed", "linear")}
INFLATE_FAST = {"resnet18_28_half", "resnet10_28_half", "alexnet", "squeezenet1_1"}  # inflated forward
REFUSE_FAST = {"vgg11", "densenet121", "googlenet", "mobilenetv1_050", "shufflenet_v2_x0_5", "xception"}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest.one_thread


def _is_3d(name: str) -> bool:
    return name.endswith("_3d") or name.startswith("med3d_")


#: Network -> the one of its family that stands for it here: the same class, block type, stem and shortcut, only
#: deeper or wider (the head, MC dropout and inflation code see the same modules). Kept apart: basic and bottleneck
#: blocks, the two SqueezeNet and MobileNet v3 designs, the 28 px ResNets (basic and
#: bottleneck), and the
#: 3D ResNets by stem (``resnet*_3d``, ``med3d_*``), block and shortcut (MedicalNet's A at depths 18 and 34).
STAND_IN = {
    # with or without batch norm in ``features``: the same VGG class, head and pre-logits (whose 2D-only
    # ConvMlp is where inflation is refused); BatchNorm2d's inflation and eval mode are the ResNets'
    **{n: "vgg11" for n in ("vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")},
    "resnet34": "resnet18",
    **{n: "resnet50" for n in ("resnet101", "resnet152")},
    **{n: "resnext50_32x4d" for n in ("resnext101_32x4d", "resnext101_32x8d")},
    "wide_resnet101_2": "wide_resnet50_2",
    **{n: "densenet121" for n in ("densenet161", "densenet169", "densenet201")},
    **{n: "shufflenet_v2_x0_5" for n in ("shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0")},
    **{n: "mobilenetv1_050" for n in ("mobilenetv1_025", "mobilenetv1_075", "mobilenetv1_100")},
    "resnet18_28": "resnet18_28_half",
    **{f"resnet{d}_3d": "resnet10_3d" for d in (18, 34)},
    **{f"resnet{d}_3d": "resnet50_3d" for d in (101, 152, 200)},
    "med3d_resnet34": "med3d_resnet18",
    **{f"med3d_resnet{d}": "med3d_resnet50" for d in (101, 152, 200)},
}


def test_every_network_is_tested_or_stood_in_for_by_one_of_its_family():
    names = set(list_models())
    assert set(STAND_IN) <= names and not set(STAND_IN.values()) & set(STAND_IN)
    for name, stand_in in STAND_IN.items():
        assert family_of(name) == family_of(stand_in) and _is_3d(name) == _is_3d(stand_in), name
        assert name.startswith("med3d_") == stand_in.startswith("med3d_"), name


# 2D names first, in the inflation test's order: a scope="module" parametrization groups the tests of one
# name by its index, so the `headed` network is built once for both tests that read it (in any other
# order each test would merely build its own).
NAMES = sorted((n for n in list_models() if n not in STAND_IN), key=_is_3d)


def _variant(name: str) -> tuple:
    return OVERRIDES.get(name) or VARIANTS[list_models().index(name) % len(VARIANTS)]


def _input(name: str) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(2, 1, 8, 8, 8) if _is_3d(name) else torch.randn(2, 1, 16, 16)


#: Families whose own initialisation draws every convolution's weights again (timm's VGG, Xception, Inception v3,
#: MobileNets, MNASNet; the 3D networks): PyTorch's default draw before it is skipped (_build).
FAMILY_DRAWS_CONVS = {"VGG", "Xception", "Inception v3", "MobileNet v1", "MobileNet v2", "MobileNet v3", "MNASNet"}


def _build(name: str) -> torch.nn.Module:
    """``name`` as the training code builds it (no dropout in the backbone when the head brings its own). Where its
    family draws every convolution's weights again, PyTorch's default draw before it is skipped (the network is then
    the family's own initialisation, as in training): that first draw had been ~40% of building the VGG networks
    (102M weights in one 7x7 convolution). Those weights are zeroed instead, and every convolution of the built
    network must have been drawn again (a family that kept one zero would be caught here)."""
    from torch.nn.modules.conv import _ConvNd

    def build():
        return create_model(name, in_chans=1, num_classes=NUM_CLASSES, dropout=0.0, input_size=16)

    if not (_is_3d(name) or family_of(name) in FAMILY_DRAWS_CONVS):
        return build()

    def reset(conv):
        with torch.no_grad():
            conv.weight.zero_()
            if conv.bias is not None:  # PyTorch's own bias draw, kept (cheap; some families leave it)
                fan_in = conv.weight[0].numel()
                torch.nn.init.uniform_(conv.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))

    own = _ConvNd.reset_parameters
    _ConvNd.reset_parameters = reset
    try:
        model = build()
    finally:
        _ConvNd.reset_parameters = own
    convs = [m for m in model.modules() if isinstance(m, _ConvNd)]
    assert convs and all(c.weight.count_nonzero() > 0 for c in convs), f"{name}: a convolution was not drawn again"
    return model


def _with_head(name: str, kind: str, head: str) -> WithHead:
    torch.manual_seed(0)
    model = _build(name)
    h = build_head(feature_width(model), NUM_CLASSES, dropout_kind=kind, p=0.5, head=head, anneal_epochs=5,
                   hidden_features=16)
    return replace_head(model, h)


@pytest.fixture(scope="module")
def headed(name) -> WithHead:
    """``name`` with its variant head, shared by the tests that only read it: building is most of the cost
    of the deep, wide and VGG networks (1-2 s of random initialisation each). Nothing changes it: the
    checks run without gradients in eval and MC mode (modes restored), and inflate_model deep-copies."""
    return _with_head(name, *_variant(name))


@pytest.fixture
def native_vgg_conv(name, monkeypatch):
    """oneDNN re-lays out the 102M weights of VGG's 7x7 pre-logits convolution on every call (0.2-0.4 s a
    pass on one thread, 5x ATen's own kernel); what these tests check does not depend on the CPU kernel."""
    if family_of(name) == "VGG":
        monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)


def _check_logits_and_mc(model: torch.nn.Module, x: torch.Tensor, passes: int = 2) -> None:
    model.eval()
    with torch.no_grad():
        y = model(x)
        assert y.shape == (2, NUM_CLASSES) and torch.isfinite(y).all()
        # timm's interface (CAM, probes rely on it) gives the same logits, deterministically in evaluation
        features = model.forward_features(x)
        assert torch.equal(model.forward_head(features), y)
        if isinstance(model, WithHead):
            assert model.forward_head(features, pre_logits=True).shape == (2, feature_width(model.backbone))
        with mc_dropout_mode(model) as enabled:
            if isinstance(model, WithHead):  # the head's own dropout is what MC mode samples
                assert {id(m) for m in model.head.modules()} & {id(m) for m in enabled}
            samples = torch.stack([model(x) for _ in range(passes)])
    assert not torch.equal(samples[0], samples[1]), "MC passes must differ"
    assert not any(m.training for m in model.modules())  # every mode restored


@pytest.mark.parametrize(
    "name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in NAMES], scope="module"
)
def test_custom_head_and_mc_dropout_on_every_network(name, headed, native_vgg_conv):
    model = headed
    assert isinstance(model, WithHead) and model.num_classes == NUM_CLASSES
    _check_logits_and_mc(model, _input(name))


@pytest.mark.parametrize("name", ["resnet18_28_half", "med3d_resnet10"])
@pytest.mark.parametrize("kind", [v[0] for v in VARIANTS])
@pytest.mark.parametrize("head", ["linear", "maxout:2"])
def test_every_head_variant_on_the_default_networks(name, kind, head):
    model, x = _with_head(name, kind, head), _input(name)
    _check_logits_and_mc(model, x)
    pred = mc_predict(model, x, T=3, task="multi-class")
    assert pred.probs.shape == (2, NUM_CLASSES) and (pred.mutual_info > 0).any()


def _inflate_cases():
    for n in NAMES:
        if not _is_3d(n):
            fast = n in (INFLATE_FAST if family_of(n) in INFLATABLE_FAMILIES else REFUSE_FAST)
            yield n if fast else pytest.param(n, marks=pytest.mark.slow)


@pytest.mark.parametrize("name", list(_inflate_cases()), scope="module")
def test_2d_network_with_custom_head_inflates_or_is_refused_up_front(name, headed):
    family = family_of(name)
    if family not in INFLATABLE_FAMILIES:
        with pytest.raises(MedtrainError, match=re.escape(f"model {name} ({family}) cannot be inflated")):
            check_inflatable(name)  # from the name alone, before anything is built
        with pytest.raises(MedtrainError, match="cannot inflate backbone"):
            inflate_model(headed)
        return
    check_inflatable(name)
    model3d = inflate_model(headed)
    assert not any(isinstance(m, torch.nn.Conv2d) for m in model3d.modules())
    side = 16 if family in ("AlexNet", "SqueezeNet") else 8  # their three max-pools need 16 px (and slices)
    torch.manual_seed(0)
    _check_logits_and_mc(model3d, torch.randn(2, 1, side, side, side))


def test_replace_head_refuses_a_model_without_timm_classifier_interface():
    with pytest.raises(MedtrainError, match="Sequential has none"):
        replace_head(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)), build_head(4, 2))
