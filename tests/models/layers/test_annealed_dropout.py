"""Annealed dropout (Rennie et al., SLT 2014): the rate falls from p0 to 0 over anneal_epochs."""
import math

import pytest
import torch
import torch.nn as nn

from medtrain.errors import MedtrainError
from medtrain.models.layers import AnnealedDropout, annealed_rate, set_dropout_epoch


def test_linear_schedule_is_the_papers():
    assert [annealed_rate(0.5, e, 4) for e in range(6)] == pytest.approx([0.5, 0.375, 0.25, 0.125, 0.0, 0.0])


def test_cosine_schedule():
    rates = [annealed_rate(0.4, e, 4, "cosine") for e in range(5)]
    expected = [0.4 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)]
    assert rates == pytest.approx(expected)


@pytest.mark.parametrize("schedule", ["linear", "cosine", "exponential"])
def test_every_schedule_starts_at_p0_falls_monotonically_and_ends_at_zero(schedule):
    rates = [annealed_rate(0.6, e / 4, 10, schedule) for e in range(0, 60)]
    assert rates[0] == pytest.approx(0.6)
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    assert rates[40] == 0.0 and rates[-1] == 0.0  # epoch 10 = anneal_epochs, and after
    assert rates[39] > 0.0


def test_exponential_schedule_falls_faster_than_linear_at_first():
    assert annealed_rate(0.5, 2, 10, "exponential") < annealed_rate(0.5, 2, 10, "linear")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(p0=1.0), "p0"),
        (dict(anneal_epochs=0), "anneal_epochs"),
        (dict(epoch=-1), "epoch"),
        (dict(schedule="cosin"), "did you mean cosine"),
    ],
)
def test_rejects_bad_parameters(kwargs, message):
    args = dict(p0=0.5, epoch=0, anneal_epochs=10, schedule="linear") | kwargs
    with pytest.raises(MedtrainError, match=message):
        annealed_rate(**args)


def test_module_drops_at_the_current_rate_with_inverted_scaling():
    torch.manual_seed(0)
    drop = AnnealedDropout(p0=0.5, anneal_epochs=4)
    x = torch.ones(20_000)
    assert abs((drop(x) == 0).float().mean().item() - 0.5) < 0.02
    assert drop.set_epoch(2) == pytest.approx(0.25)
    y = drop(x)
    assert abs((y == 0).float().mean().item() - 0.25) < 0.02
    assert y.max().item() == pytest.approx(1 / 0.75)
    drop.set_epoch(4)
    assert torch.equal(drop(x), x)  # annealing over: the deterministic network


def test_evaluation_is_the_identity_at_any_epoch():
    drop = AnnealedDropout(0.5, 4).eval()
    x = torch.randn(100)
    assert torch.equal(drop(x), x)


def test_set_dropout_epoch_updates_every_annealed_module_and_returns_the_rates():
    model = nn.Sequential(AnnealedDropout(0.5, 10), nn.Linear(4, 4), nn.Dropout(0.3), AnnealedDropout(0.2, 5, "cosine"))
    rates = set_dropout_epoch(model, 5)
    assert rates == pytest.approx([0.25, 0.0])
    assert [m.p for m in (model[0], model[3])] == rates
    assert model[2].p == 0.3  # plain dropout untouched
    assert set_dropout_epoch(nn.Linear(2, 2), 3) == []


def test_the_epoch_is_saved_with_the_model():
    trained = nn.Sequential(AnnealedDropout(0.5, 10))
    set_dropout_epoch(trained, 6)
    restored = nn.Sequential(AnnealedDropout(0.5, 10))
    restored.load_state_dict(trained.state_dict())
    assert restored[0].p == pytest.approx(0.2)


def test_a_checkpoint_from_before_the_epoch_buffer_loads_strictly_at_its_epoch():
    # a run interrupted before the change could not be resumed: "Missing key(s): 0.epoch, Unexpected: 0._extra_state"
    restored = nn.Sequential(AnnealedDropout(0.5, 10))
    restored.load_state_dict({"0._extra_state": {"epoch": 6.0}}, strict=True)
    assert restored[0].p == pytest.approx(0.2) and float(restored[0].epoch) == 6.0
