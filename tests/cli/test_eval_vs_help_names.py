"""`medtrain eval --help` names the file `--vs` writes as it is written: it had said ``eval_vs_<other>_<hash>.json``
where eval writes ``eval_vs_<parent>-<other>_<hash>.json`` (README's name), so a glob made from the help found
nothing (walk 'claims' 5)."""
from __future__ import annotations

import re

from medtrain.cli import build_parser
from medtrain.versus import versus_file


def _vs_help() -> str:
    sub = next(a for a in build_parser()._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
    return next(a.help for a in sub.choices["eval"]._actions if "--vs" in a.option_strings)


def _as_regex(pattern: str, parent: str, other: str, stem: str = "") -> str:
    """The help's ``eval_vs_<parent>-<other>..._<hash>.json``, its placeholders filled in, as a regex."""
    rx = re.escape(pattern)
    for name, value in (("<parent>", parent), ("<other>", other), ("<stem>", stem)):
        rx = rx.replace(re.escape(name), re.escape(value))
    return rx.replace(re.escape("<hash>"), "[0-9a-f]{8}")


def test_the_help_names_the_file_vs_writes(tmp_path):
    said = re.findall(r"eval_vs_\S+?\.json", _vs_help())
    plain = [p for p in said if "_on_" not in p]
    on_data = [p for p in said if "_on_" in p]
    assert plain and on_data, said
    other = tmp_path / "runs" / "b"
    for pattern in plain:
        assert re.fullmatch(_as_regex(pattern, "runs", "b"), versus_file(other)), (pattern, versus_file(other))
    data = tmp_path / "site.csv"
    for pattern in on_data:
        assert re.fullmatch(_as_regex(pattern, "runs", "b", "site"), versus_file(other, data)), pattern
