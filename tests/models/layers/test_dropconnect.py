"""DropConnect (Wan et al., ICML 2013): weights are dropped, not units."""
import pytest
import torch
import torch.nn as nn

from medtrain.errors import MedtrainError
from medtrain.models.layers import DropConnectLinear


def positive_layer(in_features=64, out_features=32, p=0.1, mask="batch"):
    layer = DropConnectLinear(in_features, out_features, p=p, mask=mask)
    with torch.no_grad():
        layer.weight.uniform_(0.1, 1.0)
        layer.bias.zero_()
    return layer


@pytest.mark.parametrize("mask", ["batch", "sample"])
def test_masks_weights_so_no_output_unit_is_zeroed(mask):
    # With positive weights and inputs, a unit's output is zero only if all 64 of its incoming weights
    # are dropped (probability 0.1**64). Unit dropout at the same rate would zero ~10% of outputs.
    torch.manual_seed(0)
    layer, x = positive_layer(mask=mask), torch.rand(256, 64) + 0.1
    assert (layer(x) != 0).all()
    assert (nn.Dropout(0.1)(layer.eval()(x)) == 0).any()


def test_effective_weight_has_zeros_scattered_over_positions_not_whole_rows():
    torch.manual_seed(0)
    layer = positive_layer(p=0.3)
    weight, _ = layer.sample_weight()
    dropped = weight == 0
    assert abs(dropped.float().mean().item() - 0.3) < 0.05
    assert dropped.any(dim=1).all() and dropped.any(dim=0).all()  # every row and every column has holes
    assert not dropped.all(dim=1).any() and not dropped.all(dim=0).any()  # none is dropped whole
    kept = ~dropped
    torch.testing.assert_close(weight[kept], layer.weight[kept] / 0.7)  # kept weights carry 1 / (1 - p)


def test_per_sample_masks_differ_between_examples():
    torch.manual_seed(0)
    weight, bias = positive_layer(p=0.5).sample_weight(batch=4)
    assert weight.shape == (4, 32, 64) and bias.shape == (4, 32)
    assert not torch.equal(weight[0] == 0, weight[1] == 0)


@pytest.mark.parametrize("mask", ["batch", "sample"])
def test_expected_output_equals_the_evaluation_output(mask):
    # Mean-field inference: evaluation uses W x + b, the expectation of the rescaled masked layer.
    torch.manual_seed(0)
    layer, x = DropConnectLinear(16, 4, p=0.5, mask=mask), torch.randn(1, 16)
    if mask == "sample":
        train_mean = layer(x.expand(20_000, 16)).mean(0)
    else:
        train_mean = torch.cat([layer(x) for _ in range(4000)]).mean(0)
    layer.eval()
    torch.testing.assert_close(train_mean, layer(x)[0], atol=0.05, rtol=0)


def test_evaluation_is_deterministic_and_uses_the_whole_weights():
    layer, x = DropConnectLinear(16, 4, p=0.5).eval(), torch.randn(8, 16)
    assert torch.equal(layer(x), layer(x))
    torch.testing.assert_close(layer(x), x @ layer.weight.T + layer.bias)


def test_gradients_reach_the_kept_weights_only():
    torch.manual_seed(0)
    layer = DropConnectLinear(8, 3, p=0.5, bias=False)
    torch.manual_seed(1)
    layer(torch.ones(1, 8)).sum().backward()
    torch.manual_seed(1)
    weight, _ = layer.sample_weight()
    assert torch.equal(layer.weight.grad == 0, weight == 0)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan")])
def test_rejects_rates_outside_0_1(p):
    with pytest.raises(MedtrainError, match="drop probability"):
        DropConnectLinear(4, 2, p=p)


def test_rejects_unknown_mask_granularity_with_a_suggestion():
    with pytest.raises(MedtrainError, match="did you mean sample"):
        DropConnectLinear(4, 2, mask="samples")
