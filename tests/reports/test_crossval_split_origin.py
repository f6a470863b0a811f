"""A cross-validation's report lists ``val_fraction`` / ``test_fraction`` only where they drew a split, as its folds'
loader recorded (``split_origin``), as a single run's report does; it had guessed from the data's path, and a CSV
whose split column names train, val and test listed both fractions, though the folds read neither."""
from __future__ import annotations

import json
import re

import pytest

from medtrain.crossval import cross_validate
from conftest import fast_config, make_images, png_csv

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_cross_validation_of_data_with_their_own_split_lists_no_fraction(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    x, y = make_images(60, seed=4)
    split = ["train"] * 40 + ["val"] * 10 + ["test"] * 10
    data = png_csv(tmp_path / "split", x, y, columns={"split": split})
    out = tmp_path / "cv"
    cross_validate(dict(**fast_config(data, out, epochs=1, bootstrap=0, folds=2, val_fraction=0.25,
                                        test_fraction=0.25)), verbose=False)
    origins = {json.loads(p.read_text())["data"]["split_origin"] for p in out.glob("fold*/metrics.json")}
    assert origins == {"own test, fold val"}
    html = (out / "report.html").read_text()
    table = dict(re.findall(r"<div>(\S+) <span>=</span> ([^<]*?)</div>", html))
    assert "folds" in table and "val_fraction" not in table and "test_fraction" not in table
