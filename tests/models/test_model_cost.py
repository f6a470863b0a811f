"""Exact cost analysis: per-layer formulas, closed forms, and totals checked against torch's own counter."""
from fractions import Fraction

import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

import medtrain
from medtrain.models.cost import PUBLISHED, compare_published, conv_cost, count_cost


def _single(layer: nn.Module, x_shape):
    """The cost report of a one-layer network fed a (1, C, H, H) input."""
    return count_cost(nn.Sequential(layer), input_size=x_shape[-1], in_chans=x_shape[1])


def test_standard_convolution_costs_kh_kw_cin_cout_hout_wout():
    r = _single(nn.Conv2d(16, 32, 3, stride=2, padding=1), (1, 16, 15, 15))
    (layer,) = r.layers
    assert layer.kind == "standard" and layer.out_shape == [1, 32, 8, 8]
    assert layer.macs == 3 * 3 * 16 * 32 * 8 * 8
    assert layer.params == 3 * 3 * 16 * 32 + 32 == r.params


def test_grouped_convolution_divides_input_channels_by_groups():
    (layer,) = _single(nn.Conv2d(32, 64, (3, 5), padding=(1, 2), groups=4, bias=False), (1, 32, 10, 10)).layers
    assert layer.kind == "grouped" and layer.macs == 3 * 5 * (32 // 4) * 64 * 10 * 10


def test_depthwise_convolution_costs_kernel_times_channels_times_map_even_with_a_multiplier():
    (layer,) = _single(nn.Conv2d(24, 24, 3, padding=1, groups=24, bias=False), (1, 24, 12, 12)).layers
    assert layer.kind == "depthwise" and layer.macs == 3 * 3 * 24 * 12 * 12
    (mult,) = _single(nn.Conv2d(24, 48, 3, padding=1, groups=24, bias=False), (1, 24, 12, 12)).layers
    assert mult.kind == "depthwise" and mult.macs == 3 * 3 * 1 * 48 * 12 * 12


def test_pointwise_convolution_is_a_channel_reduction_when_it_narrows():
    (narrow,) = _single(nn.Conv2d(256, 64, 1, bias=False), (1, 256, 7, 7)).layers
    (wide,) = _single(nn.Conv2d(64, 256, 1, bias=False), (1, 64, 7, 7)).layers
    assert narrow.kind == wide.kind == "pointwise"
    assert narrow.macs == wide.macs == 256 * 64 * 7 * 7
    assert narrow.note == "channel reduction" and wide.note == ""


def test_linear_layer_costs_in_times_out():
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))
    r = count_cost(model, 4, 3)
    assert [x.kind for x in r.layers] == ["pointwise", "linear"]
    assert r.layers[1].macs == 8 * 5 and r.macs == 3 * 8 * 16 + 40


def test_conv_cost_is_mobilenets_closed_form_and_its_ratio_is_one_over_n_plus_one_over_dk_squared():
    c = conv_cost(DK=3, M=512, N=1024, DG=14)
    assert c["standard"] == {"macs": 9 * 512 * 1024 * 196, "params": 9 * 512 * 1024}
    assert c["separable"]["macs"] == 9 * 512 * 196 + 512 * 1024 * 196
    assert c["separable"]["params"] == 9 * 512 + 512 * 1024
    exact = Fraction(c["separable"]["macs"], c["standard"]["macs"])
    assert exact == Fraction(1, 1024) + Fraction(1, 9)
    assert c["ratio"] == pytest.approx(float(exact), rel=1e-15) and round(c["ratio"], 3) == 0.112
    for dk, n in ((1, 1), (5, 7), (7, 64)):
        c = conv_cost(dk, 3, n, 5)
        assert Fraction(c["separable"]["macs"], c["standard"]["macs"]) == Fraction(1, n) + Fraction(1, dk * dk)


@pytest.mark.parametrize(
    "name,size",
    [("resnet18", 28), ("mobilenetv3_small_100", 224), ("shufflenet_v2_x0_5", 224), ("squeezenet1_1", 224),
     ("densenet121", 28), ("resnext50_32x4d", 28), ("googlenet", 64), ("inception_v3", 28)],
)
def test_totals_agree_with_torch_flop_counter(name, size):
    model = medtrain.create_model(name, 3, 10, input_size=size).eval()
    report = count_cost(model, size, 3)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    assert report.macs == pytest.approx(counter.get_total_flops() / 2, rel=0.01)
    assert report.params == sum(p.numel() for p in model.parameters())


def test_3d_networks_are_counted_as_torch_flop_counter_counts_them():
    model = medtrain.create_model("med3d_resnet10", in_chans=1, num_classes=2, input_size=16)
    report = count_cost(model, 16, 1)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.zeros(1, 1, 16, 16, 16))
    assert report.macs == counter.get_total_flops() / 2 and report.spatial_dims == 3
    assert report.params == sum(p.numel() for p in model.parameters())
    assert {layer.kind for layer in report.layers} == {"standard", "pointwise", "linear"}


def test_mobilenet_v1_matches_the_paper_569m_mult_adds_and_4_2m_parameters():
    model = medtrain.create_model("mobilenetv1_100", 3, 1000)
    report = count_cost(model, 224, 3, name="mobilenetv1_100", num_classes=1000)
    cmp = compare_published(report)
    assert cmp["macs"]["published"] == 569e6 and abs(cmp["macs"]["difference"]) < 0.001
    assert abs(cmp["params"]["difference"]) < 0.01
    assert report.macs_by_kind["pointwise"] / report.macs == pytest.approx(0.95, abs=0.01)  # paper: 94.86%


def test_published_comparison_only_for_the_papers_setting_and_resnet50_explains_v1_5():
    assert "v1.5" in PUBLISHED["resnet50"]["note"]
    report = count_cost(medtrain.create_model("mobilenetv1_025", 1, 2), 224, 1, name="mobilenetv1_025", num_classes=2)
    assert compare_published(report) is None  # 1 channel, 2 classes: not the paper's network


def test_count_cost_leaves_the_model_in_its_mode():
    model = medtrain.create_model("mobilenetv1_025", 1, 2, input_size=28).train()
    count_cost(model, 28, 1)
    assert model.training
