"""Test-time augmentation averages probabilities over views."""
from __future__ import annotations

import pytest
import torch

from medtrain.augment.policies import OpSpec, Policy, randaugment_policy, save_policy
from medtrain.augment.tta import tta_predict
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
    path = save_policy(randaugment_policy(2, 5), tmp_path / "ra.yaml")
    assert tta_predict(mean_intensity_probs, x, "policy", policy=path, draws=2).shape == (4, 2)
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
