"""LCh: chroma and hue (radians in [0, 2*pi)) of L*a*b*, like skimage's lab2lch."""
from __future__ import annotations

import math

import torch

from medtrain.color import lab_to_lch, lch_to_lab, rgb_to_lch


def lab(*values):
    return torch.tensor(values, dtype=torch.float64).T.reshape(3, 1, len(values))


def test_hue_is_in_radians_mapped_to_zero_two_pi():
    lch = lab_to_lch(lab((50, 10, 0), (50, 0, 10), (50, -10, 0), (50, 0, -10)))
    quarter_turns = torch.arange(4, dtype=torch.float64) * math.pi / 2
    torch.testing.assert_close(lch[2, 0], quarter_turns)
    torch.testing.assert_close(lch[1, 0], torch.full((4,), 10.0, dtype=torch.float64))


def test_black_has_zero_chroma_and_hue():
    lch = rgb_to_lch(torch.zeros(3, 1, 1, dtype=torch.float64))
    assert torch.equal(lch.flatten(), torch.zeros(3, dtype=torch.float64))


def test_gradient_at_the_achromatic_origin_is_zero_not_nan():
    x = lab((40, 0, 0)).requires_grad_()
    lab_to_lch(x).sum().backward()
    assert torch.equal(x.grad.flatten(), torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))


def test_lch_lab_pair_inverts():
    x = lab((50, 12, -7), (70, -30, 40), (20, 0, 0))
    torch.testing.assert_close(lch_to_lab(lab_to_lch(x)), x)
