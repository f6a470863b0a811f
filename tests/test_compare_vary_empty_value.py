"""An empty value between two others in ``--vary`` (``lr=0.1,,0.2``) is refused in one line: it had been dropped
without a word, so the grid held one cell fewer than typed (a bad-input walk)."""
import pytest

from medtrain.compare import parse_vary
from medtrain.errors import MedtrainError


@pytest.mark.parametrize("item", ["lr=0.1,,0.2", "lr=,0.1", "augment=shift;;flip"])
def test_an_empty_value_between_separators_is_refused_naming_the_axis(item):
    with pytest.raises(MedtrainError) as e:
        parse_vary([item])
    assert str(e.value) == f"--vary {item}: an empty value between separators; give each value once"


def test_a_trailing_separator_is_allowed():
    assert parse_vary(["lr=0.1,0.2,"]) == {"lr": ["0.1", "0.2"]}
