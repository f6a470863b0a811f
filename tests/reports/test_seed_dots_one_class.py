"""A comparison's seeds.png says what it is (a title) and marks the runs that call every test image one class, as the
tables name them (:func:`medtrain.reports.tables.one_class_note`): the figure had drawn them as any other seed's
dot, so a cell whose runs all answered the majority class looked, in the figure, like a cell of tight results."""
from __future__ import annotations

import numpy as np
import pytest

from medtrain.metrics import ONE_CLASS
from medtrain.reports import plots
from conftest import catch_figures
from medtrain.reports.html import ONE_CLASS_MARK, SEEDS_FILE, write_comparison_report


def _run(seed, acc, auc, one_class=False):
    test = {"acc": acc, "auc": auc, "acc_ci": [acc - 0.07, acc + 0.06]}
    if one_class:  # as metrics.acc_auc_ci records a run that calls every test image one class
        test.update(acc_ci_method="wilson", acc_ci_reason=ONE_CLASS)
    return {"seed": seed, "test": test, "val": {"auc": 0.7 + 0.01 * seed}, "best_epoch": 2, "stop_epoch": 9,
            "wall_s": 1.0}


def _cells(one_class_seeds):
    return [{"cell": {"batch_norm": "true"}, "runs": [_run(s, 0.75 + 0.01 * s, 0.80 + 0.01 * s) for s in range(3)]},
            {"cell": {"batch_norm": "false"}, "runs": [
                _run(s, 0.731, 0.70 + 0.02 * s, one_class=s in one_class_seeds) for s in range(3)]}]


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """The figure write_comparison_report saves as seeds.png, and the page, of cells with these one-class seeds."""
    figures = catch_figures(monkeypatch)

    def draw(one_class_seeds):
        page = write_comparison_report(tmp_path, ["batch_norm"], _cells(one_class_seeds)).read_text()
        return figures[SEEDS_FILE], page
    return draw


def _marked(ax) -> list[tuple[float, float]]:
    """The points drawn as the one-class mark (red crosses) in a panel."""
    return [(float(x), float(y)) for line in ax.get_lines() if line.get_marker() == "X"
            for x, y in zip(line.get_xdata(), line.get_ydata())]


def test_the_figure_has_a_title_and_marks_each_one_class_run_in_every_panel(drawn):
    fig, page = drawn({0, 2})
    assert fig._suptitle is not None and "Comparison over batch_norm" in fig._suptitle.get_text()
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert set(panels) == {"test AUC", "test ACC", "val AUC"}
    for metric, ax in panels.items():
        marked = _marked(ax)
        assert len(marked) == 2, metric  # seeds 0 and 2 of the second cell (x = 1), not seed 1, not the first cell
        assert all(abs(x - 1) < 0.2 for x, _ in marked)
    auc = sorted(y for _, y in _marked(panels["test AUC"]))
    assert auc == pytest.approx([0.70, 0.74])  # those runs' own values, at their own dots
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert ONE_CLASS_MARK in legend and "seed" in legend
    # the page says the same: the note under the table names the cell, the caption the mark
    assert "batch_norm=false (2 of 3 runs)" in page and "A red cross marks a run that calls every test image" in page


def test_without_one_class_runs_nothing_is_marked_or_said(drawn):
    fig, page = drawn(set())
    assert not any(_marked(ax) for ax in fig.axes)
    assert ONE_CLASS_MARK not in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "red cross" not in page
    assert fig._suptitle is not None  # titled all the same


def test_a_flagged_run_without_a_value_in_a_panel_shifts_no_other_run_s_mark(tmp_path, monkeypatch):
    """A run whose value is undefined (a None AUC) is left out of that panel; the mark stays on the flagged run."""
    kept = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: kept.setdefault("fig", fig))
    plots.seed_dots(["a"], {"m": [[None, 0.5, 0.9]]}, tmp_path / "dots.png", flagged=[[True, False, True]],
                    flag_label="x")
    ax = kept["fig"].axes[0]
    assert [y for _, y in _marked(ax)] == [0.9]
    assert np.allclose([y for line in ax.get_lines() if line.get_marker() == "o" for y in line.get_ydata()], [0.5])
