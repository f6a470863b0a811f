"""The report's note on the split fractions it leaves out says where the splits came from, as the run recorded
(``metrics.json`` data.split_origin): every data that brought their own split had been said to be 'the .npz's
train, val and test arrays' (a CSV's split column, a dict of splits, --folds), and where one fraction alone was left
out, nothing said why."""
from __future__ import annotations

import re

import pytest

from medtrain.reports.html import run_report

ARRAYS = "/home/u/.cache/medtrain/arrays/" + "cd" * 32 + "/arrays.npz"


def _page(data: str, origin: str, **over) -> tuple[str, dict]:
    summary = {"source": "data", "task": "binary-class", "shape": [1, 28, 28], "classes": ["a", "b"],
               "split_origin": origin,
               "splits": [{"name": s, "n": n, "counts": [n // 4, n - n // 4]} for s, n in (("train", 120),
                                                                                          ("val", 30), ("test", 0))]}
    m = {"dataset": "arrays", "model": "resnet10_28_half", "seed": 0, "task": "binary-class", "best_epoch": 0,
         "stop_epoch": 0, "train_images_per_s": 2.4, "wall_s": 16.0, "monitor": "val_auc",
         "val": {"auc": 0.61, "acc": 0.7}, "test": {}, "calibration": {"temperature": 1.2}, "data": summary}
    html = run_report({"data": data, "dataset": None, "val_fraction": 0.1, "test_fraction": 0.2, **over}, m, {},
                      summary)
    conf = html.split("<h2>Configuration</h2>")[1]
    table = dict(re.findall(r"<div>(\S+) <span>=</span> ([^<]*?)</div>", conf))
    return " ".join(re.sub(r"<[^>]+>", " ", conf).split()).replace("&#39;", "'"), table


@pytest.mark.parametrize("data, origin, over, said", [
    ("/d/split.csv", "own", {}, "val_fraction and test_fraction are not shown: these data come split (the CSV's "
                                "split column), and the fractions are not read."),
    (ARRAYS, "own", {}, "val_fraction and test_fraction are not shown: these data come split (the train, val and "
                        "test images given in memory), and the fractions are not read."),
    ("/d/split.csv", "own test, fold val", {"folds": 2},
     "val_fraction and test_fraction are not shown: validation is a fold of train+val; the test split is the data's "
     "own (the CSV's split column), and the fractions are not read."),
])
def test_both_fractions_left_out_say_the_datas_own_source(data, origin, over, said):
    text, table = _page(data, origin, **over)
    assert "val_fraction" not in table and "test_fraction" not in table
    assert said in text and "the .npz's" not in text


@pytest.mark.parametrize("data, origin, shown, said", [
    (ARRAYS, "own test, drawn val", "val_fraction", "test_fraction is not shown: the test split is the data's own "
                                                    "(the test images given in memory), and test_fraction is not read."),
    (ARRAYS, "drawn test, own val", "test_fraction", "val_fraction is not shown: validation is the data's own (the "
                                                     "val images given in memory), and val_fraction is not read."),
    ("/d/all.csv", "fold test, drawn val", "val_fraction", "test_fraction is not shown: the test split is the fold "
                                                           "held out (--folds), and test_fraction is not read."),
])
def test_one_fraction_left_out_is_named_with_why(data, origin, shown, said):
    text, table = _page(data, origin, folds=2 if "fold" in origin else 0)
    assert shown in table and len({"val_fraction", "test_fraction"} & set(table)) == 1
    assert said in text


def test_an_npz_with_its_own_splits_keeps_its_words():
    text, _ = _page("/d/own.npz", "own")
    assert "these data come split (the .npz's train, val and test arrays), and the fractions are not read." in text
