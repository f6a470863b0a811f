"""compare's report.html says why a cell's AUC is "–" (undefined in every run: its splits lack a class) in the
words summary.md and summary.tex say it: the page had shown the dash with no note."""
from __future__ import annotations

import html
import re

from medtrain.reports.html import write_comparison_report
from medtrain.reports.tables import summarise, to_markdown

KEYS = ["config"]


def _run(seed, auc, val_auc):
    return {"seed": seed, "test": {"acc": 0.6 + 0.01 * seed, "auc": auc}, "val": {"auc": val_auc},
            "best_epoch": 0, "stop_epoch": 0, "wall_s": 5.0}


def _text(page: str) -> str:
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", page).split()))


def test_the_page_says_the_note_summary_md_says(tmp_path):
    cells = [{"cell": {"config": "a"}, "runs": [_run(s, None, 0.7) for s in range(2)]},
             {"cell": {"config": "b"}, "runs": [_run(s, None, 0.6 + 0.01 * s) for s in range(2)]}]
    md = to_markdown(summarise(cells), KEYS)
    (note,) = [line for line in md.splitlines() if line.startswith("Undefined in every run")]
    assert "config=a (test AUC); config=b (test AUC)" in note
    page = _text(write_comparison_report(tmp_path, KEYS, cells).read_text(encoding="utf-8"))
    assert note in page  # one wording: the same sentence, whole


def test_a_page_whose_every_auc_is_defined_has_no_such_note(tmp_path):
    cells = [{"cell": {"config": "a"}, "runs": [_run(s, 0.8, 0.7) for s in range(2)]},
             {"cell": {"config": "b"}, "runs": [_run(0, None, 0.6), _run(1, 0.9, 0.65)]}]  # defined in one run
    page = _text(write_comparison_report(tmp_path, KEYS, cells).read_text(encoding="utf-8"))
    assert "Undefined in every run" not in page
