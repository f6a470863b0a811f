"""A study started by an older medtrain continues: it recorded settings the current medtrain no longer records
(``store``, resumable since), and ``medtrain tune`` had refused it ("base store: 'auto', now None"). A setting the
current medtrain still records and that changed is still refused, also where its value is now None."""
from __future__ import annotations

import re

import pytest

from medtrain import config as config_mod
from medtrain.api import RESUMABLE_KEYS
from medtrain.errors import MedtrainError
from medtrain.tune.space import parse_space
from medtrain.tune.study import connect, open_study

PARAMS = parse_space(None, {})
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # study.ask(), as tune asks


def settings_of(base: dict) -> dict:
    """What ``medtrain tune`` records with a study of the built-in space on ``base`` (medtrain.tune.tune)."""
    cfg = config_mod.resolve(base)
    fixed = {k: v for k, v in cfg.to_dict().items() if k not in RESUMABLE_KEYS}
    return {"command": "tune", "monitor": cfg.monitor, "space": {p.key: p.to_dict() for p in PARAMS}, "base": fixed}


def started_by_an_older_medtrain(tmp_path, base: dict, **recorded):
    """A study in a SQLite file whose stored settings are today's on ``base`` plus ``recorded`` in ``base``."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    old = settings_of(base)
    old["base"].update(recorded)
    study = open_study(connect(url), "tune", "val_auc", 0, old)
    study.tell(study.ask(), 0.7)
    return url


def test_a_study_recording_a_setting_no_longer_recorded_continues(tmp_path):
    base = {"dataset": "breastmnist", "epochs": 3}
    assert "store" not in settings_of(base)["base"]
    url = started_by_an_older_medtrain(tmp_path, base, store="auto")
    study = open_study(connect(url), "tune", "val_auc", 0, settings_of(base))
    assert len(study.get_trials()) == 1  # the same study, continued
    assert study.user_attrs["medtrain"]["base"]["store"] == "auto"  # its record is kept as it was


def test_a_changed_setting_is_still_refused(tmp_path):
    base = {"dataset": "breastmnist", "epochs": 3}
    url = started_by_an_older_medtrain(tmp_path, base, store="auto")
    with pytest.raises(MedtrainError, match=r"base epochs: 3, now 5"):
        open_study(connect(url), "tune", "val_auc", 0, settings_of({**base, "epochs": 5}))


def test_a_recorded_setting_now_none_is_still_refused(tmp_path):
    # lr is recorded by today's medtrain; None (the model's default rate) by the user's choice is a change
    base = {"dataset": "breastmnist", "epochs": 3}
    url = started_by_an_older_medtrain(tmp_path, {**base, "lr": 0.01})
    assert settings_of(base)["base"]["lr"] is None
    with pytest.raises(MedtrainError, match=r"base lr: 0.01, now None"):
        open_study(connect(url), "tune", "val_auc", 0, settings_of(base))


def test_a_parameter_removed_from_the_search_space_is_still_refused(tmp_path):
    # the space records only the user's parameters: one absent now was taken out of the search, not retired
    base = {"dataset": "breastmnist", "epochs": 3}
    url = started_by_an_older_medtrain(tmp_path, base)
    fewer = settings_of(base)
    gone = sorted(fewer["space"])[0]
    del fewer["space"][gone]
    with pytest.raises(MedtrainError, match=rf"space {re.escape(gone)}: .*, now None"):
        open_study(connect(url), "tune", "val_auc", 0, fewer)
