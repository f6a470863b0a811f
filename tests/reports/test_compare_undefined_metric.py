"""A compare cell whose AUC is undefined in every run (its splits lack a class) shows it as every table shows an
undefined value, with a note saying why: "–" in summary.md and report.html, "--" in summary.tex, an empty field in
summary.csv. summary.md had read "nan ± nan" and summary.csv "nan"."""
from __future__ import annotations

import csv
import io

from medtrain.reports.html import write_comparison_report
from medtrain.reports.tables import summarise, to_csv, to_latex, to_markdown

KEYS = ["lr"]


def _run(seed, auc, val_auc):
    return {"seed": seed, "test": {"acc": 0.6 + 0.01 * seed, "auc": auc}, "val": {"auc": val_auc},
            "best_epoch": 2, "stop_epoch": 4, "wall_s": 5.0}


def _cells():
    return [{"cell": {"lr": "0.1"}, "runs": [_run(s, 0.8 + 0.01 * s, 0.7) for s in range(2)]},
            {"cell": {"lr": "0.01"}, "runs": [_run(s, None, None) for s in range(2)]},  # undefined in every run
            {"cell": {"lr": "0.001"}, "runs": [_run(0, None, 0.6), _run(1, 0.9, 0.65)]}]  # in one of two


def test_summary_md_shows_a_dash_and_says_why(tmp_path):
    md = to_markdown(summarise(_cells()), KEYS)
    assert "nan" not in md
    row = next(line for line in md.splitlines() if line.startswith("| 0.01 |")).split(" | ")
    assert row[3:5] == ["–", "–"]  # test AUC, val AUC
    assert row[2] == "0.605 ± 0.007"  # test ACC, defined, as before
    assert "Undefined in every run, shown as –: lr=0.01 (test AUC, val AUC)." in md
    assert "An AUC needs images of every class in its split" in md
    other = next(line for line in md.splitlines() if line.startswith("| 0.001 |")).split(" | ")
    assert other[3].startswith("0.900")  # defined in one run: its value, not a dash
    assert "lr=0.001" not in md.split("Undefined in every run")[1]


def test_summary_csv_leaves_it_empty(tmp_path):
    text = to_csv(summarise(_cells()), KEYS)
    assert "nan" not in text
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["lr"] == "0.01")
    assert [row[k] for k in ("test_auc", "test_auc_std", "val_auc", "val_auc_std", "d_test_auc", "d_val_auc")] == [""] * 6
    assert float(row["test_acc"]) == 0.605


def test_summary_tex_and_report_html_show_a_dash(tmp_path):
    rows = summarise(_cells())
    tex = to_latex(rows, KEYS)
    assert "nan" not in tex
    row = next(line for line in tex.splitlines() if line.startswith("0.01 &")).split(" & ")
    assert row[3] == "--"  # test AUC
    assert "% Undefined in every run, shown as –: lr=0.01 (test AUC, val AUC)." in tex
    page = write_comparison_report(tmp_path, KEYS, _cells()).read_text(encoding="utf-8")
    assert "nan" not in page[page.index("<table"):page.index("</table>")]
