"""``medtrain augment list``: every op ``--augment`` takes, what it does and the settings it reads with their defaults.
The ops' settings had been written down nowhere: a user learnt that ``cutout`` reads ``cutout_size`` only from a
refusal naming it, and its default from the code."""
from __future__ import annotations

import json
import re

import pytest
import torch

from medtrain.augment import available, build_batch_augment
from medtrain.augment._registry import op_about
from medtrain.augment.catalogue import catalogue, default_text, op_settings
from medtrain.cli import main
from medtrain.config.values import coerce
from medtrain.errors import MedtrainError

#: built from a policy file / the training images' fitted statistics: their settings are checked in the list only
NEEDS_FILE = ("policy", "pca")


@pytest.mark.parametrize("name", available())
def test_each_op_s_line_names_every_setting_it_reads(name):
    about = op_about(name)
    assert len(about) > 20, name
    for key in op_settings(name):
        if key not in ("aa_interpolation", "aa_fill") or name in ("autoaugment", "randaugment", "trivialaugment",
                                                                   "policy"):
            assert key in about, (name, key)


def test_the_settings_are_the_ones_the_ops_read_with_their_defaults():
    assert op_settings("cutout") == {"cutout_size": 0.5, "cutout_p": 1.0, "cutout_value": 0.0}
    assert op_settings("pca") == {"pca_std": 0.1}  # its fitted eigen-decomposition is no setting
    # a policy file is needed to build it; what it reads besides is listed all the same
    assert op_settings("policy") == {"policy_file": None, "aa_interpolation": "nearest", "aa_fill": 0.0}
    assert op_settings("rot90") == {}
    assert default_text(4 / 3) == repr(4 / 3) and default_text(0.125) == "0.125" and default_text(15.0) == "15"
    assert default_text((0.9, 1.1)) == "[0.9,1.1]" and default_text(None) == "-"


@pytest.mark.parametrize("name", [n for n in available() if n not in NEEDS_FILE])
def test_the_printed_defaults_given_back_as_augment_params_change_nothing(name):
    """What the list prints can be copied into --augment-params: accepted (read by the op, in the form the command
    line parses) and drawing exactly what the op draws without it."""
    shown = {k: default_text(v) for k, v in op_settings(name).items() if v is not None}
    if not shown:
        return
    params = coerce("augment_params", ",".join(f"{k}={v}" for k, v in shown.items()))
    x = torch.rand(4, 3, 8, 8, 8) if name.startswith("3d") else torch.rand(4, 3, 16, 16)
    y = torch.eye(2)[[0, 1, 0, 1]]
    outs = []
    for p, given in (({}, ()), (params, tuple(params))):
        torch.manual_seed(0)
        outs.append(build_batch_augment([name], p, given=given)(x.clone(), y.clone()))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1]), name


def test_augment_list_prints_every_op_with_its_settings_and_flags(capsys):
    assert main(["augment", "list"]) == 0
    out = capsys.readouterr().out
    names = re.findall(r"^(\S+)$", out, flags=re.M)
    assert names == [r["op"] for r in catalogue()] and set(names) == set(available())
    assert names.index("window") < names.index("3d_affine")  # images' ops first
    cutout = out.split("\ncutout\n")[1].split("\nelastic\n")[0]
    assert "settings: cutout_size=0.5, cutout_p=1, cutout_value=0" in cutout
    assert "mixup_alpha=0.2 (--mixup-alpha)" in out  # a setting with a flag of its own names it
    assert "rot90\n" in out and "settings: none" in out


def test_augment_list_selects_volumes_or_images_and_writes_json(capsys):
    assert main(["augment", "list", "--volumes", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and all(r["op"].startswith("3d_") for r in rows)
    assert {r["op"] for r in rows} == {n for n in available() if n.startswith("3d_")}
    flip = next(r for r in rows if r["op"] == "3d_flip")
    assert flip["settings"] == {"flip_p": 0.5} and flip["flags"] == {}
    assert main(["augment", "list", "--images"]) == 0
    out = capsys.readouterr().out
    assert "\nflip\n" in out and "3d_" not in out


def test_an_unknown_op_sends_the_user_to_the_list():
    with pytest.raises(MedtrainError, match=r"unknown augmentation 'blur'; none of the \d+ is close \(medtrain "
                                            r"augment list names each"):
        build_batch_augment(["blur"])
