"""fit_channel_stats: chunked per-channel mean/std in a colour space equals the direct computation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medtrain.color import MIN_STD, SPACES, ChannelStats, channel_stats, convert, fit_channel_stats, safe_std
from medtrain.errors import MedtrainError

from ._reference import DEVICES


def direct_stats(images: torch.Tensor, space: str) -> tuple[torch.Tensor, torch.Tensor]:
    converted = convert(images.double(), space)
    return converted.mean(dim=(0, 2, 3)), converted.std(dim=(0, 2, 3), correction=0)


@pytest.fixture(scope="module")
def uint8_images():
    return torch.randint(0, 256, (10, 3, 7, 5), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


@pytest.mark.parametrize("space", SPACES)
def test_uint8_stats_equal_direct_mean_and_std(uint8_images, space):
    stats = fit_channel_stats(uint8_images, space, batch=3)
    mean, std = direct_stats(uint8_images.double() / 255, space)
    assert stats.space == space and stats.count == 10 * 7 * 5
    # uint8 is scaled in float32 per chunk, the direct reference in float64.
    torch.testing.assert_close(torch.tensor(stats.mean, dtype=torch.float64), mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.tensor(stats.std, dtype=torch.float64), std, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch", [1, 4, 256])
def test_float64_stats_do_not_depend_on_chunk_size(batch):
    images = torch.rand(9, 3, 4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    stats = fit_channel_stats(images, "ycbcr", batch=batch)
    mean, std = direct_stats(images, "ycbcr")
    torch.testing.assert_close(torch.tensor(stats.mean, dtype=torch.float64), mean, rtol=0, atol=1e-10)
    torch.testing.assert_close(torch.tensor(stats.std, dtype=torch.float64), std, rtol=0, atol=1e-10)


def test_accepts_a_loader_of_image_target_pairs(uint8_images):
    loader = [(uint8_images[i : i + 4], torch.zeros(4)) for i in range(0, 10, 4)]
    assert fit_channel_stats(loader, "lab") == fit_channel_stats(uint8_images, "lab", batch=4)


def test_hue_is_averaged_as_a_plain_number():
    # Two reds either side of the hue seam (hue ~0.997 and ~0.003): a circular mean would be ~0,
    # the linear one documented for HSV is ~0.5.
    reds = torch.tensor([[1.0, 0.0, 0.02], [1.0, 0.02, 0.0]]).T.reshape(1, 3, 1, 2)
    stats = fit_channel_stats(reds, "hsv")
    assert stats.mean[0] == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("device", DEVICES)
def test_can_convert_on_another_device(uint8_images, device):
    on_device = fit_channel_stats(uint8_images, "hsv", batch=4, device=device)
    on_cpu = fit_channel_stats(uint8_images, "hsv", batch=4)
    assert on_device.mean == pytest.approx(on_cpu.mean, abs=1e-6)
    assert on_device.std == pytest.approx(on_cpu.std, abs=1e-6)


def test_normalize_and_dict_round_trip(uint8_images):
    stats = fit_channel_stats(uint8_images, "lab")
    assert ChannelStats.from_dict(stats.to_dict()) == stats
    out = stats.normalize(convert(uint8_images.float() / 255, "lab"))
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4, rtol=0)


def test_constant_channel_is_centred_not_divided_by_zero():
    grey = torch.full((2, 3, 4, 4), 0.5)
    stats = fit_channel_stats(grey, "hsv")
    assert stats.std[0] == 0.0
    assert torch.isfinite(stats.normalize(convert(grey, "hsv"))).all()


@pytest.mark.parametrize(
    "images, kwargs, message",
    [
        (torch.zeros(0, 3, 4, 4), {}, "empty"),
        (torch.zeros(2, 4, 4, 4), {}, r"shaped \(N, 3, H, W\)"),
        (torch.zeros(2, 3, 4, 4, dtype=torch.int32), {}, "uint8 or floating point"),
        (torch.zeros(2, 3, 4, 4), {"batch": 0}, "batch must be a positive integer"),
        (torch.zeros(2, 3, 4, 4), {"space": "hsl"}, "unknown colour space 'hsl'"),
        (42, {}, "tensor or an iterable"),
    ],
    ids=["empty", "channels", "int32", "batch", "space", "not-images"],
)
def test_bad_input_raises_medtrain_error(images, kwargs, message):
    kwargs = {"space": "hsv", **kwargs}
    with pytest.raises(MedtrainError, match=message):
        fit_channel_stats(images, **kwargs)


# --------------------------------------------------------------------------- channel_stats (input normalisation)


@pytest.mark.parametrize("shape", [(7, 1, 5, 6), (5, 3, 4, 6), (4, 2, 3, 4, 5)], ids=["grey", "rgb", "volumes"])
@pytest.mark.parametrize("max_values", [1, 100, 1 << 24])
def test_channel_stats_equal_the_direct_mean_and_std_whatever_the_chunk(shape, max_values):
    images = torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(2), dtype=torch.uint8)
    mean, std = channel_stats(images, max_values=max_values)
    dims = (0, *range(2, len(shape)))
    x = images.double() / 255
    assert mean.dtype == std.dtype == torch.float32 and mean.shape == (shape[1],)
    torch.testing.assert_close(mean.double(), x.mean(dim=dims), rtol=0, atol=1e-7)
    torch.testing.assert_close(std.double(), x.std(dim=dims, correction=0), rtol=0, atol=1e-7)


def test_channel_stats_zero_std_rule_centres_a_constant_channel_without_scaling():
    images = torch.randint(0, 256, (6, 3, 4, 4), generator=torch.Generator().manual_seed(3), dtype=torch.uint8)
    images[:, 1] = 77  # constant: std 0
    images[:, 2] = 100
    images[0, 2, 0, 0] = 101  # one step in 96 values: std ~4e-4, below MIN_STD
    mean, std = channel_stats(images)
    assert std[1] == 1.0 and std[2] == 1.0 and std[0] != 1.0
    assert mean[1] == pytest.approx(77 / 255)
    rule = safe_std(torch.tensor([0.0, MIN_STD / 2, MIN_STD, 0.3, float("nan")], dtype=torch.float64))
    assert rule.tolist() == [1.0, 1.0, MIN_STD, 0.3, 1.0]
    stats = fit_channel_stats(images, "rgb")
    assert stats.std[1] == 0.0 and stats.safe_std[1] == 1.0 and stats.safe_std[2] == 1.0  # the same rule


def test_fit_channel_stats_in_rgb_equals_channel_stats(uint8_images):
    stats = fit_channel_stats(uint8_images, "rgb", batch=3)
    mean, std = channel_stats(uint8_images)
    assert torch.tensor(stats.mean, dtype=torch.float32).equal(mean)
    assert torch.tensor(stats.safe_std, dtype=torch.float32).equal(std)


@pytest.mark.parametrize("images, message", [
    (torch.zeros(2, 3, 4, 4), "must be uint8"),
    (torch.zeros(0, 3, 4, 4, dtype=torch.uint8), "non-empty"),
    (torch.zeros(3, 4, dtype=torch.uint8), "non-empty"),
    (np.zeros((2, 3, 4, 4), np.uint8), "torch.Tensor"),
])
def test_channel_stats_bad_input_is_a_medtrain_error(images, message):
    with pytest.raises(MedtrainError, match=message):
        channel_stats(images)
