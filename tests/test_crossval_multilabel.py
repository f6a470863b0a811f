"""Cross-validation's thresholds and per-label figures, as a reader of cv.json, cv.md and report.html relies on them.

Each fold chooses its threshold on its own validation split's calibrated probabilities, and each fold fits its own
temperature T: the thresholds as chosen are on different scales (a user walk: T 0.105, 1.0, 0.068 made one label's
"0.494 ± 0.135" where the raw thresholds spread 0.393 to 0.510). So each fold's threshold is stated as chosen and on
the raw scale (sigmoid(T * logit(t)), as predict --no-calibration states it), and the spread is over the raw ones. A
multi-label task's pooled mean AUC had hidden a label at chance: each label's pooled out-of-fold AUC is given, and the
report shows the per-label tables cv.md has (it had none)."""
from __future__ import annotations

import html
import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from conftest import HtmlTables, make_npz
from medtrain.cli import main
from medtrain.operating_point import threshold_on_raw_scale
from medtrain.rundir import read_saved
from multilabel_op_data import arrays, write_npz

FAST = ["--model", "resnet10_28_half", "--epochs", "1", "--batch-size", "32", "--no-progress", "--accelerator", "cpu",
        "--flip", "true", "--tta", "none", "--operating-point", "youden"]


def _cv(root, data, *extra):
    out = root / "cv"
    assert main(["train", "--data", str(data), "--folds", "2", *FAST, *extra, "--out", str(out)]) == 0
    folds = [json.loads((out / f"fold{k}" / "metrics.json").read_text()) for k in range(2)]
    return out, json.loads((out / "cv.json").read_text()), folds


@pytest.fixture(scope="module")
def ml_cv(tmp_path_factory):
    root = tmp_path_factory.mktemp("ml_cv")
    return _cv(root, write_npz(root / "ml.npz", arrays(seed=3)), "--bootstrap", "50")


@pytest.fixture(scope="module")
def binary_cv(tmp_path_factory):
    root = tmp_path_factory.mktemp("bin_cv")
    return _cv(root, make_npz(root / "b.npz", sizes=(64, 32, 32)), "--bootstrap", "0")


def _temperatures(folds):
    t = [f["calibration"]["temperature"] for f in folds]
    assert any(v != 1 for v in t)  # else the two scales are one, and the test would prove nothing
    return t


def _md_tables(md: str) -> list[list[list[str]]]:
    """cv.md's tables as rows of cells (the separator rows dropped)."""
    tables, current = [], None
    for line in md.splitlines():
        if line.startswith("|"):
            if current is None:
                current = []
                tables.append(current)
            if not line.startswith("|---"):
                current.append([c.strip() for c in line.strip().strip("|").split("|")])
        else:
            current = None
    return tables


@pytest.mark.slow
def test_a_binary_fold_s_threshold_is_given_as_chosen_and_raw_and_the_spread_is_over_the_raw_ones(binary_cv):
    out, cv, folds = binary_cv
    temperatures = _temperatures(folds)
    raw = []
    for row, f, t in zip(cv["per_fold"], folds, temperatures):
        chosen = f["operating_point"]["threshold"]
        assert row["threshold"] == chosen and row["temperature"] == t
        assert row["threshold_raw"] == pytest.approx(threshold_on_raw_scale(chosen, t), abs=1e-6)
        raw.append(row["threshold_raw"])
    assert cv["summary"]["threshold_raw"] == pytest.approx({"mean": np.mean(raw), "std": np.std(raw, ddof=1),
                                                            "min": min(raw), "max": max(raw)})
    assert "threshold" not in cv["summary"]  # no mean of thresholds on different scales
    assert "raw" in cv["threshold_scale"] and "not on one scale" in cv["threshold_scale"]
    s = cv["summary"]["threshold_raw"]
    said = (f"on the raw (uncalibrated) scale, sigmoid(T·logit(t)) with the fold's temperature T: mean {s['mean']:.4f} "
            f"± {s['std']:.4f}, range {s['min']:.4f} to {s['max']:.4f} over 2 folds")
    md = (out / "cv.md").read_text()
    assert said in md
    report = (out / "report.html").read_text()
    assert said in html.unescape(report)
    per_fold = HtmlTables(report).tables[0]
    col = per_fold[0].index("threshold raw")  # cv.md's header and digits (tests/test_crossval_html_table.py)
    assert [r[col] for r in per_fold[1:3]] == [f"{v:.4f}" for v in raw]
    assert per_fold[3][per_fold[0].index("threshold")] == "–"  # the chosen ones: no mean ± std over two scales


