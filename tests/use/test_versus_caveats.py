"""``medtrain eval RUN --vs OTHER`` with a degenerate run: one that calls every test image one class had its ACC
"gain" printed with McNemar's p < 0.05 and nothing else (a walkthrough: 0.7308 vs 0.6218, p = 0.0498, for a run
answering 'normal, benign' for all 156 BreastMNIST test images, whose own summary said "the network calls every
image one class"). The printed line and the JSON now carry the caveat."""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np

from conftest import run_cli
from medtrain.metrics import ONE_CLASS
from medtrain.tasks import BINARY, MULTICLASS
from medtrain.versus import caveats, versus_file


def _with_scores(run, dest, p1):
    """A copy of ``run`` whose test probabilities of class 1 are ``p1`` (one per test image), 50 draws."""
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns("eval_*.json", "checkpoints", "report.html", "*.png"))
    config = dest / "config.yaml"
    config.write_text(config.read_text().replace("bootstrap: 0\n", "bootstrap: 50\n"))
    path = dest / "predictions_test.csv"
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    head = rows[0]
    i0, i1 = head.index("p0"), head.index("p1")
    for r, q in zip(rows[1:], p1):
        r[i0], r[i1] = f"{1 - q:.8f}", f"{q:.8f}"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return dest


def _labels(run):
    with open(run / "predictions_test.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return np.array([int(r["label0"]) for r in rows])


def test_a_run_calling_every_image_one_class_is_said_under_its_acc_line_and_in_the_json(trained_run, tmp_path,
                                                                                          capsys):
    run, _, _ = trained_run
    y = _labels(run)
    rng = np.random.default_rng(0)
    honest = np.clip(0.5 + (y - 0.5) * 0.3 + rng.normal(0, 0.25, len(y)), 0.01, 0.99)  # calls both classes
    assert len(np.unique(honest > 0.5)) == 2
    majority = int(np.bincount(y).argmax())
    # the same ranking squeezed to one side of 0.5: every image called the majority class, AUC unchanged
    constant = 0.1 + 0.3 * honest if majority == 0 else 0.6 + 0.3 * honest
    good = _with_scores(run, tmp_path / "good", honest)
    flat = _with_scores(run, tmp_path / "flat", constant)

    code, out, err = run_cli(capsys, "eval", flat, "--vs", good)
    assert code == 0, err
    got = json.loads((flat / versus_file(good)).read_text())
    share = float(np.mean(y == majority))
    assert got["acc"]["run"] == share  # the constant answer's ACC is the class's share
    (c,) = got["caveats"]
    assert c["metric"] == "acc" and c["reason"] == ONE_CLASS and c["runs"] == ["run"]
    lines = out.splitlines()
    acc = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ACC "))
    # right under the ACC line, not somewhere the reader of that line would miss it
    assert lines[acc + 1].strip().startswith("caveat: the first run calls every test image one class")
    assert f"{int((y == majority).sum())} of {len(y)} images" in lines[acc + 1]
    assert not any("caveat" in line for line in lines[:acc])  # the AUC line (ranking) is not qualified

    assert run_cli(capsys, "eval", good, "--vs", flat)[0] == 0  # the other order: the second run
    back = json.loads((good / versus_file(flat)).read_text())
    assert back["caveats"][0]["runs"] == ["other"] and "the second run calls" in back["caveats"][0]["text"]

    flat2 = _with_scores(run, tmp_path / "flat2", constant[::-1])
    assert run_cli(capsys, "eval", flat, "--vs", flat2)[0] == 0
    both = json.loads((flat / versus_file(flat2)).read_text())["caveats"][0]
    assert both["runs"] == ["run", "other"] and both["text"].startswith("both runs call")

    noisy = _with_scores(run, tmp_path / "noisy", np.clip(honest + rng.normal(0, 0.2, len(y)), 0.01, 0.99))
    code, out, _ = run_cli(capsys, "eval", noisy, "--vs", good)
    assert code == 0 and "caveat" not in out  # two classifiers calling both classes: nothing to say
    assert "caveats" not in json.loads((noisy / versus_file(good)).read_text())


def test_an_undefined_auc_and_non_finite_scores_are_caveats_of_the_auc():
    y = np.array([0, 0, 1, 1, 0, 1])  # three classes, none of class 2: the mean one-vs-rest AUC is undefined
    rng = np.random.default_rng(1)
    a, b = rng.dirichlet(np.ones(3), len(y)), rng.dirichlet(np.ones(3), len(y))
    said = caveats(y, a, b, MULTICLASS, {"0": "a", "1": "b", "2": "c"})
    assert [c["metric"] for c in said] == ["auc"] and said[0]["reason"] == "auc undefined"
    assert "no 'c' image" in said[0]["text"]
    yb = np.array([0, 1, 0, 1, 1, 0])
    s = np.column_stack([1 - np.linspace(0.2, 0.8, 6), np.linspace(0.2, 0.8, 6)])
    bad = s.copy()
    bad[2] = np.nan
    said = caveats(yb, s, bad, BINARY, {})
    assert [(c["reason"], c["runs"]) for c in said if c["metric"] == "auc"] == [("scores not finite", ["other"])]
    assert caveats(yb, s, s[::-1], BINARY, {}) == []
