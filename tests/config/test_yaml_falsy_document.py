"""A YAML file of settings holding a falsy value that is no mapping (``[]``, ``false``, ``0``) is refused as every
other non-mapping is, by every reader: it had been read as "no settings" (``parsed or {}``), so ``--config`` of a
file holding ``[]`` trained the defaults. An empty file (or one of comments, or ``null``) still holds no settings."""
from __future__ import annotations

import pytest

from medtrain import _compare_grid
from medtrain._yaml import read_yaml_mapping
from medtrain.config import load_yaml
from medtrain.errors import MedtrainError

READERS = {"config file": lambda p: load_yaml(p),
           "search space file": lambda p: load_yaml(p, "search space file"),
           "recipe file": lambda p: _compare_grid.load_recipes({"config": [str(p)]})}


@pytest.mark.parametrize("content", ["[]\n", "false\n", "0\n", "''\n", "0.0\n"])
def test_a_falsy_document_that_is_no_mapping_is_refused_by_every_reader(tmp_path, content):
    path = (tmp_path / "r.yaml").absolute()
    path.write_text(content)
    for what, read in READERS.items():
        with pytest.raises(MedtrainError) as e:
            read(path)
        assert str(e.value) == f"{what} {path} must hold a mapping of settings"


@pytest.mark.parametrize("content", ["", "# nothing set yet\n", "null\n", "~\n", "{}\n"])
def test_a_file_holding_nothing_holds_no_settings(tmp_path, content):
    path = tmp_path / "r.yaml"
    path.write_text(content)
    assert read_yaml_mapping(path, "config file") == (content.encode(), {})
    assert load_yaml(path) == {}


def test_a_config_file_holding_nothing_is_said_once_on_standard_error(tmp_path, capsys):
    """``--config empty.yaml`` had trained the default dataset without a word (a bad-input walk): a note says it."""
    import argparse

    from medtrain.cli._options import config_layers

    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    assert config_layers(argparse.Namespace(config=str(path), epochs=3)) == ({}, {"epochs": 3})
    assert capsys.readouterr().err == (f"medtrain: note: config file {path} holds no settings: the flags and the "
                                       "defaults apply\n")
    path.write_text("epochs: 2\n")
    assert config_layers(argparse.Namespace(config=str(path)))[0] == {"epochs": 2}
    assert capsys.readouterr().err == ""
