"""HSV: hue as a fraction of a turn, scikit-image's special cases for grey pixels and ties."""
from __future__ import annotations

import torch

from medtrain.color import HsvToRgb, RgbToHsv, hsv_to_rgb, rgb_to_hsv

from ._reference import FORWARD, skimage_apply


def pixels(*rgb):
    return torch.tensor(rgb, dtype=torch.float64).T.reshape(3, 1, len(rgb))


def test_primaries_have_hue_in_fractions_of_a_turn():
    hsv = rgb_to_hsv(pixels((1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 1, 1), (0, 0, 1), (1, 0, 1)))
    sixths = torch.arange(6, dtype=torch.float64) / 6
    torch.testing.assert_close(hsv[0, 0], sixths)
    torch.testing.assert_close(hsv[1:, 0], torch.ones(2, 6, dtype=torch.float64))


def test_grey_and_black_have_zero_hue_and_saturation():
    hsv = rgb_to_hsv(pixels((0, 0, 0), (0.5, 0.5, 0.5), (1, 1, 1)))
    assert torch.equal(hsv[0, 0], torch.zeros(3, dtype=torch.float64))
    assert torch.equal(hsv[1, 0], torch.zeros(3, dtype=torch.float64))
    assert torch.equal(hsv[2, 0], torch.tensor([0, 0.5, 1], dtype=torch.float64))


def test_ties_on_uint8_levels_match_skimage_exactly():
    levels = torch.tensor([0, 1, 64, 127, 128, 254, 255], dtype=torch.float64) / 255
    r, g, b = torch.meshgrid(levels, levels, levels, indexing="ij")
    images = torch.stack((r, g, b)).reshape(3, 7, 49)
    assert torch.equal(rgb_to_hsv(images), skimage_apply(FORWARD["hsv"], images))


def test_hue_wraps_in_the_inverse():
    hsv = torch.tensor([0.25, 0.8, 0.9], dtype=torch.float64).reshape(3, 1, 1)
    for turns in (-1.0, 1.0, 2.0):
        shifted = hsv + torch.tensor([turns, 0, 0], dtype=torch.float64).reshape(3, 1, 1)
        torch.testing.assert_close(hsv_to_rgb(shifted), hsv_to_rgb(hsv))


def test_modules_wrap_the_functions():
    images = torch.rand(2, 3, 4, 4)
    torch.testing.assert_close(HsvToRgb()(RgbToHsv()(images)), images)


def test_float32_hue_stays_below_one_turn():
    # near-red pixels whose blue is a hair above green: hue wraps to 1 - 1e-9, which float32 rounds to 1.0
    import torch

    from medtrain.color.hsv import rgb_to_hsv

    torch.manual_seed(0)
    x = torch.ones(20000, 3, 1, 1)
    x[:, 2] = 0.5 + torch.rand(20000, 1, 1) * 1e-3
    x[:, 1] = x[:, 2] - torch.rand(20000, 1, 1) * 1e-6
    hue = rgb_to_hsv(x)[:, 0]
    assert hue.max() < 1.0 and hue.min() >= 0.0
