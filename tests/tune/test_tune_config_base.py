"""``tune`` takes its base settings as a Config, as ``train`` and ``compare`` do (``tune(Config(...), ...)`` had
been "'Config' object has no attribute 'items'"): read as compare reads one (its settings other than the
defaults: :func:`medtrain.config.settings.base_settings`), with the space's values checked as for a dict. Training
is replaced by a canned score: what is tested is the settings the trials train with."""
from __future__ import annotations

import pytest
import yaml

from medtrain.config import Config
from medtrain.errors import MedtrainError
from medtrain.tune import tune

from test_tune_typed import LR, _base, _fake_training


def test_a_config_base_trains_its_settings_and_is_the_same_study_as_the_dict_of_them(tmp_path, monkeypatch):
    trained = _fake_training(monkeypatch)
    settings = _base(tmp_path, monkeypatch)
    out = tmp_path / "tn"
    best = tune(Config(**settings, out=str(tmp_path / "ignored")), LR, out, trials=1, log=lambda line: None)
    assert best["finished_trials"] == 1 and len(trained) == 1
    cfg = trained[0]
    assert {k: getattr(cfg, k) for k in settings} == settings and 0.01 <= cfg.lr <= 0.02
    assert cfg.out == str(out / "trials" / "000")  # the Config's out is no trial's folder
    # the best config names the Config's settings (not every default of it), as for a dict of them
    written = yaml.safe_load((out / "best_config.yaml").read_text())
    assert {k: written[k] for k in settings} == settings and "milestones" not in written and "out" not in written
    # the dict of the same settings continues that study: the same base, not "started with other settings"
    assert tune(settings, LR, out, trials=2, log=lambda line: None)["finished_trials"] == 2
    assert len(trained) == 2


def test_a_config_bases_space_values_are_checked_as_a_dicts_and_another_kind_is_one_line(tmp_path, monkeypatch):
    trained = _fake_training(monkeypatch)
    base = Config(**_base(tmp_path, monkeypatch), flip="false")
    with pytest.raises(MedtrainError, match=r"^search space tta: value 'hflip' is refused by train \(flip false"):
        tune(base, {"tta": ["none", "hflip"]}, tmp_path / "tn", trials=1, log=lambda line: None)
    with pytest.raises(MedtrainError, match=r"^base must be a dict of settings or a Config; got list"):
        tune([("epochs", 1)], LR, tmp_path / "tn", trials=1, log=lambda line: None)
    assert not trained and not (tmp_path / "tn").exists()
