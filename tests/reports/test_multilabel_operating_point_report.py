"""What a reader of a multi-label run with an operating point sees, as a specification: the HTML report's table of
each label's threshold and test rates (with Wilson intervals), a search trial's report refreshed with its test
evaluation (tune.report), the printed line naming the labels kept at 0.5, and cross-validation (``--folds`` with
``--operating-point``): each fold's thresholds chosen on its own validation split, its mean test rates over labels
as columns, and each label's test rates summarised over the folds as binary runs' rates are (mean ± std)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from conftest import run_cli
from medtrain.reports.html import run_report
from medtrain.reports.summary import operating_point_line
from medtrain import rundir
from multilabel_op_data import arrays, write_npz

NAMES = ["0", "1", "2"]


@pytest.fixture(scope="module")
def cv(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlop_cv")
    data = write_npz(root / "ml.npz", arrays(seed=20))
    out = root / "cv"
    from medtrain.cli import main

    assert main(["train", "--data", str(data), "--folds", "2", "--model", "resnet10_28_half", "--epochs", "1",
                 "--batch-size", "32", "--no-progress", "--bootstrap", "0", "--accelerator", "cpu", "--flip", "true",
                 "--tta", "none", "--operating-point", "youden", "--out", str(out)]) == 0
    folds = [json.loads((out / f"fold{k}" / "metrics.json").read_text()) for k in range(2)]
    return out, json.loads((out / "cv.json").read_text()), folds


def _table_rows(html: str) -> dict:
    """The per-label table's rows: label -> its cells' text."""
    part = html[html.index("Operating point per label (test)"):]
    body = part[part.index("<tbody>"):part.index("</tbody>")]
    rows = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        name = re.search(r'<th scope="row">(.*?)</th>', tr).group(1)
        rows[name] = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", tr, re.S)]
    return rows


def test_each_fold_chooses_its_own_thresholds_and_cv_summarises_the_label_rates(cv):
    out, summary, folds = cv
    t0, t1 = (f["operating_point"]["thresholds"] for f in folds)
    assert list(t0) == list(t1) == NAMES and t0 != t1  # each on its own validation fold
    for f, row in zip(folds, summary["per_fold"]):
        s = f["operating_point"]["test"]["summary"]
        assert (row["test_mean_sensitivity"], row["test_mean_specificity"]) == (s["mean_sensitivity"],
                                                                                s["mean_specificity"])
    assert summary["summary"]["test_mean_sensitivity"]["mean"] == pytest.approx(
        np.mean([r["test_mean_sensitivity"] for r in summary["per_fold"]]))
    per_label = summary["operating_point_per_label"]
    for name in NAMES:
        values = [f["operating_point"]["test"]["per_label"][name]["specificity"] for f in folds]
        assert per_label[name]["specificity"]["mean"] == pytest.approx(np.mean(values))
        assert per_label[name]["specificity"]["std"] == pytest.approx(np.std(values, ddof=1))
    md = (out / "cv.md").read_text()
    assert "test mean sensitivity" in md and "Operating point per label" in md
    assert "<th scope=\"col\">test mean sensitivity</th>" in (out / "report.html").read_text()  # cv.md's header


def test_cv_records_each_fold_s_threshold_per_label_and_their_spread(cv):
    """How stable each label's chosen threshold is across folds: each fold's (cv.json and cv.md) and their mean, std
    and range over the folds (they had been left out)."""
    out, summary, folds = cv
    md = (out / "cv.md").read_text()
    for row, f in zip(summary["per_fold"], folds):
        assert row["thresholds"] == f["operating_point"]["thresholds"]
        assert row["thresholds_not_chosen"] == f["operating_point"]["not_chosen"]
    for name in NAMES:
        chosen = [f["operating_point"]["thresholds"][name] for f in folds]
        raw = [row["thresholds_raw"][name] for row in summary["per_fold"]]  # spread over the raw-scale ones
        t = summary["operating_point_per_label"][name]["threshold_raw"]
        assert t == pytest.approx({"mean": np.mean(raw), "std": np.std(raw, ddof=1), "min": min(raw),
                                   "max": max(raw), "folds": 2})
        row = next(line for line in md.splitlines() if line.startswith(f"| {name} | {chosen[0]:.4f}"))
        assert f"{chosen[1]:.4f}" in row and row.endswith(f"| {t['mean']:.4f} ± {t['std']:.4f} | "
                                                           f"{t['min']:.4f} to {t['max']:.4f} |")


def test_a_fold_that_kept_half_for_a_label_is_shown_kept_and_left_out_of_its_threshold_spread():
    from medtrain.crossval import _label_rates, to_markdown

    def run(thresholds, kept):
        rates = {n: {"sensitivity": 0.8, "specificity": 0.7} for n in thresholds}
        return {"operating_point": {"thresholds": thresholds, "not_chosen": kept, "test": {"per_label": rates}}}

    runs = [run({"a": 0.3, "b": 0.5}, ["b"]), run({"a": 0.4, "b": 0.2}, []), run({"a": 0.5, "b": 0.6}, [])]
    per_label = _label_rates(runs)
    assert per_label["b"]["threshold_raw"] == pytest.approx({"mean": 0.4, "std": np.std([0.2, 0.6], ddof=1), "min": 0.2,
                                                         "max": 0.6, "folds": 2})
    cv = {"summary": {}, "held_out": "test", "oof": {"auc": 0.8, "acc": 0.7, "n": 10}, "operating_point_per_label": per_label,
          "per_fold": [{"fold": k, "sizes": {"train": 30, "val": 10, "test": 10}, "best_epoch": 0, "wall_s": 1.0,
                        "thresholds": r["operating_point"]["thresholds"],
                        "thresholds_not_chosen": r["operating_point"]["not_chosen"]} for k, r in enumerate(runs)]}
    assert "| b | 0.5 (kept) | 0.2000 | 0.6000 | 0.4000 ± 0.2828 | 0.2000 to 0.6000 |" in to_markdown(cv)


def test_the_run_report_has_a_table_of_each_label_s_threshold_and_rates(cv):
    out, _, folds = cv
    op = folds[0]["operating_point"]
    rows = _table_rows((out / "fold0" / "report.html").read_text())
    assert list(rows) == NAMES
    for name, cells in rows.items():
        r = op["test"]["per_label"][name]
        assert cells[0] == f"{op['thresholds'][name]:.4f}"
        assert cells[1].startswith(f"{r['sensitivity']:.3f}") and "[" in cells[1]  # with its Wilson interval
        assert cells[2].startswith(f"{r['specificity']:.3f}") and "[" in cells[2]
        for cell, k in zip(cells[5:7], ("sensitivity", "specificity")):  # validation: counts and Wilson interval
            v = op["val"]["per_label"][name]
            (hits, n), (lo, hi) = v[f"{k}_counts"], v[f"{k}_ci"]
            assert cell == f"{v[k]:.3f} ({hits}/{n}) [{lo:.3f}, {hi:.3f}]"
        val = {s["name"]: s for s in folds[0]["data"]["splits"]}["val"]  # each label's validation positives
        j = NAMES.index(name)
        assert op["val"]["per_label"][name]["sensitivity_counts"][1] == val["counts"][j]
        assert op["val"]["per_label"][name]["specificity_counts"][1] == val["n"] - val["counts"][j]
    html = (out / "fold0" / "report.html").read_text()
    assert "validation sensitivity (in-sample)" in html and "in-sample, so they read optimistic" in html


def test_a_search_trial_s_report_shows_the_table_from_its_later_test_evaluation(cv, capsys):
    """rundir.tested_metrics puts a trial's eval_test.json where its held-back test block was."""
    out, _, folds = cv
    assert run_cli(capsys, "eval", out / "fold1", "--split", "test")[0] == 0
    res = json.loads((out / "fold1" / "eval_test.json").read_text())
    trial = json.loads(json.dumps(folds[1]))
    trial["test"] = {}
    del trial["operating_point"]["test"]
    m = rundir.tested_metrics(trial, res)
    html = run_report({"model": "resnet10_28_half"}, m, {}, m.get("data"))
    rows = _table_rows(html)
    assert [c[0] for c in rows.values()] == [f"{folds[1]['operating_point']['thresholds'][n]:.4f}" for n in NAMES]


def test_the_printed_line_names_the_labels_kept_at_half():
    op = {"per_label": {}, "not_chosen": ["Hernia"],
          "summary": {"labels": 14, "mean_sensitivity": 0.7131, "sensitivity_labels": 14, "mean_specificity": 0.8,
                      "specificity_labels": 14, "labels_sensitivity_0": ["Edema"], "images": 160,
                      "images_called": 96, "images_with_finding": 110}}
    line = operating_point_line(op, "youden")
    assert line == ("youden, a threshold for each of 14 labels (1 kept at 0.5, 'Hernia': no validation positive or "
                    "negative to choose one on): mean sensitivity 0.713 over 14 labels, mean specificity 0.800 over "
                    "14 labels; 1 label with sensitivity 0 ('Edema'); 96 of 160 images have a finding called")
