"""The settings' aliases (``learning_rate`` for ``lr``, ``arch`` for ``model``...) live with the settings
(:data:`medtrain.config.settings.ALIASES`) and are offered only where a setting is named: ``suggest`` (errors, the
bottom layer, every "unknown X") applies none unless given them, so an unknown model, augmentation or value of a
choice is matched against its own choices alone."""
from __future__ import annotations

import pytest

from medtrain import errors
from medtrain.errors import MedtrainError, suggest
from medtrain.models.factory import check_model_name


def test_an_unknown_model_named_arch_is_not_offered_the_setting_model():
    with pytest.raises(MedtrainError) as e:
        check_model_name("arch")
    assert str(e.value).startswith("unknown model 'arch'") and "model?" not in str(e.value)


def test_a_list_of_other_choices_holding_an_alias_target_is_not_offered_it():
    """'model' is one of these report parts, not the setting ``arch`` names: the whole list is offered."""
    assert str(suggest("arch", ["data", "model", "splits"], "report part")) == \
        "unknown report part 'arch'; choose from: data, model, splits"
    assert "did you mean lr" not in str(suggest("learning_rat", ["lr", "momentum"], "optimizer argument"))


def test_the_settings_table_is_passed_where_a_setting_is_named():
    from medtrain.config.settings import ALIASES, KEYS

    assert str(suggest("learning_rat", KEYS, "setting", aliases=ALIASES)).endswith("did you mean lr?")
    assert str(suggest("ARCH", KEYS, "setting", aliases=ALIASES)).endswith("did you mean model?")
    assert not hasattr(errors, "ALIASES")
