"""The run report's operating-point table, as a clinical reader relies on it: the validation column is said to be
where the threshold was chosen (in-sample, so optimistic), and both columns show each rate's count (hits/eligible
images, e.g. 45/50) and its 95% Wilson interval, the very figures ``metrics.json`` records (they had been the
validation rates alone, without counts or intervals, beside a test column without counts)."""
from __future__ import annotations

import json
import re

import pytest

from conftest import tiny_binary_run
from medtrain.intervals import wilson_interval
from medtrain.reports.html import run_report

RATES = ("sensitivity", "specificity", "ppv", "npv")


@pytest.fixture(scope="module")
def op_run(tmp_path_factory):
    """A tiny binary run at --operating-point youden: (its metrics.json, its report.html)."""
    run, _, _ = tiny_binary_run(tmp_path_factory.mktemp("op_table"), operating_point="youden")
    return json.loads((run / "metrics.json").read_text()), (run / "report.html").read_text()


def _table(html: str) -> tuple[list[str], dict, str]:
    """The operating-point table: its header cells, each rate's (validation, test) cell text, the note under it."""
    start = html.index("operating point: youden")
    part = html[html.rindex("<table>", 0, start):]
    part = part[:part.index("</p>", part.index("</table>"))]
    text = lambda c: " ".join(re.sub(r"<[^>]+>", " ", c).split())  # noqa: E731
    head = [text(c) for c in re.findall(r"<th scope=\"col\">(.*?)</th>", part, re.S)]
    rows = {re.search(r'<th scope="row">(.*?)</th>', tr).group(1): [text(c) for c in re.findall(r"<td>(.*?)</td>", tr, re.S)]
            for tr in re.findall(r"<tr>(.*?)</tr>", part[part.index("<tbody>"):], re.S)}
    return head, rows, text(part[part.index("</table>"):])


def test_metrics_json_records_each_rate_s_count_and_wilson_interval_on_validation_and_test(op_run):
    m, _ = op_run
    op = m["operating_point"]
    val_n = {s["name"]: s for s in m["data"]["splits"]}
    for split, record in (("val", op["val"]), ("test", op["test"])):
        positives = val_n[split]["counts"][1]  # the positive class is the last, the one the threshold is on
        (tp, pos), (tn, neg) = record["sensitivity_counts"], record["specificity_counts"]
        assert (pos, neg) == (positives, val_n[split]["n"] - positives)  # every image counted once
        assert record["ppv_counts"] == [tp, tp + neg - tn] and record["npv_counts"] == [tn, tn + pos - tp]
        for k in RATES:
            hits, n = record[f"{k}_counts"]
            assert record[k] == pytest.approx(hits / n)
            assert record[f"{k}_ci"] == pytest.approx(wilson_interval(hits, n))


def test_the_report_says_where_the_threshold_was_chosen_and_shows_counts_and_intervals_in_both_columns(op_run):
    m, html = op_run
    op = m["operating_point"]
    head, rows, note = _table(html)
    assert head[1] == "validation: where the threshold was chosen (in-sample, optimistic)"
    assert head[2].startswith("test (95% Wilson CI")
    assert list(rows) == list(RATES)
    for k, (val_cell, test_cell) in rows.items():
        for cell, r in ((val_cell, op["val"]), (test_cell, op["test"])):
            (hits, n), (lo, hi) = r[f"{k}_counts"], r[f"{k}_ci"]
            assert cell == f"{r[k]:.3f} ({hits}/{n}) [{lo:.3f}, {hi:.3f}]"  # as metrics.json records it
    assert "measured on the very validation images the threshold was chosen on: in-sample" in note
    assert "optimistic" in note and "hits/eligible images" in note


def test_a_run_recorded_without_counts_still_renders_without_claiming_them(op_run):
    """A run written before the counts were recorded: its table renders, and its note mentions no counts."""
    m, _ = op_run
    m = json.loads(json.dumps(m))
    for r in (m["operating_point"]["val"], m["operating_point"]["test"]):
        for k in RATES:
            del r[f"{k}_counts"]
        if r is m["operating_point"]["val"]:
            for k in RATES:
                del r[f"{k}_ci"]
    _, rows, note = _table(run_report({}, m, {}, m.get("data")))
    assert rows["sensitivity"][0] == f"{m['operating_point']['val']['sensitivity']:.3f}"
    assert "in-sample" in note and "hits/eligible" not in note and "Wilson intervals (over images)" not in note
