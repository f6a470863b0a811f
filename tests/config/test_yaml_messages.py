"""Every YAML file of settings that cannot be read is said in one wording, worded once (medtrain._yaml.read_yaml_bytes):
a ``--config`` file, a search space and a ``compare`` recipe differ only in what they name the file. A read that
fails after the file was found (an I/O error, the file made unreadable since) had been said for a recipe only: a
config file's was an OSError traceback."""
from __future__ import annotations

import errno
import pathlib

import pytest

from medtrain import _compare_grid
from medtrain.config import load_yaml
from medtrain.errors import MedtrainError

READERS = {"config file": lambda p: load_yaml(p),
           "search space file": lambda p: load_yaml(p, "search space file"),
           "recipe file": lambda p: _compare_grid.load_recipes({"config": [str(p)]})}


def said(what: str, path) -> str:
    with pytest.raises(MedtrainError) as e:
        READERS[what](path)
    return str(e.value)


@pytest.mark.parametrize("content, ending", [
    (b"lr: [0.1\n", " is not valid YAML: line 2, column 1: expected ',' or ']'"), (b"lr: \xff\n", " is not UTF-8 text"),
    (b"- lr\n", " must hold a mapping of settings")])
def test_a_file_that_is_no_yaml_settings_is_said_alike_by_every_reader(tmp_path, content, ending):
    path = (tmp_path / "r.yaml").absolute()
    path.write_bytes(content)
    for what in READERS:
        assert said(what, path).startswith(f"{what} {path}{ending}")


def test_a_missing_file_is_said_alike_by_every_reader(tmp_path):
    path = (tmp_path / "none.yaml").absolute()
    assert {what: said(what, path) for what in READERS} == {what: f"{what} not found: {path}" for what in READERS}


def test_a_file_that_fails_to_read_is_one_line_naming_it(tmp_path, monkeypatch):
    path = (tmp_path / "cfg.yaml").absolute()
    path.write_text("lr: 0.1\n")

    def read_bytes(self):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)
    for what in READERS:
        assert said(what, path) == f"{what} {path} cannot be read (Input/output error)"