@pytest.mark.slow
def test_each_label_s_thresholds_are_given_raw_and_their_spread_is_over_the_raw_ones(ml_cv):
    out, cv, folds = ml_cv
    temperatures = _temperatures(folds)
    md_rows = {r[0]: r for r in _md_tables((out / "cv.md").read_text())[-1]}
    spread_checked = 0
    for name in folds[0]["operating_point"]["thresholds"]:
        raw = []
        for row, f, t in zip(cv["per_fold"], folds, temperatures):
            chosen = f["operating_point"]["thresholds"][name]
            assert row["thresholds"][name] == chosen and row["temperature"] == t
            assert row["thresholds_raw"][name] == pytest.approx(threshold_on_raw_scale(chosen, t), abs=1e-6)
            if name not in f["operating_point"]["not_chosen"]:
                raw.append(row["thresholds_raw"][name])
        spread = cv["operating_point_per_label"][name]["threshold_raw"]
        assert spread["folds"] == len(raw)
        if len(raw) == 2:
            assert spread == pytest.approx({"mean": np.mean(raw), "std": np.std(raw, ddof=1), "min": min(raw),
                                            "max": max(raw), "folds": 2})
            assert md_rows[name][-2:] == [f"{spread['mean']:.4f} ± {spread['std']:.4f}",
                                          f"{spread['min']:.4f} to {spread['max']:.4f}"]
            spread_checked += 1
    assert spread_checked  # some label's thresholds were chosen by both folds
    assert md_rows["label"][-2:] == ["mean ± std (raw)", "range (raw)"]


@pytest.mark.slow
def test_each_label_s_pooled_out_of_fold_auc_is_sklearn_s_on_the_pooled_predictions(ml_cv):
    out, cv, _ = ml_cv
    pooled = [read_saved(out / f"fold{k}", cv["held_out"]) for k in range(2)]
    y = np.concatenate([p.labels for p in pooled])
    s = np.concatenate([p.scores for p in pooled])
    per_label = cv["oof"]["per_label"]
    assert len(per_label) == y.shape[1]
    for i, (name, r) in enumerate(per_label.items()):
        assert r["auc"] == pytest.approx(roc_auc_score(y[:, i], s[:, i]), abs=1e-12)
        assert r["positives"] == int(y[:, i].sum())
        lo, hi = r["auc_ci"]
        assert lo <= r["auc"] <= hi
    assert np.mean([r["auc"] for r in per_label.values()]) == pytest.approx(cv["oof"]["auc"])
    table = next(t for t in _md_tables((out / "cv.md").read_text()) if t[0][:2] == ["label", "AUC"])
    rows = {r[0]: r for r in table[1:]}
    assert {n: rows[n][1] for n in per_label} == {n: f"{r['auc']:.3f}" for n, r in per_label.items()}


@pytest.mark.slow
def test_the_report_has_cv_md_s_per_label_tables_with_the_same_numbers(ml_cv):
    out, _, _ = ml_cv
    md = _md_tables((out / "cv.md").read_text())
    labelled = [t for t in md if t[0][0] == "label"]
    assert len(labelled) == 3  # pooled AUC, rates at the operating points, thresholds
    html = HtmlTables((out / "report.html").read_text()).tables
    for table in labelled:
        assert table in html


