"""A run's report lists ``val_fraction`` and ``test_fraction`` only where they drew a split, as the loader
recorded in ``metrics.json``'s data summary (``split_origin``). Its path had been the guide, and two runs whose data
brought their own train, val and test had listed both fractions as read: a CSV with a split column, and images given
in memory as three splits. A run written before the origin was recorded still renders by the path."""
from __future__ import annotations

import json
import re
import shutil

import pytest

import medtrain
from conftest import fast_config, make_images, make_npz, png_csv
from medtrain import rundir
from medtrain.reports.html import run_report

pytestmark = pytest.mark.usefixtures("one_thread")

FRACTIONS = {"val_fraction": "0.25", "test_fraction": "0.25"}


def _table(html: str) -> dict:
    return dict(re.findall(r"<div>(\S+) <span>=</span> ([^<]*?)</div>", html.split("<h2>Configuration</h2>")[1]))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """1-epoch runs on 60 16x16 images: {name: run folder}."""
    root = tmp_path_factory.mktemp("origin")
    x, y = make_images(60, seed=4)
    cut = {"train": slice(0, 40), "val": slice(40, 50), "test": slice(50, 60)}
    column = {"split": [s for s in cut for _ in range(cut[s].start, cut[s].stop)]}
    data = {"csv with split column": png_csv(root / "split", x, y, columns=column),
            "csv": png_csv(root / "csv", x, y),
            "in memory, three splits": {s: (x[c], y[c]) for s, c in cut.items()},
            "in memory, train and test": {"train": (x[:50], y[:50]), "test": (x[50:], y[50:])},
            "npz": make_npz(root / "own.npz", sizes=(40, 10, 10))}
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDTRAIN_DATA", str(root / "cache"))
        for i, (name, d) in enumerate(data.items()):
            out[name] = root / f"run{i}"
            cfg = fast_config(root, out[name], epochs=1, bootstrap=0, **{k: float(v) for k, v in FRACTIONS.items()})
            medtrain.train({**cfg, "data": d if isinstance(d, dict) else str(d)}, verbose=False)
    return out


@pytest.mark.parametrize("name, origin, shown", [
    ("csv with split column", "own", set()),
    ("in memory, three splits", "own", set()),
    ("npz", "own", set()),
    ("csv", "drawn", {"val_fraction", "test_fraction"}),
    ("in memory, train and test", "own test, drawn val", {"val_fraction"}),
])
def test_the_report_lists_the_fractions_that_drew_a_split_as_metrics_json_records(runs, name, origin, shown):
    run = runs[name]
    data = json.loads((run / "metrics.json").read_text())["data"]
    assert data["split_origin"] == origin
    table = _table((run / "report.html").read_text())
    assert {k: table.get(k) for k in FRACTIONS} == {k: FRACTIONS[k] if k in shown else None for k in FRACTIONS}
    # one key added to the data summary, its others as they were
    # (and image files' data.images: what --image-size did to them, tests/data/test_metrics_json_images.py)
    files = ["images"] if name.startswith("csv") else []
    assert list(data) == ["source", "task", "shape", "classes", "splits", "duplicates", *files, "split_origin"]
    test = next(s["n"] for s in data["splits"] if s["name"] == "test")
    assert (test == 10) == (name != "csv")  # own test splits: the 10 given; drawn: about a quarter of the 60


@pytest.mark.parametrize("name, shown", [("csv with split column", True), ("in memory, three splits", True),
                                         ("npz", False), ("csv", True)])
def test_a_run_written_before_the_origin_was_recorded_renders_by_its_path_as_before(runs, tmp_path, name, shown):
    old = tmp_path / "old"
    shutil.copytree(runs[name], old)
    metrics = json.loads((old / "metrics.json").read_text())
    del metrics["data"]["split_origin"]
    (old / "metrics.json").write_text(json.dumps(metrics))
    rundir.write_report(old, rundir.read_config(old), rundir.read_metrics(old))
    table = _table((old / "report.html").read_text())
    assert {k for k in FRACTIONS if k in table} == (set(FRACTIONS) if shown else set())


def _page(config: dict, origin: str | None, test_n: int) -> tuple[str, dict]:
    data = {"source": "data", "task": "binary-class", "shape": [1, 16, 16], "classes": ["0", "1"],
            "splits": [{"name": s, "n": n, "counts": [n // 2, n - n // 2]} for s, n in (("train", 40), ("val", 10),
                                                                                      ("test", test_n))],
            **({"split_origin": origin} if origin else {})}
    metrics = {"dataset": "d", "model": "resnet10_28_half", "seed": 0, "task": "binary-class", "best_epoch": 0,
               "stop_epoch": 0, "train_images_per_s": 2.4, "wall_s": 16.0, "monitor": "val_auc",
               "val": {"auc": 0.61, "acc": 0.7}, "test": {}, "calibration": {"temperature": 1.2}, "data": data}
    html = run_report(config, metrics, {}, data)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()), _table(html)


def test_a_cross_validation_fold_that_holds_out_test_lists_val_fraction_alone():
    _, table = _page({"data": "/d/labels.csv", "val_fraction": 0.1, "test_fraction": 0.2, "folds": 5, "fold": 0},
                     "fold test, drawn val", 12)
    assert table["val_fraction"] == "0.1" and "test_fraction" not in table


@pytest.mark.parametrize("origin, test_n, said", [
    ("own", 0, "the test split is empty (the data give no test images)"),  # a split column naming no test row
    ("own", 10, "the test split is held back (not scored by this run)"),  # a search's trial, evaluate_test=False
    ("drawn test, own val", 0, "the test split is empty (test_fraction 0: no test images)"),
])
def test_no_test_results_say_why_as_the_recorded_origin_does(origin, test_n, said):
    text, _ = _page({"data": "/d/labels.csv", "val_fraction": 0.1, "test_fraction": 0}, origin, test_n)
    assert said in text
