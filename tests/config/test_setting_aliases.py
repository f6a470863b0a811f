"""Another tool's name of a setting (``learning_rate``, ``wd``, ``bs``) is offered medtrain's (``lr``...) wherever a
setting is named, not only in a ``tune`` search space: a config file's ``learning_rate: 1e-3`` had been offered
"erasing_p, operating_point" by difflib, as had a dict given to :func:`medtrain.train` and ``compare --vary``, and
``Config(learning_rate=...)`` had been the dataclass's TypeError. One line, exit 2, nothing written."""
from __future__ import annotations

import pytest

import medtrain
from conftest import run_cli
from medtrain.config import Config, resolve
from medtrain.errors import MedtrainError, suggest
from medtrain.tune.space import parse_space

LR_OFFERED = r"unknown setting 'learning_rate'; did you mean lr\?$"


def test_a_config_file_naming_learning_rate_is_offered_lr(tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("learning_rate: 1.0e-3\nepochs: 1\n")
    code, out, err = run_cli(capsys, "train", "--config", cfg, "--out", tmp_path / "run")
    assert code == 2
    assert err.strip().splitlines() == ["medtrain: error: unknown setting 'learning_rate'; did you mean lr?"]
    assert not (tmp_path / "run").exists()


def test_compare_vary_learning_rate_is_offered_lr(tmp_path, capsys):
    code, out, err = run_cli(capsys, "compare", "--vary", "learning-rate=0.1,0.01", "--out", tmp_path / "c")
    assert code == 2
    assert err.strip().splitlines() == ["medtrain: error: unknown setting 'learning_rate'; did you mean lr?"]
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("make", [lambda: medtrain.train({"learning_rate": 1e-3}, verbose=False),
                                  lambda: resolve({"epochs": 1}, {"learning_rate": 1e-3}),
                                  lambda: Config(learning_rate=1e-3)],
                         ids=["train-dict", "resolve", "Config"])
def test_python_naming_learning_rate_is_offered_lr(make):
    with pytest.raises(MedtrainError, match=LR_OFFERED):
        make()


@pytest.mark.parametrize("name, setting", [("wd", "weight_decay"), ("BS", "batch_size"), ("max_epochs", "epochs"),
                                           ("arch", "model")])
def test_every_way_of_naming_a_setting_offers_the_same_one(name, setting):
    said = []
    for make in (lambda: resolve({name: 1}), lambda: Config(**{name: 1}),
                 lambda: parse_space({name: [1, 2]}, {})):
        with pytest.raises(MedtrainError) as e:
            make()
        said.append(str(e.value).split("; ", 1)[1])
    assert said == [f"did you mean {setting}?"] * 3


def test_an_alias_is_offered_only_among_settings():
    """``arch`` is a setting's alias, not an optimizer's: a list of other choices is not offered ``model``."""
    assert "did you mean model" not in str(suggest("arch", ("sgd", "adam", "adamw"), "optimizer"))
    assert str(suggest("epoch", Config.__dataclass_fields__, "setting")).endswith("did you mean epochs, anneal_epochs?")


def test_config_keeps_its_signature_and_settings():
    assert Config(lr=0.1, epochs=3).lr == 0.1
    assert Config(epochs=3) == resolve({"epochs": 3})


@pytest.mark.parametrize("typed, meant", [("learning_rat", "lr"), ("learnig_rate", "lr"), ("num_epoch", "epochs")])
def test_a_misspelt_alias_is_offered_its_setting(typed, meant):
    """``learning_rat`` is closer to the alias ``learning_rate`` than to any setting: offered ``lr``, not the
    settings difflib finds (it had said 'erasing_p, operating_point')."""
    with pytest.raises(MedtrainError, match=rf"unknown setting '{typed}'; did you mean {meant}\?$"):
        resolve({typed: 1})


@pytest.mark.parametrize("typed, meant", [("weight_decy", "weight_decay"), ("schedulr", "schedule"), ("wdd", None)])
def test_a_setting_s_own_misspelling_is_not_taken_for_an_alias(typed, meant):
    """An alias is offered only where no setting is as close (and a short one, ``wd``, only typed exactly)."""
    said = str(suggest(typed, ["weight_decay", "schedule", "layer_decay", "lr"], "setting"))
    assert (f"did you mean {meant}" in said) if meant else "did you mean" not in said


def test_an_unknown_keyword_to_config_is_still_a_type_error_for_python_callers():
    """``Config(learning_rate=...)`` says medtrain's line (offering lr) and is caught by ``except TypeError``, as
    the dataclass's own error was before the line replaced it (a caller's handler kept working)."""
    with pytest.raises(TypeError, match=r"unknown setting 'learning_rate'; did you mean lr\?$") as e:
        Config(learning_rate=1e-3)
    assert isinstance(e.value, MedtrainError)