def test_the_spread_of_a_label_s_thresholds_is_over_the_raw_ones_at_each_fold_s_temperature():
    """Without training: two folds whose calibrated thresholds differ mostly by their temperatures."""
    from medtrain.crossval import _label_rates

    def run(thresholds, temperature, kept=()):
        rates = {n: {"sensitivity": 0.8, "specificity": 0.7} for n in thresholds}
        return {"operating_point": {"thresholds": thresholds, "not_chosen": list(kept), "test": {"per_label": rates}},
                "calibration": {"temperature": temperature}}

    runs = [run({"a": 0.44, "b": 0.5}, 0.105, kept=["b"]), run({"a": 0.39, "b": 0.2}, 1.0),
            run({"a": 0.65, "b": 0.6}, 0.068)]
    raw = [threshold_on_raw_scale(0.44, 0.105), 0.39, threshold_on_raw_scale(0.65, 0.068)]
    assert max(raw) - min(raw) < 0.65 - 0.39  # most of the chosen ones' spread is the temperatures'
    a = _label_rates(runs)["a"]["threshold_raw"]
    assert a == pytest.approx({"mean": np.mean(raw), "std": np.std(raw, ddof=1), "min": min(raw), "max": max(raw),
                               "folds": 3}, abs=1e-6)
    b = _label_rates(runs)["b"]["threshold_raw"]
    assert b["folds"] == 2  # the fold that kept 0.5 is left out


def test_a_fold_another_medtrain_trained_is_named_when_the_folds_are_summarised_again(binary_cv, tmp_path, capsys):
    # a rerun after an upgrade reuses the folds the older medtrain trained and had averaged them with the new ones
    # without a word, while compare names such cells (an upgrade walk)
    import shutil

    out, cv, _ = binary_cv
    assert "code_note" not in cv
    copy = tmp_path / "cv"
    shutil.copytree(out, copy)
    older = copy / "fold0" / "metrics.json"
    m = json.loads(older.read_text())
    m["provenance"]["medtrain"], m["provenance"]["medtrain_git"] = "0.2.9", {"commit": "c" * 40, "modified": False}
    older.write_text(json.dumps(m))
    root = out.parent  # the same command again, into the copy: both folds reused
    assert main(["train", "--data", str(root / "b.npz"), "--folds", "2", *FAST, "--bootstrap", "0",
                 "--out", str(copy)]) == 0
    note = json.loads((copy / "cv.json").read_text())["code_note"]
    assert note.startswith("Not all folds were made by the same medtrain: 1 of 2 by medtrain ")
    assert "medtrain 0.2.9 at commit cccccccc unmodified" in note
    assert note in (copy / "cv.md").read_text() and note in capsys.readouterr().out
    assert note[1:] in html.unescape((copy / "report.html").read_text())


def _csv(path):
    import csv

    with open(path, newline="") as f:
        head = next(csv.reader(f))
        f.seek(0)
        return head, list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.parametrize("cv_run", ["binary_cv", "ml_cv"])
def test_a_fold_s_val_predictions_are_written_as_its_test_ones_and_its_threshold_gives_its_val_rates(cv_run, request):
    """A reader checks a fold's threshold on the validation scores it was chosen on: predictions_val.csv had the test
    file's class-name columns holding the raw probabilities (calibrated in the test file), no q columns and no
    decisions at the operating point, so the run's threshold gave other validation rates than metrics.json's (a
    clinical walk: specificity 0.786 for 0.929 at T = 0.110). Same header as the test file; each class (label) column
    at the run's threshold (each label's) gives metrics.json's operating_point.val counts."""
    out, _, folds = request.getfixturevalue(cv_run)
    _temperatures(folds)  # a fold with T != 1: raw and calibrated columns differ
    for k, fold in enumerate(folds):
        head, rows = _csv(out / f"fold{k}" / "predictions_val.csv")
        assert head == _csv(out / f"fold{k}" / "predictions_test.csv")[0]
        op = fold["operating_point"]
        binary = "threshold" in op
        chosen = {op["positive_class"]: op["threshold"]} if binary else op["thresholds"]
        for name, t in chosen.items():
            s = np.array([float(r[name]) for r in rows])
            y = np.array([name in r["true_label"].split(";") for r in rows])
            rates = op["val"] if binary else op["val"]["per_label"][name]
            assert [int((s[y] >= t).sum()), int(y.sum())] == rates["sensitivity_counts"]
            assert [int((s[~y] < t).sum()), int((~y).sum())] == rates["specificity_counts"]
            called = np.array([name in r["prediction_at_operating_point"].split(";") for r in rows])
            assert (called == (s >= t)).all()  # the file's decisions are the threshold's
