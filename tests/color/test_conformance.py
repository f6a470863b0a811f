"""Every colour space agrees with scikit-image, inverts, and is differentiable, batched and device-agnostic.

Agreement is absolute, in each space's own units (YCbCr in 8-bit code values, L*a*b* up to 100, LCh hue
in radians). It is checked on float64 inputs for every space, where it holds to far below 1e-4. On
float32 inputs it is checked to 1e-4 for the spaces whose float32 rounding allows it; LAB and LCh are
excluded there (see ``test_float32_lab_and_lch_agree_to_float32_precision``) because a* = 500 (fx - fy)
turns one float32 ulp of fx into 3e-5, and LCh hue is ill-conditioned near the grey axis.
"""
from __future__ import annotations

import pytest
import torch

from medtrain.color import SPACES, ColorSpace, convert, convert_inverse, hed_to_rgb

from ._reference import DEVICES, FORWARD, INVERSE, random_rgb, skimage_apply

SHAPES = [(3, 5, 7), (4, 3, 8, 8), (2, 3, 3, 8, 8)]
COLOURED = [s for s in SPACES if s != "rgb"]
FLOAT32_EXACT = [s for s in COLOURED if s not in ("lab", "lch")]


def test_spaces_are_the_colornet_set_plus_rgb():
    assert set(SPACES) == {"rgb", "hsv", "yuv", "lab", "yiq", "xyz", "ypbpr", "ycbcr", "hed", "lch"}
    assert all(s == s.lower() for s in SPACES)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("space", SPACES)
def test_forward_matches_skimage_in_float64(space, shape):
    images = random_rgb(shape, torch.float64)
    ours = convert(images, space)
    assert ours.shape == images.shape and ours.dtype == torch.float64
    torch.testing.assert_close(ours, skimage_apply(FORWARD[space], images), rtol=0, atol=1e-4)


@pytest.mark.parametrize("space", FLOAT32_EXACT)
def test_forward_matches_skimage_in_float32(space):
    images = random_rgb((2, 3, 16, 16), torch.float32, seed=1)
    ours = convert(images, space)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, skimage_apply(FORWARD[space], images), rtol=0, atol=1e-4)


def test_float32_lab_and_lch_agree_to_float32_precision():
    images = random_rgb((2, 3, 16, 16), torch.float32, seed=1)
    lab = convert(images, "lab")
    torch.testing.assert_close(lab, skimage_apply(FORWARD["lab"], images), rtol=0, atol=5e-4)
    lch = convert(images, "lch")
    ref = skimage_apply(FORWARD["lch"], images)
    torch.testing.assert_close(lch[:, :2], ref[:, :2], rtol=0, atol=5e-4)
    # Hue is only well-conditioned away from the grey axis (C = 0).
    chromatic = ref[:, 1] > 5.0
    torch.testing.assert_close(lch[:, 2][chromatic], ref[:, 2][chromatic], rtol=0, atol=1e-4)


@pytest.mark.parametrize("space", SPACES)
def test_inverse_matches_skimage(space):
    # The inverse is fed our own forward output, i.e. values inside each space's valid range.
    encoded = convert(random_rgb((2, 3, 8, 8), torch.float64, seed=2), space)
    torch.testing.assert_close(
        convert_inverse(encoded, space), skimage_apply(INVERSE[space], encoded), rtol=0, atol=1e-4
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("space", [s for s in SPACES if s != "hed"])
def test_round_trip_recovers_rgb(space, dtype):
    images = random_rgb((2, 3, 3, 8, 8), dtype, seed=3)
    # LAB/LCh: scikit-image's rounded piecewise constants (0.008856, 7.787, 0.2068966) are not exact
    # inverses of each other, which costs up to ~1e-6 near the linear/cubic joint.
    tol = 1e-5 if dtype == torch.float64 else 5e-5
    torch.testing.assert_close(convert_inverse(convert(images, space), space), images, rtol=0, atol=tol)


def test_hed_round_trip_recovers_stain_mixtures():
    # rgb -> hed clips negative stain amounts, so only colours made of non-negative stain amounts
    # (everything a stained slide can show) survive the round trip.
    stains = torch.rand(2, 3, 3, 8, 8, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    images = hed_to_rgb(0.3 * stains)
    torch.testing.assert_close(convert_inverse(convert(images, "hed"), "hed"), images, rtol=0, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("space", SPACES)
def test_gradients_are_finite_including_grey_black_and_white(space, dtype):
    images = random_rgb((2, 3, 6, 6), dtype, seed=5).requires_grad_()
    weights = torch.randn(images.shape, generator=torch.Generator().manual_seed(6), dtype=dtype)
    (convert(images, space) * weights).sum().backward()
    assert torch.isfinite(images.grad).all()

    encoded = convert(images.detach(), space).requires_grad_()
    (convert_inverse(encoded, space) * weights).sum().backward()
    assert torch.isfinite(encoded.grad).all()


@pytest.mark.parametrize("space", COLOURED)
def test_gradient_is_nonzero_for_a_generic_colour(space):
    images = torch.tensor([0.7, 0.4, 0.2], dtype=torch.float64).reshape(1, 3, 1, 1).requires_grad_()
    convert(images, space).sum().backward()
    assert images.grad.abs().sum() > 0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("space", SPACES)
def test_runs_on_every_device_and_keeps_it(space, device):
    images = random_rgb((2, 3, 4, 4), torch.float64, seed=7)
    ours = convert(images.to(device), space)
    assert ours.device.type == device
    torch.testing.assert_close(ours.cpu(), convert(images, space), rtol=0, atol=1e-4)
    back = convert_inverse(ours, space)
    assert back.device.type == device


@pytest.mark.parametrize("space", SPACES)
def test_module_form_equals_function(space):
    images = random_rgb((2, 3, 4, 4), torch.float32, seed=8)
    torch.testing.assert_close(ColorSpace(space)(images), convert(images, space), rtol=0, atol=0)
