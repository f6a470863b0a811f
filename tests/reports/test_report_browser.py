"""The reports open in a real headless browser (Debian's chromium): no console errors, every image decodes,
and the page renders as something (a screenshot with content). Without chromium these tests skip, or fail
under ``MEDTRAIN_REQUIRE_DATA=1`` (CI)."""
from __future__ import annotations

import io

import numpy as np
from browser import _chromium, _run, _session, check_page
from conftest import copy_as_trained
from PIL import Image

from medtrain.reports.html import write_comparison_report, write_crossval_report


def _ink(png: bytes) -> float:
    """Standard deviation of the grey levels: 0 for a blank (single-colour) screenshot."""
    return float(np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float).std())


def test_check_page_catches_a_broken_image_and_a_console_error(tmp_path, chromium):
    """The checks below can fail: a page with both faults is reported with both."""
    page = tmp_path / "bad.html"
    page.write_text('<!doctype html><title>bad</title><img alt="broken" src="data:image/png;base64,AAAA">'
                    '<script>console.error("boom")</script>')
    check = check_page(page, chromium)
    assert check.images == [("broken", 0)]
    assert check.errors == ["boom"]


def test_run_report_opens_in_browser(trained_run, chromium, tmp_path):
    run = copy_as_trained(trained_run[0], tmp_path / "run")  # as written at training (others score sites into it)
    report = run / "report.html"
    assert report.stat().st_size < 600_000, "a run's report should stay small enough to mail"
    check = check_page(report, chromium)
    assert check.errors == []
    assert check.title.endswith("seed 0")
    # every figure a binary run writes is on the page and decoded
    assert [alt for alt, _ in check.images] == ["learning curves", "ROC and precision-recall curves",
                                                "reliability diagram", "confusion matrix"]
    assert all(width > 200 for _, width in check.images), check.images
    shot = Image.open(io.BytesIO(check.screenshot))
    assert shot.width == 1200 and shot.height > 1500  # the whole page, not one screen of it
    assert _ink(check.screenshot) > 20


def test_comparison_and_crossval_reports_open_in_browser(tmp_path, chromium):
    runs = [{"seed": s, "test": {"auc": 0.8 + 0.01 * s, "acc": 0.7}, "val": {"auc": 0.9}} for s in range(3)]
    cmp_report = write_comparison_report(tmp_path / "cmp", ["dropout"], [{"cell": {"dropout": "0"}, "runs": runs}])
    cv_report = write_crossval_report(tmp_path / "cv", {"folds": [{"fold": i, "test_auc": 0.8 + 0.01 * i}
                                                                   for i in range(3)],
                                                        "pooled": {"auc": 0.81, "auc_ci": [0.78, 0.84]}})
    with _chromium(chromium, 60.0) as pipe:  # one browser for both pages (a start-up is most of a check)
        checks = [_run(pipe, report.resolve().as_uri(), 1200) for report in (cmp_report, cv_report)]
    for check in checks:
        assert check.errors == [] and len(check.images) == 1 and check.images[0][1] > 200, check
        # a blank page is 0; this mostly-white cross-validation page measured 19.9-21 between runs
        assert _ink(check.screenshot) > 10


#: per table on the page: its first cell's text, its laid-out width, the width of the box it sits in, whether
#: that box scrolls sideways, and the alignments of its data cells; and the page's scroll width against the window's
_TABLE_FIT_JS = """({page: [document.documentElement.scrollWidth, document.documentElement.clientWidth],
  tables: Array.from(document.querySelectorAll('table')).map(t => {
    const box = t.parentElement, cs = getComputedStyle(box);
    return [t.querySelector('th, td').textContent.trim(), Math.ceil(t.getBoundingClientRect().width),
            box.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight), cs.overflowX,
            [...new Set(Array.from(t.querySelectorAll('td'), c => getComputedStyle(c).textAlign))].sort()];
  })})"""
#: the printable width of an A4 or Letter page with chromium's default margins is 718-739 CSS px
PRINT_WIDTH = 700


