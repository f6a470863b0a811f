"""Dropout (Srivastava et al., JMLR 2014) as nn.Dropout: inverted scaling keeps the expectation."""
import torch
import torch.nn as nn


def test_expected_activation_is_the_same_in_training_and_evaluation():
    torch.manual_seed(0)
    drop, x = nn.Dropout(p=0.4), torch.rand(64)
    train_mean = torch.stack([drop(x) for _ in range(4000)]).mean(0)
    drop.eval()
    torch.testing.assert_close(train_mean, drop(x), atol=0.05, rtol=0)


def test_training_zeroes_whole_units_and_scales_the_rest():
    torch.manual_seed(0)
    y = nn.Dropout(p=0.5)(torch.ones(10_000))
    assert set(y.unique().tolist()) == {0.0, 2.0}
    assert abs((y == 0).float().mean().item() - 0.5) < 0.03


def test_evaluation_is_the_identity():
    x = torch.randn(8, 16)
    assert torch.equal(nn.Dropout(p=0.7).eval()(x), x)
