"""A run's report decides once whether its data brought their own split (:func:`medtrain.reports.html.
brings_own_split`): the configuration table and the "no test results" sentence agree. Images given in memory
(``medtrain.train({"data": (x, y)})``) are written to ``<cache>/arrays/<sha256>/arrays.npz``, an .npz whose missing
splits were drawn with ``val_fraction``/``test_fraction``: with ``test_fraction: 0`` its test split is empty, and the
page had said it was "held back (not scored by this run)" while its table listed test_fraction 0 as read."""
from __future__ import annotations

import re

import pytest

from medtrain.reports.html import run_report

ARRAYS = "/home/u/.cache/medtrain/arrays/" + "cd" * 32 + "/arrays.npz"


def _metrics_without_test() -> dict:
    data = {"source": "data", "task": "binary-class", "shape": [1, 28, 28], "classes": ["a", "b"],
            "splits": [{"name": s, "n": n, "counts": [n // 4, n - n // 4]} for s, n in (("train", 120), ("val", 30),
                                                                                      ("test", 0))]}
    return {"dataset": "arrays", "model": "resnet10_28_half", "seed": 0, "task": "binary-class", "best_epoch": 0,
            "stop_epoch": 0, "train_images_per_s": 2.4, "wall_s": 16.0, "monitor": "val_auc",
            "val": {"auc": 0.61, "acc": 0.7}, "test": {}, "calibration": {"temperature": 1.2}, "data": data}


def _page(config: dict) -> tuple[str, dict]:
    html = run_report(config, m := _metrics_without_test(), {}, m["data"])
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    table = dict(re.findall(r"<div>(\S+) <span>=</span> ([^<]*?)</div>", html.split("<h2>Configuration</h2>")[1]))
    return text, table


def test_images_given_in_memory_with_test_fraction_0_have_an_empty_test_split_as_their_table_says():
    text, table = _page({"data": ARRAYS, "dataset": None, "val_fraction": 0.1, "test_fraction": 0})
    assert table["test_fraction"] == "0"  # read: the split was drawn with it
    assert "the test split is empty (test_fraction 0: no test images)" in text and "held back" not in text


@pytest.mark.parametrize("config", [{"data": "/d/own.npz", "dataset": None},
                                    {"data": None, "dataset": "breastmnist"}])
def test_data_that_bring_their_own_split_are_held_back_and_their_fractions_not_shown(config):
    text, table = _page({**config, "val_fraction": 0.1, "test_fraction": 0})
    assert "test_fraction" not in table and "val_fraction" not in table
    assert "the test split is held back (not scored by this run)" in text and "empty" not in text
