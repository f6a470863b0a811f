"""Test-time augmentation averages probabilities over views."""
from __future__ import annotations

import pytest
import torch

from medtrain.augment.policies import OpSpec, Policy, randaugment_policy, save_policy
from medtrain.augment.geometric import random_shift
from medtrain.augment.tta import SHIFT_PX, shifted, tta_predict
from medtrain.errors import MedtrainError


def mean_intensity_probs(x: torch.Tensor) -> torch.Tensor:
    """A flip-invariant 'model': two-class probabilities from the mean intensity."""
    logit = (x.mean(dim=(1, 2, 3)) - 0.5) * 8
    return torch.stack([torch.sigmoid(-logit), torch.sigmoid(logit)], 1)


def left_half_probs(x: torch.Tensor) -> torch.Tensor:
    """Not flip-invariant: looks at the left half only."""
    logit = (x[..., : x.shape[-1] // 2].mean(dim=(1, 2, 3)) - 0.5) * 8
    return torch.stack([torch.sigmoid(-logit), torch.sigmoid(logit)], 1)


@pytest.mark.parametrize("mode", ["none", "hflip", "flip"])
def test_flip_tta_of_a_flip_invariant_function_is_the_plain_prediction(mode):
    x = torch.rand(8, 1, 12, 12)
    assert torch.allclose(tta_predict(mean_intensity_probs, x, mode), mean_intensity_probs(x), atol=1e-6)


def test_flip_tta_averages_the_four_views():
    x = torch.rand(8, 3, 12, 12)
    views = [x, x.flip(-1), x.flip(-2), x.flip(-2, -1)]
    expected = torch.stack([left_half_probs(v) for v in views]).mean(0)
    out = tta_predict(left_half_probs, x, "flip")
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(out.sum(1), torch.ones(8), atol=1e-6)  # still probabilities


def test_hflip_tta_averages_identity_and_horizontal_flip():
    x = torch.rand(4, 1, 12, 12)
    expected = (left_half_probs(x) + left_half_probs(x.flip(-1))) / 2
    assert torch.allclose(tta_predict(left_half_probs, x, "hflip"), expected, atol=1e-6)


def pixel_probs(y: int, x: int):
    """A 'model' that answers from one pixel: where the shifted views move the content is what it sees."""
    def fn(v: torch.Tensor) -> torch.Tensor:
        p = v[:, 0, y, x]
        return torch.stack([1 - p, p], 1)
    return fn


def test_a_shifted_view_moves_the_content_and_fills_the_border_by_reflection():
    x = torch.rand(2, 3, 10, 12)
    out = shifted(x, 2, -3)
    assert out.shape == x.shape
    assert torch.equal(out[..., 2:, :-3], x[..., :-2, 3:])  # down 2, left 3
    assert torch.equal(out[..., 0, :-3], x[..., 2, 3:])  # the top row is row 2 mirrored (reflect, as in training)
    assert torch.equal(shifted(x, 0, 0), x)


def test_the_shifted_views_are_ones_the_training_shift_can_draw():
    """Every TTA view must be inside what training showed the network: random_shift with a pad of 4 pixels
    (28 px, max_frac 0.125) draws each 2-pixel shift of the grid."""
    x = torch.rand(1, 1, 28, 28)
    grid = {tuple(shifted(x, dy, dx).flatten().tolist()) for dy in (-SHIFT_PX, 0, SHIFT_PX)
            for dx in (-SHIFT_PX, 0, SHIFT_PX)}
    torch.manual_seed(0)
    drawn = {tuple(v.flatten().tolist()) for v in random_shift(x.expand(4000, -1, -1, -1).clone())}
    assert grid <= drawn


def test_shift_tta_averages_the_nine_grid_views():
    x = torch.rand(4, 1, 12, 12)
    out = tta_predict(pixel_probs(6, 6), x, "shift")
    s = SHIFT_PX
    expected = torch.stack([x[:, 0, 6 - dy, 6 - dx] for dy in (-s, 0, s) for dx in (-s, 0, s)]).mean(0)
    assert torch.allclose(out[:, 1], expected, atol=1e-6)


def test_hflip_shift_tta_averages_every_shifted_view_and_its_mirror():
    x = torch.rand(4, 1, 12, 12)
    out = tta_predict(pixel_probs(6, 3), x, "hflip-shift", shift_px=1)
    # the mirrored view's pixel (6, 3) is the input's (6, 8); shifting moves both by (dy, dx) / (dy, -dx)
    views = [x[:, 0, 6 - dy, 3 - dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)] + \
            [x[:, 0, 6 - dy, 8 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    assert torch.allclose(out[:, 1], torch.stack(views).mean(0), atol=1e-6)


def test_shift_tta_works_on_volumes_along_their_last_two_axes():
    x = torch.rand(2, 1, 5, 12, 12)
    out = tta_predict(lambda v: pixel_probs(6, 6)(v[:, :, 1]), x, "flip-shift")  # shifts of SHIFT_PX = 2
    # voxel (1, 6, 6) of a view shifted by (dy, dx), then flipped in H and/or W (12 wide: 6 -> 5), never in depth
    views = [x[:, 0, 1, r - dy, c - dx] for dy in (-2, 0, 2) for dx in (-2, 0, 2) for r in (6, 5) for c in (6, 5)]
    assert torch.allclose(out[:, 1], torch.stack(views).mean(0), atol=1e-6)


def test_policy_tta_averages_identity_and_k_draws():
    x = torch.rand(4, 1, 12, 12)
    calls = []

    def fn(v):
        calls.append(v)
        return left_half_probs(v)

    invert = Policy([[OpSpec("Invert", 1.0)]])
    out = tta_predict(fn, x, "policy", policy=invert, draws=3)
    assert len(calls) == 4
    expected = (left_half_probs(x) + 3 * left_half_probs(1 - x)) / 4
    assert torch.allclose(out, expected, atol=1e-6)


def test_policy_tta_takes_a_yaml_file_or_a_module(tmp_path):
    x = torch.rand(4, 3, 12, 12)
    assert tta_predict(mean_intensity_probs, x, "policy", policy=save_policy(randaugment_policy(2, 5), tmp_path / "ra.yaml"),
                       draws=2).shape == (4, 2)
    path = save_policy(Policy([[OpSpec("Invert", 1.0)]]), tmp_path / "invert.yaml")  # read back from the file
    expected = (mean_intensity_probs(x) + 2 * mean_intensity_probs(1 - x)) / 3
    assert torch.allclose(tta_predict(mean_intensity_probs, x, "policy", policy=path, draws=2), expected, atol=1e-6)
    same = tta_predict(mean_intensity_probs, x, "policy", policy=lambda v, y: (v, y), draws=2)
    assert torch.allclose(same, mean_intensity_probs(x))


def test_bad_tta_arguments_are_user_errors():
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(MedtrainError, match="did you mean flip"):
        tta_predict(mean_intensity_probs, x, "flips")
    with pytest.raises(MedtrainError, match="needs a policy"):
        tta_predict(mean_intensity_probs, x, "policy")
    with pytest.raises(MedtrainError, match="draws"):
        tta_predict(mean_intensity_probs, x, "policy", policy=Policy([[OpSpec("Invert", 1.0)]]), draws=0)
