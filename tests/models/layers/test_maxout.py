"""Maxout (Goodfellow et al., ICML 2013): each unit outputs the max of k linear pieces."""
import pytest
import torch

from medtrain.errors import MedtrainError
from medtrain.models.layers import Maxout


@pytest.mark.parametrize("k", [2, 3, 5])
def test_output_is_the_max_of_k_linear_pieces(k):
    torch.manual_seed(0)
    layer, x = Maxout(6, 4, k=k), torch.randn(10, 6)
    w, b = layer.linear.weight.view(4, k, 6), layer.linear.bias.view(4, k)
    pieces = torch.stack([x @ w[:, j].T + b[:, j] for j in range(k)], dim=-1)  # (10, 4, k)
    torch.testing.assert_close(layer(x), pieces.max(dim=-1).values)
    torch.testing.assert_close(layer.pieces(x), pieces)


def test_shapes():
    layer = Maxout(6, 4, k=3)
    assert layer(torch.randn(2, 7, 6)).shape == (2, 7, 4)
    assert sum(p.numel() for p in layer.parameters()) == 3 * (6 * 4 + 4)


def test_gradient_reaches_only_the_winning_piece():
    torch.manual_seed(0)
    layer, x = Maxout(3, 1, k=2, bias=False), torch.randn(1, 3)
    layer(x).sum().backward()
    winner = layer.pieces(x)[0, 0].argmax()
    assert layer.linear.weight.grad[1 - winner].abs().sum() == 0
    torch.testing.assert_close(layer.linear.weight.grad[winner], x[0])


@pytest.mark.parametrize("k", [1, 0, 2.5])
def test_rejects_fewer_than_two_pieces(k):
    with pytest.raises(MedtrainError, match="k >= 2"):
        Maxout(4, 2, k=k)