def _walkthrough_reports(tmp_path):
    """A run whose choices table holds the walkthrough's long validation numbers, a comparison of two cells over
    three seeds (its paired Δ columns make ten), and a cross-validation with every fold column (operating point
    included)."""
    from test_html import _metrics

    from medtrain.reports.html import run_report

    m = _metrics()
    m["choices"] = {
        "flip": {"chosen": True, "how": "pilot runs of 1 epoch(s) on 2,000 of 11,959 training images, scored on "
                 "validation", "val_auc": {"with": 0.9144, "without": 0.9188}, "margin": 0.01},
        "tta": {"chosen": "hflip", "how": "validation", "val_auc": {"none": 0.9596, "hflip": 0.9611}},
        "class_weights": {"chosen": "prior-adjusted", "how": "validation accuracy",
                          "val_acc": {"balanced": 0.8511, "prior-adjusted": 0.8702},
                          "val_auc": {"balanced": 0.9601, "prior-adjusted": 0.9601},
                          "logit_shift": [-0.110932, 0.099845],
                          "val_acc_crossfit": {"val-fitted": 0.8683, "margin": 0.06,
                                               "refused": "calls every validation image one class"}}}
    run = tmp_path / "run.html"
    run.write_text(run_report({"model": "resnet18_28_half"}, m, {}, m["data"]))
    runs = [{"seed": s, "test": {"auc": 0.8 + 0.01 * s, "acc": 0.7 + 0.02 * s}, "val": {"auc": 0.9 - 0.01 * s}}
            for s in range(3)]
    other = [{"seed": s, "test": {"auc": 0.83 + 0.02 * s, "acc": 0.72}, "val": {"auc": 0.91}} for s in range(3)]
    cmp = write_comparison_report(tmp_path / "cmp", ["dropout_kind"], [{"cell": {"dropout_kind": "dropout"}, "runs": runs},
                                                                     {"cell": {"dropout_kind": "dropblock"}, "runs": other}])
    metrics = ("val_auc", "val_acc", "test_auc", "test_acc", "test_sensitivity", "test_specificity")
    cv = write_crossval_report(tmp_path / "cv", {"folds": [{"fold": i, **{k: 0.8 + 0.01 * i for k in metrics}}
                                                           for i in range(5)], "pooled": {"auc": 0.81}})
    return run, cmp, cv


def _measure_all(reports, expression: str, exe: str) -> list:
    """Per report, ``expression``'s value at 1200 px and 400 px on screen and at PRINT_WIDTH printed: as
    browser.measure gives them, all in one browser (six had been started, ~0.5 s each)."""
    values = []
    with _chromium(exe, 60.0) as pipe:
        s = _session(pipe)
        for report in reports:
            for media, width in (("screen", 1200), ("screen", 400), ("print", PRINT_WIDTH)):
                pipe.call("Emulation.setEmulatedMedia", s, media=media)
                pipe.call("Emulation.setDeviceMetricsOverride", s, width=width, height=900, deviceScaleFactor=1,
                          mobile=False)
                pipe.call("Page.navigate", s, url=report.resolve().as_uri())
                pipe.wait_event("Page.loadEventFired")
                values.append(pipe.call("Runtime.evaluate", s, expression=expression,
                                        returnByValue=True)["result"]["value"])
    return [values[i:i + 3] for i in range(0, len(values), 3)]


def test_tables_fit_a_1200px_window_and_the_printed_page_and_scroll_on_a_phone(tmp_path, chromium):
    """A user walkthrough: the choices table (a long class-weights cell that could not wrap, every cell
    right-aligned) and the comparison's ten columns ran past a 1200 px window, and the PDF cut their last columns
    off. At 1200 px and on paper every table fits its place; at 400 px a table may be wider than the screen, but
    scrolls in its own box while the page itself does not run past the window."""
    problems = []
    reports = _walkthrough_reports(tmp_path)
    for report, first, (wide, narrow, printed) in zip(reports, ("setting", "cell", "fold"),
                                                      _measure_all(reports, _TABLE_FIT_JS, chromium)):
        name = report.relative_to(tmp_path).as_posix()
        assert first in [t[0] for t in wide["tables"]]  # the table the walkthrough found too wide is measured
        for where, layout in (("1200 px window", wide), ("printed page", printed)):
            problems += [(name, where, "table", t[:3]) for t in layout["tables"] if t[1] > t[2] + 1]
            if layout["page"][0] > layout["page"][1]:
                problems.append((name, where, "page", layout["page"]))
        if narrow["page"][0] > narrow["page"][1]:
            problems.append((name, "400 px screen", "page", narrow["page"]))
        problems += [(name, "400 px screen", "box does not scroll", t[:4]) for t in narrow["tables"]
                     if t[3] != "auto"]
        if first == "setting":  # words, not numbers: read from the left
            problems += [(name, "choices", "aligned", t[4]) for t in wide["tables"]
                         if t[0] == first and t[4] != ["left"]]
    assert not problems, "[report, where, what, (first cell, width, room[, overflow])]: " + repr(problems)
