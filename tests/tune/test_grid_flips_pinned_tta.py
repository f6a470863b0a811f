"""The RandAugment grid decides its candidates' flips as a tune study does: with a pinned TTA that flips the test
images, flips stay on without pilots (its own copy of the decision had let pilots choose flips off, and every
candidate trained flip false with tta hflip, a combination ``train`` refuses, then printed a train command that
exits 2)."""
from __future__ import annotations

import pytest

from medtrain import config as config_mod
from medtrain.policy_search import grid_flips
from medtrain.tune import flips


def test_a_pinned_flipping_tta_keeps_the_grids_flips_on_without_pilots(tiny_npz, tmp_path, monkeypatch):
    monkeypatch.setattr(flips, "fit", lambda *a, **k: pytest.fail("ran a pilot"))
    cfg = config_mod.resolve({"data": str(tiny_npz), "model": "resnet10_28_half", "tta": "hflip", "flip": "auto"})
    said = []
    assert grid_flips(cfg, ["shift"], 1, tmp_path, said.append) == {"flip": "true"}
    assert len(said) == 1 and "flips on for every candidate" in said[0] and "tta hflip" in said[0]
