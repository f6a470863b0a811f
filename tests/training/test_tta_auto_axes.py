"""``--tta auto`` tries hflip (a left-right flip of the test images) only where the augmentation trained with flips the
last axis too (the axes of :mod:`medtrain.config.flips`): with ``--augment vflip,shift`` flips are on, up-down only,
and hflip had been scored on validation and could be kept for a network that never saw a left-right flip."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from medtrain.config import Config
from medtrain.training import choices

FLIPS_ON = {"chosen": True, "how": "pilot runs of 1 epoch(s) on validation"}
#: A validation score that would keep hflip wherever it is scored.
PREFERS_HFLIP = {"none": 0.61, "hflip": 0.74}


@pytest.fixture
def scored(monkeypatch) -> list:
    """The TTA modes decide_tta scores on validation (each scored as if hflip were better)."""
    modes = []

    def score(module, split, task, tta, name, mc_dropout=0, seed=0):
        modes.append(tta)
        return PREFERS_HFLIP[tta]

    monkeypatch.setattr(choices, "_score", score)
    return modes


SPLITS = SimpleNamespace(val=object(), task="binary-class")


def decide(**settings) -> dict:
    cfg = dataclasses.replace(Config(), **settings)
    return choices.decide_tta(choices.effective_config(cfg, FLIPS_ON), object(), SPLITS, FLIPS_ON)


@pytest.mark.parametrize("augment", [("vflip", "shift"), ("vflip",)])
def test_up_down_flips_only_never_score_or_pick_hflip(scored, augment):
    made = decide(augment=augment)
    assert made["chosen"] == "none"
    assert "hflip" not in scored and scored == []  # nothing scored: no validation pass spent on it
    assert made["how"] == f"--augment {','.join(augment)} never flips horizontally: hflip not tried"
    assert not any(k.startswith("val_") for k in made)


def test_up_down_flips_pinned_on_never_pick_hflip(scored):
    # tune pins flip: true for its trials where the study's pilots chose flips on
    made = decide(augment=("vflip", "shift"), flip="true")
    assert made["chosen"] == "none" and scored == []


def test_default_recipe_scores_both_as_before(scored):
    assert Config().augment == ("flip", "shift")
    made = decide()
    assert scored == ["none", "hflip"]
    assert made == {"chosen": "hflip", "how": "validation", "val_auc": PREFERS_HFLIP}


@pytest.mark.parametrize("settings", [{"augment": ("flip", "vflip", "shift")}, {"augment": ("3d_flip",)},
                                      # --flip true with no flip op: test-time flips only, as --help says
                                      {"augment": ("shift",), "flip": "true"}])
def test_left_right_flips_in_training_score_hflip(scored, settings):
    made = decide(**settings)
    assert scored == ["none", "hflip"] and made["chosen"] == "hflip"


@pytest.mark.parametrize("augment", [("vflip", "rot90", "shift"), ("vflip", "rot90")])
def test_up_down_flips_with_rot90_flip_left_right_too_and_score_hflip(scored, augment):
    # a half-turn after an up-down flip is a left-right flip: it had recorded "never flips horizontally: hflip not
    # tried"
    made = decide(augment=augment)
    assert scored == ["none", "hflip"] and made == {"chosen": "hflip", "how": "validation", "val_auc": PREFERS_HFLIP}


def test_flip_ops_with_flip_p_0_never_score_hflip(scored):
    # flips on (the study's pin, or pilots that cannot tell) yet flip_p 0: no image was flipped in training
    made = decide(augment=("flip", "shift"), augment_params={"flip_p": 0})
    assert scored == [] and made == {"chosen": "none", "how": "--augment flip,shift with flip_p 0 never flips "
                                                              "horizontally: hflip not tried"}
