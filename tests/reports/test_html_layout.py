"""How the HTML reports are laid out: data tables that stay narrow however many classes, a dash for an interval
not given, tables screen readers can announce and narrow screens can scroll, text colours that read on white, print
rules that keep tables and figures whole, and a mean ± std that stays on one line in a browser.

Rendered from hand-made ``metrics.json``-style data (no training), with the helpers of test_html.py."""
from __future__ import annotations

import re
from html.parser import HTMLParser

from medtrain.reports.html import run_report, write_comparison_report, write_crossval_report

from conftest import HtmlTables
import test_html
from test_html import RETINA, _data_table, _metrics, _Page, _run

figures = test_html.figures  # its module-scoped fixture: the plots, rendered once for this module too


def test_data_table_of_many_classes_lists_classes_as_rows_not_one_column_each(figures):
    # 20 long class names as columns pushed the page to 3800 px wide (a user walkthrough)
    m = _metrics(names=RETINA, groups={"groups": {"train": 50, "val": 5, "test": 10}, "shared_groups": 0})
    for s in m["data"]["splits"]:
        s["counts"] = [s["n"] // 20] * 20
    table = _data_table(run_report({}, m, figures, m["data"]))
    assert table[0] == ["class", "train", "val", "test"]
    assert table[1] == ["images", "400", "40", "80"]
    assert [r[0] for r in table[2:22]] == RETINA
    assert table[3] == ["age_related_macular_degeneration_dry", "20 (5.0%)", "2 (5.0%)", "4 (5.0%)"]
    assert table[22] == ["patients", "50", "5", "10"]  # the group column is the patients' (walk 'clinic' 8a)
    assert max(len(r) for r in table) == 4  # the width does not grow with the classes

    few = _data_table(run_report({}, _metrics(), figures, _metrics()["data"]))  # two classes: as before
    assert few[0] == ["split", "images", "normal", "pneumonia"] and few[3] == ["test", "80", "20 (25.0%)", "60 (75.0%)"]


def test_a_class_without_an_interval_shows_a_dash_for_it_and_says_why(figures):
    """A class with one test image gets no per-class intervals (null in metrics.json; nan while still in
    memory): the page shows [–], not a bare value that reads as exact, nor 'nan', and the caption says why."""
    for undefined in ([None, None], None, [float("nan")] * 2, float("nan")):
        m = _metrics()
        m["test"]["per_class"]["pneumonia"].update(support=1, precision_ci=undefined, recall_ci=undefined,
                                                   f1_ci=undefined, auc_ci=undefined)
        m["test"]["per_class"]["normal"]["auc"] = float("nan")  # an undefined value keeps its plain dash
        m["test"]["per_class"]["normal"]["auc_ci"] = undefined
        html = run_report({}, m, figures)
        rows = {r[0]: r for r in next(t for t in HtmlTables(html).tables if t[0][0] == "class")[1:]}
        assert rows["pneumonia"] == ["pneumonia", "1", "0.800 [–]", "0.850 [–]", "0.770 [–]", "0.900 [–]"]
        assert rows["normal"][2:] == ["0.800 [0.600, 0.900]", "0.750 [0.512, 0.876]", "0.770 [0.600, 0.880]", "–"]
        text = " ".join(" ".join(_Page(html).text).split())
        assert "nan" not in text.lower()
        assert "An interval shown as [–] is not given (1 class: pneumonia)" in text
    plain = " ".join(" ".join(_Page(run_report({}, _metrics(), figures)).text).split())
    assert "[–]" not in plain and "is not given" not in plain
    m = _metrics()  # --bootstrap 0: no interval was asked for, none is missed
    for c in m["test"]["per_class"].values():
        for k in [k for k in c if k.endswith("_ci")]:
            del c[k]
    plain = " ".join(" ".join(_Page(run_report({}, m, figures)).text).split())
    assert "pneumonia 11 0.800 0.850 0.770 0.900" in plain and "[–]" not in plain


class _Structure(HTMLParser):
    """Per ``<table>``: the class of the element it sits in, whether it has a ``<thead>``, and per row the
    (section, tag, scope) of each cell."""

    def __init__(self, html: str):
        super().__init__()
        self.tables, self.stack, self.section = [], [], None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append({"box": self.stack[-1][1].get("class", ""), "thead": False, "rows": []})
        elif tag in ("thead", "tbody"):
            self.section = tag
            self.tables[-1]["thead"] |= tag == "thead"
        elif tag == "tr":
            self.tables[-1]["rows"].append([])
        elif tag in ("th", "td"):
            self.tables[-1]["rows"][-1].append((self.section, tag, a.get("scope")))
        if tag not in ("img", "meta", "link", "br"):
            self.stack.append((tag, a))

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass
        if tag == "table":
            self.section = None


def _full_run_metrics() -> dict:
    """A run with every table a run report can hold: baselines, data, operating point, per class, choices."""
    m = _metrics()
    m["operating_point"] = {"rule": "sensitivity=0.9", "threshold": 0.2532, "positive_class": "pneumonia",
                            "val": {k: 0.9 for k in ("sensitivity", "specificity", "ppv", "npv")},
                            "test": {k: 0.8 for k in ("sensitivity", "specificity", "ppv", "npv")}}
    m["choices"] = {"flip": {"chosen": True, "how": "validation", "val_auc": {"with": 0.91, "without": 0.9}},
                    "class_weights": {"chosen": "balanced", "how": "pinned (--class-weights)"}}
    return m


def test_every_table_has_column_headers_row_headers_and_a_scrolling_box(figures, tmp_path):
    """Screen readers announce a cell with its column and its row: every table has a <thead> of
    <th scope="col">, and every body row starts with the <th scope="row"> that names it (the choices table had
    no <thead>, and no table had row headers). Every table sits in a box that scrolls sideways on a narrow
    screen instead of pushing the page wider."""
    m = _full_run_metrics()
    many = _metrics(names=RETINA)
    for s in many["data"]["splits"]:
        s["counts"] = [s["n"] // 20] * 20
    runs = [_run(s, 0.8, 0.7, 0.9) for s in range(2)]
    pages = {"run": run_report({}, m, figures, m["data"]), "run, classes as rows": run_report({}, many, figures, many["data"]),
             "comparison": write_comparison_report(tmp_path / "c", ["d"], [{"cell": {"d": "0"}, "runs": runs},
                                                                         {"cell": {"d": "1"}, "runs": runs}]).read_text(),
             "cross-validation": write_crossval_report(tmp_path / "cv", {"folds": [{"fold": i, "auc": 0.8}
                                                                                   for i in range(3)]}).read_text()}
    counts = {}
    for name, html in pages.items():
        tables = _Structure(html).tables
        counts[name] = len(tables)
        for i, t in enumerate(tables):
            where = f"{name}, table {i}"
            assert t["thead"] and t["box"] == "scroll", where
            head, *body = t["rows"]
            assert head and all(c == ("thead", "th", "col") for c in head), (where, head)
            assert body and all(row[0] == ("tbody", "th", "row") for row in body), (where, body)
            assert all(c[1] == "td" for row in body for c in row[1:]), where  # only the first cell names the row
    assert counts == {"run": 5, "run, classes as rows": 3, "comparison": 1, "cross-validation": 1}


def _style(html: str) -> str:
    return html.split("<style>", 1)[1].split("</style>", 1)[0]


def _rules(css: str) -> dict[str, str]:
    """``selector: declarations`` of the innermost rules of ``css`` (those inside an ``@media`` block too): the
    pages' own small style sheet, read without a CSS parser dependency for the checks below."""
    return {sel.strip(): body for sel, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css)}


def _luminance(hex_colour: str) -> float:
    c = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    c = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


def test_every_text_colour_reads_on_white_at_wcag_aa_contrast(figures):
    """WCAG 2 AA asks 4.5:1 of normal-size text; the footer's #8a939c gave 3.1:1."""
    css = _style(run_report({}, _metrics(), figures))
    colours = {sel: c for sel, body in _rules(css).items()
               for c in re.findall(r"(?<![-\w])color:\s*(#[0-9a-fA-F]{6})", body)}
    assert "footer" in colours and ".sub" in colours
    white = _luminance("#ffffff")
    low = {sel: round((white + 0.05) / (_luminance(c) + 0.05), 2) for sel, c in colours.items()
           if (white + 0.05) / (_luminance(c) + 0.05) < 4.5}
    assert not low, f"text colours under 4.5:1 on white: {low}"


def test_print_rules_keep_tables_headings_and_figures_whole_on_paper(figures):
    """Printed, a page does not scroll: the PDF had cut the choices table's last column and half a word; the
    tables' boxes stop clipping, a heading stays with what follows it, and a figure or a table row is not split
    across pages (the browser test checks that the tables then fit a printed page's width)."""
    block = re.search(r"@media print\s*\{((?:[^{}]*\{[^{}]*\})*)[^{}]*\}", _style(run_report({}, _metrics(), figures)))
    assert block, "no print style sheet"
    rules = _rules(block.group(1))

    def declares(selector: str, declaration: str) -> bool:
        return any(selector in [s.strip() for s in sel.split(",")] and declaration in " ".join(body.split())
                   for sel, body in rules.items())

    assert declares("h2", "break-after: avoid")
    assert declares("figure", "break-inside: avoid") and declares("tr", "break-inside: avoid")
    assert declares("img", "max-width: 100%")
    assert declares(".scroll", "overflow: visible")


#: per highlighted-row cell holding a mean ± std: the number of lines its text takes
# each "mean ± std" (its cell lists the seeds' values under it, on lines of their own)
_MEAN_STD_LINES_JS = """Array.from(document.querySelectorAll('tr.own td span.together')).filter(td => td.textContent.includes('±'))
  .map(td => { const r = document.createRange(); r.selectNodeContents(td);
               return new Set(Array.from(r.getClientRects(), x => Math.round(x.top))).size; })"""


def test_a_mean_and_its_std_stay_on_one_line_in_a_1200px_window(tmp_path, chromium):
    # `compare --vary folds=0,3 --seeds 2`: the highlighted (bold) row's "0.979 ± 0.020" wrapped onto three lines
    from browser import measure

    def runs(folds, auc):
        return [{"seed": s, "cv": {"folds": folds, "fold": k, "held_out": "val"} if folds else None,
                 "test": {"auc": auc + 0.01 * (s + k), "acc": 0.5}, "val": {"auc": auc + 0.02 * (s - k)}}
                for s in range(2) for k in range(folds or 1)]

    report = write_comparison_report(tmp_path, ["folds"], [{"cell": {"folds": "0"}, "runs": runs(0, 0.7)},
                                                           {"cell": {"folds": "3"}, "runs": runs(3, 0.96)}])
    lines, = measure(report, _MEAN_STD_LINES_JS, chromium, widths=(1200,))
    assert lines == [1, 1, 1]  # test AUC, test ACC, val AUC
