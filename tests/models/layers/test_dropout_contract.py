"""What a user relies on from every dropout medtrain builds by name, whatever its kind.

``make_dropout(kind, p)`` and ``build_head(dropout_kind=kind, p=p)`` are how ``--dropout-kind`` reaches
the network. For each kind: the drop rate is ``p``; training preserves the expectation of what
evaluation computes (inverted scaling ``1 / (1 - p)`` for dropout, spatial dropout, annealed dropout and
DropConnect; for standout, evaluation multiplies by the keep probability, the mask's mean); and
evaluation is deterministic: the identity for the inverted kinds, ``x * keep_prob(x)`` for standout.
(DropBlock, timm's, normalises by the kept fraction of each batch instead and is left out.)
"""
import pytest
import torch
import torch.nn.functional as F

from medtrain.models.heads import build_head, make_dropout
from medtrain.models.layers import AnnealedDropout, DropConnectLinear, Standout

P = 0.4
ACTIVATION_KINDS = ["dropout", "dropout2d", "annealed", "standout"]  # make_dropout modules on activations
INVERTED = {"dropout", "dropout2d", "annealed"}


def _module(kind: str, **kw) -> torch.nn.Module:
    return make_dropout(kind, P, anneal_epochs=10, **kw)


def test_make_dropout_builds_medtrains_modules_for_the_head_kinds():
    assert isinstance(_module("annealed"), AnnealedDropout) and _module("annealed").p == P  # epoch 0: the full rate
    assert isinstance(_module("standout"), Standout)
    head = build_head(8, 3, dropout_kind="dropconnect", p=P)
    assert isinstance(head.fc, DropConnectLinear) and head.fc.p == P


@pytest.mark.parametrize("kind", ACTIVATION_KINDS)
def test_the_drop_rate_is_p(kind):
    torch.manual_seed(0)
    # standout drops with probability p where alpha * a = 0: alpha = 0 makes that hold for every unit
    drop = _module(kind, standout_alpha=0.0).train()
    y = drop(torch.ones(64, 64, 4, 4))
    units = y[:, :, 0, 0] if kind == "dropout2d" else y  # spatial dropout drops whole channels
    if kind == "dropout2d":
        assert ((y == 0).flatten(2).all(-1) | (y != 0).flatten(2).all(-1)).all()
    assert (units == 0).float().mean().item() == pytest.approx(P, abs=0.02)
    if kind in INVERTED:  # the kept units are scaled by 1 / (1 - p)
        assert torch.allclose(units[units != 0], torch.tensor(1 / (1 - P)))


def test_dropconnect_drops_a_fraction_p_of_the_weights():
    torch.manual_seed(0)
    fc = build_head(256, 64, dropout_kind="dropconnect", p=P).fc.train()
    weight, _ = fc.sample_weight()
    assert (weight == 0).float().mean().item() == pytest.approx(P, abs=0.02)
    kept = weight != 0
    assert torch.allclose(weight[kept], fc.weight[kept] / (1 - P))


@pytest.mark.parametrize("kind", ACTIVATION_KINDS + ["dropconnect"])
def test_training_preserves_the_expectation_of_the_evaluation_output(kind):
    torch.manual_seed(0)
    if kind == "dropconnect":
        module = build_head(16, 4, dropout_kind="dropconnect", p=P)
        x = torch.rand(1, 16)
    else:
        module = _module(kind)
        x = torch.rand(1, 16, 2, 2) + 0.5
    module.train()
    with torch.no_grad():
        train_mean = torch.stack([module(x) for _ in range(6000)]).mean(0)
        expected = module.eval()(x)
    torch.testing.assert_close(train_mean, expected, atol=0.05 * expected.abs().max().item(), rtol=0)


@pytest.mark.parametrize("kind", ACTIVATION_KINDS + ["dropconnect"])
def test_evaluation_is_deterministic_and_scaled_as_documented(kind):
    x = torch.randn(4, 16, 2, 2)
    if kind == "dropconnect":
        head = build_head(16, 4, dropout_kind="dropconnect", p=P).eval()
        x = x.flatten(1)[:, :16]
        assert torch.equal(head(x), F.linear(x, head.fc.weight, head.fc.bias))  # the whole, unscaled weights
        return
    drop = _module(kind).eval()
    y = drop(x)
    assert torch.equal(drop(x), y)
    if kind in INVERTED:
        assert torch.equal(y, x)
    else:  # standout: the activation times its keep probability
        torch.testing.assert_close(y, x * torch.sigmoid(drop.alpha * x + drop.beta))
