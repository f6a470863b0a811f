"""LAB (via XYZ): D65 white point, scikit-image's units and its clipping in the inverse."""
from __future__ import annotations

import warnings

import pytest
import torch

from medtrain.color import lab_to_rgb, lab_to_xyz, rgb_to_lab, rgb_to_xyz, xyz_to_lab, xyz_to_rgb

from ._reference import skimage_apply


def test_white_is_l100_and_black_is_l0():
    lab = rgb_to_lab(torch.tensor([[1.0, 0.0]] * 3, dtype=torch.float64).reshape(3, 1, 2))
    torch.testing.assert_close(lab[0, 0], torch.tensor([100.0, 0.0], dtype=torch.float64), atol=1e-2, rtol=0)
    assert lab[1:, 0].abs().max() < 0.02  # scikit-image's white is not exactly neutral


def test_xyz_white_is_the_d65_white_point():
    xyz = rgb_to_xyz(torch.ones(3, 1, 1, dtype=torch.float64))
    torch.testing.assert_close(xyz.flatten(), torch.tensor([0.950456, 1.0, 1.088754], dtype=torch.float64))


def test_out_of_gamut_lab_is_clipped_like_skimage():
    import skimage.color as skc

    # Large b* makes z negative (clipped to 0) and the colour is outside sRGB (clipped to [0, 1]).
    lab = torch.tensor([[30.0, 50.0], [80.0, -120.0], [120.0, 60.0]], dtype=torch.float64).reshape(3, 1, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_xyz = skimage_apply(skc.lab2xyz, lab)
        ref_rgb = skimage_apply(skc.lab2rgb, lab)
    torch.testing.assert_close(lab_to_xyz(lab), ref_xyz, rtol=0, atol=1e-10)
    torch.testing.assert_close(lab_to_rgb(lab), ref_rgb, rtol=0, atol=1e-10)
    assert lab_to_rgb(lab).min() >= 0 and lab_to_rgb(lab).max() <= 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_xyz_lab_pair_inverts(dtype):
    xyz = rgb_to_xyz(torch.rand(2, 3, 4, 4, dtype=dtype))
    torch.testing.assert_close(lab_to_xyz(xyz_to_lab(xyz)), xyz, rtol=0, atol=1e-5)
    torch.testing.assert_close(rgb_to_xyz(xyz_to_rgb(xyz)), xyz, rtol=0, atol=1e-5)
