"""Dispatch by name, the ColorSpace module, and the errors users get for bad input."""
from __future__ import annotations

import pytest
import torch

from medtrain.color import SPACES, ColorSpace, convert, convert_inverse, fit_channel_stats, rgb_to_hsv
from medtrain.errors import MedtrainError


def test_rgb_is_the_identity():
    images = torch.rand(2, 3, 4, 4)
    assert convert(images, "rgb") is images
    assert convert_inverse(images, "rgb") is images


def test_space_names_are_case_insensitive():
    images = torch.rand(3, 4, 4)
    torch.testing.assert_close(convert(images, "HSV"), convert(images, "hsv"))


def test_unknown_space_suggests_the_closest_name():
    with pytest.raises(MedtrainError, match=r"unknown colour space 'lba'; did you mean lab"):
        convert(torch.rand(3, 4, 4), "lba")
    with pytest.raises(MedtrainError, match="unknown colour space"):
        convert_inverse(torch.rand(3, 4, 4), "cmyk")
    with pytest.raises(MedtrainError, match="unknown colour space"):
        ColorSpace("grey")


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("direction", [convert, convert_inverse])
@pytest.mark.parametrize(
    "images, message",
    [
        (torch.rand(4, 4, 4), r"shaped \(\*, 3, H, W\), got \(4, 4, 4\)"),
        (torch.rand(2, 1, 4, 4), r"shaped \(\*, 3, H, W\), got \(2, 1, 4, 4\)"),
        (torch.rand(4, 3), r"shaped \(\*, 3, H, W\)"),
        (torch.zeros(3, 4, 4, dtype=torch.uint8), "floating-point tensor.*torch.uint8"),
        (torch.zeros(3, 4, 4, dtype=torch.int64), "floating-point tensor.*torch.int64"),
    ],
    ids=["4-channels", "1-channel", "2d", "uint8", "int64"],
)
def test_bad_images_raise_a_one_line_medtrain_error(space, direction, images, message):
    with pytest.raises(MedtrainError, match=message) as err:
        direction(images, space)
    assert "\n" not in str(err.value)


def test_non_tensor_input_is_rejected():
    with pytest.raises(MedtrainError, match="must be a torch.Tensor"):
        rgb_to_hsv([[0.1, 0.2, 0.3]])


def test_colorspace_module_standardises_with_fitted_stats():
    images = torch.rand(8, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    stats = fit_channel_stats(images, "ycbcr")
    out = ColorSpace("ycbcr", stats)(images)
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(dim=(0, 2, 3), correction=0), torch.ones(3), atol=1e-5, rtol=0)
    assert "mean" in ColorSpace("ycbcr", stats).state_dict()


def test_colorspace_refuses_stats_from_another_space():
    stats = fit_channel_stats(torch.rand(2, 3, 4, 4), "lab")
    with pytest.raises(MedtrainError, match="fitted in 'lab', not 'hsv'"):
        ColorSpace("hsv", stats)
