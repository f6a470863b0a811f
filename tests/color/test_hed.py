"""HED colour deconvolution (Ruifrok & Johnston 2001) with scikit-image's floor, scaling and clipping."""
from __future__ import annotations

import torch

from medtrain.color import hed_to_rgb, rgb_to_hed

from ._reference import FORWARD, skimage_apply


def pixels(*rgb):
    return torch.tensor(rgb, dtype=torch.float64).T.reshape(3, 1, len(rgb))


def test_white_light_has_no_stain():
    assert torch.equal(rgb_to_hed(pixels((1, 1, 1))), torch.zeros(3, 1, 1, dtype=torch.float64))


def test_black_is_floored_at_1e_minus_6_like_skimage():
    # Without the floor log(0) = -inf; with it every channel has density exactly 1.
    images = pixels((0, 0, 0), (0, 0.5, 1))
    hed = rgb_to_hed(images)
    assert torch.isfinite(hed).all()
    torch.testing.assert_close(hed, skimage_apply(FORWARD["hed"], images), rtol=0, atol=1e-12)


def test_negative_stain_amounts_are_clipped_to_zero():
    # Pure green is not a mixture of haematoxylin, eosin and DAB.
    green = pixels((0.1, 0.9, 0.1))
    hed = rgb_to_hed(green)
    assert (hed >= 0).all() and (hed == 0).any()
    torch.testing.assert_close(hed, skimage_apply(FORWARD["hed"], green), rtol=0, atol=1e-12)


def test_single_stain_is_recovered():
    stains = torch.tensor([0.2, 0.0, 0.0], dtype=torch.float64).reshape(3, 1, 1)
    torch.testing.assert_close(rgb_to_hed(hed_to_rgb(stains)), stains, rtol=0, atol=1e-12)


def test_inverse_is_clipped_to_unit_range():
    rgb = hed_to_rgb(torch.tensor([-1.0, 0.0, 0.0], dtype=torch.float64).reshape(3, 1, 1))
    assert torch.equal(rgb, torch.ones(3, 1, 1, dtype=torch.float64))
