"""Standout (Ba & Frey, NIPS 2013): keep probabilities from a belief network sharing the weights."""
import math

import pytest
import torch
import torch.nn as nn

from medtrain.errors import MedtrainError
from medtrain.models.layers import Standout, StandoutLinear, beta_for_rate


def test_keep_probability_is_sigmoid_of_the_scaled_pre_activation():
    torch.manual_seed(0)
    layer, x = StandoutLinear(8, 5, alpha=2.0, beta=-0.5), torch.randn(3, 8)
    expected = torch.sigmoid(2.0 * (x @ layer.weight.T + layer.bias) - 0.5)
    torch.testing.assert_close(layer.keep_prob(x), expected)


def test_keep_probabilities_depend_on_the_input_and_lie_strictly_between_0_and_1():
    torch.manual_seed(0)
    layer = StandoutLinear(8, 5)
    keep = layer.keep_prob(torch.randn(2, 8))
    assert ((keep > 0) & (keep < 1)).all()
    assert not torch.allclose(keep[0], keep[1])
    keep_a = Standout(alpha=1.0).keep_prob(torch.tensor([-2.0, 0.0, 2.0]))
    assert 0 < keep_a[0] < keep_a[1] < keep_a[2] < 1  # strongly active units are kept more often


def test_training_samples_a_binary_mask_with_the_keep_probabilities():
    torch.manual_seed(0)
    layer = StandoutLinear(8, 4)
    x = torch.randn(1, 8).expand(20_000, 8)
    h, keep = layer(x), layer.keep_prob(x[:1])
    full = torch.relu(layer.eval()(x[:1]) / keep)  # g(z): evaluation output divided by keep
    kept = (h != 0).float().mean(0)
    active = full[0] > 0
    torch.testing.assert_close(kept[active], keep[0][active], atol=0.02, rtol=0)
    assert set(torch.unique(h[:, active] / full[0, active]).round(decimals=4).tolist()) <= {0.0, 1.0}


def test_evaluation_multiplies_by_the_keep_probability_the_masks_expectation():
    torch.manual_seed(0)
    layer, x = StandoutLinear(8, 4), torch.randn(1, 8)
    train_mean = layer(x.expand(20_000, 8)).mean(0)
    layer.eval()
    z = x @ layer.weight.T + layer.bias
    torch.testing.assert_close(layer(x)[0], (torch.relu(z) * layer.keep_prob(x))[0])
    torch.testing.assert_close(train_mean, layer(x)[0], atol=0.03, rtol=0)
    assert torch.equal(layer(x), layer(x))


def test_elementwise_standout_in_evaluation():
    a = torch.randn(4, 6)
    torch.testing.assert_close(Standout(0.5, 1.0).eval()(a), a * torch.sigmoid(0.5 * a + 1.0))


def test_beta_for_rate_drops_with_probability_p_at_zero_activation():
    assert torch.sigmoid(torch.tensor(beta_for_rate(0.2))).item() == pytest.approx(0.8)
    with pytest.raises(MedtrainError, match="standout drop rate"):
        beta_for_rate(0.0)


@pytest.mark.parametrize("alpha", [math.inf, float("nan"), "1"])
def test_rejects_non_finite_parameters(alpha):
    with pytest.raises(MedtrainError, match="alpha"):
        StandoutLinear(4, 2, alpha=alpha)


def test_gradients_flow_to_the_shared_weights():
    layer = StandoutLinear(4, 3, activation=nn.Identity())
    layer(torch.randn(16, 4)).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
