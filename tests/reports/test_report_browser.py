"""The reports open in a real headless browser (Debian's chromium): no console errors, every image decodes,
and the page renders as something (a screenshot with content). Without chromium these tests skip, or fail
under ``MEDTRAIN_REQUIRE_DATA=1`` (CI)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from browser import check_page
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
    run, _, _ = trained_run
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
    for report in (cmp_report, cv_report):
        check = check_page(report, chromium)
        assert check.errors == [] and len(check.images) == 1 and check.images[0][1] > 200, check
        # a blank page is 0; this mostly-white cross-validation page measured 19.9-21 between runs
        assert _ink(check.screenshot) > 10
