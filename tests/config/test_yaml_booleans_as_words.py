"""A YAML word read as a boolean (``augment: no``) where a word or a list is due is named as such, with the way on:
it had been "augment: cannot read False as tuple" (a bad-input walk)."""
import pytest

from medtrain import config as config_mod
from medtrain._yaml import read_yaml
from medtrain.errors import MedtrainError


@pytest.mark.parametrize("text, line", [
    ("augment: no", 'augment: YAML reads an unquoted no, off, yes or on as false, not as a word; quote it ("no") '
                    "where the word is meant; none is no augmentation"),
    ("model: on", 'model: YAML reads an unquoted no, off, yes or on as true, not as a word; quote it ("no") where '
                  "the word is meant"),
])
def test_a_yaml_boolean_where_a_word_is_due_says_why(text, line):
    with pytest.raises(MedtrainError) as e:
        config_mod.resolve(read_yaml(text))
    assert str(e.value) == line
