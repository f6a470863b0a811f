"""``medtrain cost`` says which stem it counted (walk 'netzoo'): resnet18 had counted 2.222G MACs at 64 px and
223.77M at 65 px without a word why (the small-input stem at <= 64 px), and the standard stem's figure at 64 px,
which the train warning quotes, came from no command."""
from __future__ import annotations

import json

from conftest import run_cli


def _cost(capsys, *argv):
    code, out, err = run_cli(capsys, "cost", *argv)
    assert code == 0, err
    return out


def test_the_small_stem_is_named_with_the_standard_stem_s_figures(capsys):
    r = json.loads(_cost(capsys, "resnet18", "--input", "64", "--num-classes", "3", "--json"))
    assert r["stem"] == "small-input" and r["macs"] == 2_221_671_936
    assert r["standard_stem"] == {"macs": 148_047_360, "params": 11_178_051}  # the warning's "148.0 MMACs"
    text = _cost(capsys, "resnet18", "--input", "64", "--num-classes", "3")
    stem = next(line for line in text.splitlines() if line.startswith("stem:"))
    assert "small-input stem" in stem and "148,047,360 MACs" in stem and "15.0x" in stem and "65 px" in stem


def test_above_64_px_the_standard_stem_is_named(capsys):
    r = json.loads(_cost(capsys, "resnet18", "--input", "65", "--json"))
    assert r["stem"] == "standard" and r["standard_stem"] is None
    assert "stem: its standard stem" in _cost(capsys, "resnet18", "--input", "65")


def test_a_standard_stem_that_cannot_take_the_size_is_said(capsys):
    r = json.loads(_cost(capsys, "inception_v3", "--input", "64", "--json"))
    assert r["stem"] == "small-input" and r["standard_stem"] is None
    assert "its standard stem cannot take 64 px" in _cost(capsys, "inception_v3", "--input", "64")


def test_a_network_without_the_choice_has_no_stem_line(capsys):
    r = json.loads(_cost(capsys, "resnet10_28_half", "--input", "64", "--json"))
    assert r["stem"] is None
    assert "stem:" not in _cost(capsys, "resnet10_28_half", "--input", "64")
