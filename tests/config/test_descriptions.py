"""Each setting's meaning has one owner, ``medtrain.config.DESCRIPTIONS``, and both ways in read it:
``medtrain train --help`` shows it for the flag and ``help(medtrain.Config)`` for the field. ``Config``'s
docstring had said "see README" and help() listed ``dropout_kind = 'dropout'`` with no meaning; the texts lived
twice, as ``#:`` comments in settings.py (seen by no user) and as the CLI's own HELP dict."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

import medtrain
from medtrain.cli import main
from medtrain.config import DESCRIPTIONS, Config
from medtrain.config.descriptions import python_text

FIELDS = [f.name for f in dataclasses.fields(Config)]


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_every_setting_has_one_description_and_nothing_else_does():
    # the one check of it (settings.py's import-time assert had failed every import instead, and python -O drops it)
    undescribed, unknown = sorted(set(FIELDS) - set(DESCRIPTIONS)), sorted(set(DESCRIPTIONS) - set(FIELDS))
    assert (undescribed, unknown) == ([], []), f"settings without a description: {undescribed}; " \
        f"descriptions of no setting: {unknown}"
    assert all(isinstance(t, str) and len(t.split()) >= 3 for t in DESCRIPTIONS.values()), DESCRIPTIONS


def test_the_split_settings_say_which_data_they_split_and_how():
    # images in memory (train() with data (x, y)) are split by them too, and multi-label rows not per class: the
    # texts had said "image folder or CSV without a split column: each class's share"
    for key in ("val_fraction", "test_fraction", "seed"):
        assert "in memory" in DESCRIPTIONS[key] or "as --val-fraction" in DESCRIPTIONS[key], key
    assert "multi-label rows by the rarest label value" in _flat(DESCRIPTIONS["val_fraction"])


def test_train_help_lists_every_settings_description(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    shown = capsys.readouterr().out
    bare = "".join(shown.split())  # argparse wraps, after a hyphen too ("val-" / "fitted")
    missing = [k for k in FIELDS if "".join(DESCRIPTIONS[k].split()) not in bare]
    assert missing == []
    assert "95% confidence" in _flat(shown) and "95%%" not in shown  # stored plain, escaped for argparse by the CLI


def test_config_docstring_explains_every_field():
    doc = _flat(Config.__doc__)
    assert "Settings" in Config.__doc__
    unexplained = []
    for f in dataclasses.fields(Config):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if f"{f.name} ({default!r}): {_flat(python_text(DESCRIPTIONS[f.name]))}" not in doc:
            unexplained.append(f.name)
    assert unexplained == []
    # what the walkthrough found unexplained, now said in Python's terms (a flag named as its key)
    assert "dropout_kind ('dropout'): the head's dropout: dropout, dropconnect, annealed or standout" in doc
    assert "fold (None): with folds K: train only the run holding out this fold" in doc
    assert "progress (True): progress bars (progress=False: none, for logs)" in doc


def test_python_text_names_flags_as_keys_and_leaves_other_flags():
    assert python_text("with --early-stop and --no-progress, see --config") == \
        "with early_stop and progress=False, see --config"


def test_help_of_config_imports_no_torch():
    code = ("import sys, pydoc, medtrain; pydoc.render_doc(medtrain.Config); "
            "print('torch' in sys.modules, 'Settings' in medtrain.Config.__doc__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]
    assert medtrain.Config is Config


def test_weight_decays_description_says_which_optimisers_apply_it_as_l2_and_which_decoupled():
    """``--weight-decay`` had been described as "the L2 penalty" while the adamw optimiser applies it as decoupled
    decay (README and code say so): a lecturer comparing L2 through adam and adamw read the help as one thing."""
    from medtrain.config.descriptions import DESCRIPTIONS

    text = DESCRIPTIONS["weight_decay"]
    assert "L2" in text and "sgd and adam" in text and "adamw decoupled" in text
