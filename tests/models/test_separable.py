"""Depthwise-separable conversion: same shapes, the MobileNets saving exactly, through create_model too."""
import pytest
import torch
import torch.nn as nn

import medtrain
from medtrain.models.cost import conv_macs, count_cost
from medtrain.models.separable import SeparableConv2d, to_separable


def test_one_convolution_becomes_depthwise_then_pointwise_with_the_same_geometry():
    conv = nn.Conv2d(8, 16, 3, stride=2, padding=2, dilation=2, bias=True)
    sep = SeparableConv2d(conv)
    assert sep.conv_dw.groups == 8 and sep.conv_dw.out_channels == 8 and sep.conv_dw.bias is None
    assert (sep.conv_dw.stride, sep.conv_dw.padding, sep.conv_dw.dilation) == (conv.stride, conv.padding, conv.dilation)
    assert sep.conv_pw.kernel_size == (1, 1) and sep.conv_pw.bias is not None
    x = torch.randn(1, 8, 17, 17)
    assert sep(x).shape == conv(x).shape
    mobilenet_style = SeparableConv2d(conv, norm_act=True)
    assert [type(m) for m in mobilenet_style] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Conv2d]


def test_resnet18_28_separable_keeps_its_output_and_saves_exactly_the_predicted_macs():
    model = medtrain.create_model("resnet18_28", 1, 3)
    before = count_cost(model, 28, 1)
    standard = {layer.name: layer for layer in before.layers if layer.kind == "standard"}
    converted = to_separable(model)
    after = count_cost(model, 28, 1)
    assert sorted(converted) == sorted(standard)  # every 3x3, no 1x1 shortcut
    # MobileNets eq. 5: each D_K^2 M N D_G^2 becomes D_K^2 M D_G^2 + M N D_G^2.
    predicted = 0
    for layer in standard.values():
        hw = layer.out_shape[-1] * layer.out_shape[-2]
        k = int(layer.kernel.split("x")[0]) ** 2
        predicted += layer.macs - (k * layer.in_channels * hw + layer.in_channels * layer.out_channels * hw)
    assert before.macs - after.macs == predicted
    assert after.macs / before.macs == pytest.approx(0.13, abs=0.01)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 3)


def test_grouped_depthwise_and_pointwise_convolutions_are_left_alone():
    model = medtrain.create_model("mobilenetv2_100", 3, 2, input_size=28)
    assert to_separable(model) == ["conv_stem"]  # the only standard convolution of MobileNet v2
    rx = medtrain.create_model("resnext50_32x4d", 3, 2, input_size=28)
    converted = to_separable(rx)
    assert converted and not any(".conv2" in n and n.startswith("layer") for n in converted)  # 32-group 3x3s


def test_create_model_builds_the_separable_twin_by_suffix_or_flag():
    by_suffix = medtrain.create_model("resnet18_28-separable", 1, 2)
    by_flag = medtrain.create_model("resnet18_28", 1, 2, separable=True)
    shapes = lambda m: [tuple(p.shape) for p in m.parameters()]
    assert shapes(by_suffix) == shapes(by_flag)
    assert isinstance(by_suffix.conv1, SeparableConv2d)
    assert sum(p.numel() for p in by_suffix.parameters()) < 0.2 * sum(
        p.numel() for p in medtrain.create_model("resnet18_28", 1, 2).parameters()
    )


def test_each_converted_layer_costs_its_closed_form():
    model = nn.Sequential(nn.Conv2d(32, 64, 3, padding=1))
    assert to_separable(model) == ["0"]  # converted in place, its name returned
    (dw, pw) = count_cost(model, 10, 32).layers
    assert (dw.kind, pw.kind) == ("depthwise", "pointwise")
    assert dw.macs == 3 * 3 * 32 * 100 and pw.macs == 32 * 64 * 100
    assert dw.macs + pw.macs == conv_macs(nn.Conv2d(32, 64, 3, padding=1), (1, 64, 10, 10)) * (1 / 64 + 1 / 9)
