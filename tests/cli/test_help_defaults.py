"""Every setting's default is said in `medtrain train --help` (the README promises it): a help text that merely
mentions "the default 2D network" or "its default" still gets its own default appended."""
from __future__ import annotations

import argparse
import dataclasses
import re

import pytest

from medtrain.cli import build_parser
from medtrain.config import Config


def _train_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def _help(flag: str) -> str:
    action = next(a for a in _train_parser()._actions if flag in a.option_strings)
    return " ".join(action.help.split())


@pytest.mark.parametrize("flag", ["--store", "--checkpoint"])
def test_store_and_checkpoint_say_auto_is_their_default(flag):
    assert "(default auto)" in _help(flag)


def test_every_setting_with_a_default_names_its_value():
    def value(d):
        return ",".join(map(str, d)) if isinstance(d, tuple) else str(d)

    unsaid = []
    for f in dataclasses.fields(Config):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if default is None or isinstance(default, dict):
            continue
        text = _help("--" + f.name.replace("_", "-"))
        # a switch may say its default in words: --skip-bad "(default: stop at the first)"
        said = r"\(default: " if isinstance(default, bool) else rf"[Dd]efault:? {re.escape(value(default))}\b"
        if not re.search(said, text):
            unsaid.append(f"--{f.name.replace('_', '-')} ({value(default)}): {text[-60:]}")
    assert unsaid == []

