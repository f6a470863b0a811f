"""Inflating a convolution skips the Conv3d's random initialisation (its weights are overwritten) yet leaves the
inflated weights and the random stream exactly as building the Conv3d with its initialisation did: later draws (a
default 3D ensemble's next network, the augmentation) read that stream, so a run's numbers do not change."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from medtrain.models import create_model
from medtrain.models.inflate import DepthPadConv3d, inflate_conv, inflate_model

CONVS = {
    "bias": (nn.Conv2d(3, 8, 3, padding=1), {}),
    "no bias, strided": (nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False), {}),
    "grouped": (nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=False), {}),
    "1x1": (nn.Conv2d(5, 7, 1), {}),
    "reflect": (nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), {}),
    "replicate depth": (nn.Conv2d(3, 4, 3, padding=1), {"padding_mode": "replicate"}),
    "depth 1": (nn.Conv2d(3, 4, 3, padding=1), {"depth_kernel": 1}),
}


def _as_built_before(conv: nn.Conv2d, conv3: nn.Conv3d) -> nn.Conv3d:
    """The Conv3d ``conv3`` is, built as a module normally is: its random initialisation drawn."""
    kwargs = dict(stride=conv3.stride, dilation=conv3.dilation, groups=conv3.groups, bias=conv3.bias is not None,
                  padding=conv3.padding, padding_mode=conv3.padding_mode)
    if isinstance(conv3, DepthPadConv3d):
        return DepthPadConv3d(conv3.in_channels, conv3.out_channels, conv3.kernel_size, depth_pad=conv3.depth_pad,
                              **kwargs)
    return nn.Conv3d(conv3.in_channels, conv3.out_channels, conv3.kernel_size, **kwargs)


@pytest.mark.parametrize("case", list(CONVS))
def test_an_inflated_conv_has_the_inflated_weights_and_draws_what_its_initialisation_drew(case):
    conv, kw = CONVS[case]
    torch.manual_seed(7)
    conv3 = inflate_conv(conv, **kw)
    after = torch.get_rng_state()
    t = conv3.kernel_size[0]
    assert torch.equal(conv3.weight, conv.weight.detach().unsqueeze(2).repeat(1, 1, t, 1, 1) / t)
    if conv.bias is not None:
        assert torch.equal(conv3.bias, conv.bias)
    torch.manual_seed(7)
    _as_built_before(conv, conv3)
    assert torch.equal(after, torch.get_rng_state()), "the random stream after inflation moved"


def test_what_is_drawn_after_inflating_a_network_is_what_it_always_was():
    """A default 3D ensemble builds its second network from the state its first left, inflation included: that
    inflation draws one float32 uniform value per Conv3d parameter, as the Conv3d initialisations had."""
    torch.manual_seed(0)
    m2 = create_model("resnet10_28_half", in_chans=1, num_classes=2)
    torch.manual_seed(1)
    m3 = inflate_model(m2)
    drawn_next = torch.rand(1000)
    draws = sum(p.numel() for m in m3.modules() if isinstance(m, nn.Conv3d) for p in m.parameters(recurse=False))
    torch.manual_seed(1)
    torch.empty(draws).uniform_()
    assert torch.equal(torch.rand(1000), drawn_next)
