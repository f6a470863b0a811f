"""anneal_epochs is an integer >= 1 or unset, for every dropout kind: -1 had been accepted and recorded for a run
without annealed dropout, and 0 read silently as "unset" (epochs - 1) for one with it (a bad-input walk)."""
import pytest

from medtrain import config as config_mod
from medtrain.errors import MedtrainError


@pytest.mark.parametrize("kind", ["dropout", "annealed"])
@pytest.mark.parametrize("value", [0, -1])
def test_a_count_below_one_is_refused_naming_it(kind, value):
    with pytest.raises(MedtrainError, match=rf"^anneal_epochs must be an integer >= 1 \(unset: epochs - 1\), got {value}$"):
        config_mod.resolve({"dropout_kind": kind, "dropout": 0.5, "anneal_epochs": value})


def test_one_and_unset_are_taken():
    assert config_mod.resolve({"dropout_kind": "annealed", "dropout": 0.5, "anneal_epochs": 1}).anneal_epochs == 1
    assert config_mod.resolve({"dropout_kind": "annealed", "dropout": 0.5}).anneal_epochs is None
