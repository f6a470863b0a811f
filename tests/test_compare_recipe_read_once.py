"""``medtrain compare --vary config=a.yaml,b.yaml`` hashes and runs the same recipe: each file's bytes are read once,
and its ``sha256`` (grid.json's record, which a later grid is checked against) is that of the bytes whose settings
the cells run. The file had been read twice, parsed from the first read and hashed from the second: a file saved
in between was recorded as one recipe and run as another."""
from __future__ import annotations

import hashlib
import pathlib

import pytest

from medtrain import _compare_grid
from medtrain.errors import MedtrainError

FIRST, SAVED = "lr: 0.001\noptimizer: adam\n", "lr: 0.05\noptimizer: sgd\n"


@pytest.fixture
def edited_after_each_read(tmp_path, monkeypatch):
    """``a.yaml`` holding FIRST, saved with SAVED by an editor just after medtrain's first read of it."""
    path = (tmp_path / "a.yaml").absolute()
    path.write_text(FIRST)
    for name in ("read_bytes", "read_text"):
        original = getattr(pathlib.Path, name)

        def read(self, *args, _original=original, **kwargs):
            data = _original(self, *args, **kwargs)
            if self.absolute() == path:
                path.write_text(SAVED)  # the editor's save, between this read and any later one
            return data

        monkeypatch.setattr(pathlib.Path, name, read)
    return path


def test_a_recipe_s_hash_is_that_of_the_bytes_its_settings_come_from(edited_after_each_read):
    _, recipes = _compare_grid.load_recipes({"config": [str(edited_after_each_read)]})
    recipe = recipes["a"]
    assert recipe.settings["lr"] == 0.001 and recipe.settings["optimizer"] == "adam"  # the bytes read
    assert recipe.sha256 == hashlib.sha256(FIRST.encode()).hexdigest()  # hashed: those bytes, not the saved ones
    assert recipe.record()["sha256"] == recipe.sha256


@pytest.mark.parametrize("content, message", [
    (b"lr: [0.1\n", "is not valid YAML"), (b"lr: \xff\n", "is not UTF-8 text"),
    (b"- lr\n", "must hold a mapping of settings")])
def test_a_recipe_that_is_no_yaml_settings_is_one_error_naming_it(tmp_path, content, message):
    path = tmp_path / "r.yaml"
    path.write_bytes(content)
    with pytest.raises(MedtrainError, match=f"^recipe file {path.absolute()} {message}"):
        _compare_grid.load_recipes({"config": [str(path)]})


def test_an_empty_recipe_has_no_settings(tmp_path):
    (tmp_path / "e.yaml").write_bytes(b"")
    _, recipes = _compare_grid.load_recipes({"config": [str(tmp_path / "e.yaml")]})
    assert recipes["e"].settings == {} and recipes["e"].sha256 == hashlib.sha256(b"").hexdigest()
