"""Weight decay is the lecture's J(θ) + λΣθ²: the optimiser gets 2λ, biases and norms are excluded by default."""
import torch
from torch import nn

from medtrain.training.optim import build_optimizer


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def test_sgd_step_equals_gradient_of_the_l2_objective():
    net, lam, lr = _net(), 0.01, 0.1
    before = [p.detach().clone() for p in net.parameters()]
    opt = build_optimizer(net, "sgd", lr, lam, momentum=0.0)
    x = torch.randn(8, 3)
    loss = net(x).pow(2).mean()
    loss.backward()
    grads = [p.grad.clone() for p in net.parameters()]
    opt.step()
    for (name, p), b, g in zip(net.named_parameters(), before, grads):
        decayed = p.ndim > 1
        expected = b - lr * (g + (2 * lam * b if decayed else 0))  # d/dθ of λθ² is 2λθ
        assert torch.allclose(p.detach(), expected, atol=1e-6), name


def test_norm_and_bias_decay_is_opt_in():
    net = _net()
    groups = build_optimizer(net, "adamw", 1e-3, 0.5).param_groups
    assert [g["weight_decay"] for g in groups] == [1.0, 0.0]
    assert sum(len(g["params"]) for g in groups if g["weight_decay"] == 0) == 4  # 2 biases + BN weight/bias
    groups = build_optimizer(net, "adamw", 1e-3, 0.5, decay_norm_and_bias=True).param_groups
    assert len(groups) == 1 and len(groups[0]["params"]) == 6


def test_adamw_decay_is_decoupled_from_the_gradient():
    net = nn.Linear(2, 1, bias=False)
    nn.init.constant_(net.weight, 1.0)
    opt = build_optimizer(net, "adamw", lr=0.1, lam=0.05)
    net.weight.grad = torch.zeros_like(net.weight)
    opt.step()  # zero gradient: only the decay acts, θ <- θ(1 - lr·2λ)
    assert torch.allclose(net.weight, torch.full_like(net.weight, 1 - 0.1 * 0.1))
