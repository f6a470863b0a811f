"""A small comparison's tables (summary.md, summary.csv, summary.tex and report.html's table with the notes under it)
are those written before each Δ cell's text came from one function (:func:`medtrain.reports.tables.
signed_difference`, plain or LaTeX) and the Δ columns' order from one (:func:`medtrain.reports.tables.
delta_columns`): ``compare_tables_golden.json`` holds what the code wrote before, byte for byte. The fixture has
a reference cell, a paired cell with intervals and p-values, one of a single pair (no interval, no p), one whose
AUC is undefined in every run, one that shares no split with the reference (cross-validation folds) and one run
that calls every test image one class."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from medtrain.metrics import ONE_CLASS
from medtrain.reports.html import write_comparison_report
from medtrain.reports.tables import summarise, to_csv, to_latex, to_markdown

GOLDEN = Path(__file__).with_name("compare_tables_golden.json")
KEYS = ["lr", "head"]


def _run(seed, acc, auc, val_auc=0.7, cv=None, one_class=False):
    test = {"acc": acc, "auc": auc}
    if one_class:  # as metrics.acc_auc_ci records a run that calls every test image one class
        test.update(acc_ci_method="wilson", acc_ci_reason=ONE_CLASS)
    run = {"seed": seed, "test": test, "val": {"auc": val_auc}, "best_epoch": 2 + seed, "stop_epoch": 9,
           "wall_s": 10.0 + seed}
    return {**run, "cv": cv} if cv else run


def cells() -> list[dict]:
    return [
        {"cell": {"lr": "0.1", "head": "linear"}, "runs": [_run(s, 0.70 + 0.01 * s, 0.75 + 0.02 * s) for s in range(3)]},
        {"cell": {"lr": "0.01", "head": "mlp_2"}, "runs": [
            _run(s, 0.72 + 0.013 * s, 0.78 + 0.017 * s, 0.71 + 0.004 * s, one_class=s == 1) for s in range(3)]},
        {"cell": {"lr": "0.001", "head": "linear"}, "runs": [_run(0, 0.69, 0.74, 0.69)]},
        {"cell": {"lr": "1e-4", "head": "linear"}, "runs": [_run(s, 0.5, None, None) for s in range(2)]},
        {"cell": {"lr": "1e-5", "head": "linear"}, "runs": [
            _run(0, 0.66, 0.7, cv={"fold": k, "folds": 3, "held_out": "val"}) for k in range(3)]},
    ]


def outputs(tmp_path: Path) -> dict:
    rows = summarise(cells())
    page = write_comparison_report(tmp_path, KEYS, cells(), header="grid: lr, head").read_text(encoding="utf-8")
    table = page[page.index("<table"):page.index("</table>") + len("</table>")]
    under = re.findall(r"<p class=\"(?:sub|warn)\">.*?</p>", page[page.index("</table>"):], re.S)
    return {"markdown": to_markdown(rows, KEYS), "csv": to_csv(rows, KEYS),
            "latex": to_latex(rows, KEYS, note="lr x head\nbase: epochs 3"), "html_table": table,
            "html_notes": under, "single": [to_markdown(rows[:1], KEYS), to_latex(rows[:1], KEYS)]}


@pytest.mark.parametrize("kind", ["markdown", "csv", "latex", "html_table", "html_notes", "single"])
def test_the_tables_are_those_written_before_their_deltas_had_one_function(tmp_path, kind):
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert outputs(tmp_path)[kind] == golden[kind]


def test_every_table_orders_the_delta_columns_as_the_others_of_its_kind(tmp_path):
    """The Markdown, CSV and web page's Δ columns run val AUC, test AUC, test ACC; the LaTeX table's (its mean
    columns test ACC, test AUC) test ACC, test AUC: each table's Δ heads in the fixture's output, as read."""
    got = outputs(tmp_path)
    md_head = got["markdown"].splitlines()[0]
    assert [m.group(1) for m in re.finditer(r"Δ (\w+ \w+) vs first", md_head)] == ["val AUC", "test AUC", "test ACC"]
    csv_head = got["csv"].splitlines()[0].split(",")
    assert [c for c in csv_head if c.startswith("d_") and c.count("_") == 2] == ["d_val_auc", "d_test_auc",
                                                                                   "d_test_acc"]
    assert re.findall(r"<th[^>]*>Δ ([^<]+)</th>", got["html_table"]) == ["val AUC", "test AUC", "test ACC"]
    assert re.findall(r"\$\\Delta\$ (test \w+)", got["latex"]) == ["test ACC", "test AUC"]
