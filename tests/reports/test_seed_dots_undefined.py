"""seeds.png says why a panel has no dot where a metric is undefined in every run of a cell (a test split of one
class: no AUC), as the tables' "–" and their note say it: the test-AUC panel had been left empty without a word."""
from __future__ import annotations

from medtrain.reports import plots
from medtrain.reports.html import SEEDS_FILE, write_comparison_report

ONE_CLASS_TEST = {"unit": "class", "no_positive": ["malignant"], "no_negative": ["benign"], "mean_over_rest": None,
                  "rest": 0}  # as metrics.auc_undefined records a binary test split holding benign images only


def _run(seed, auc, undefined=None):
    test = {"acc": 0.7 + 0.01 * seed, "auc": auc, **({"auc_undefined": undefined} if undefined else {})}
    return {"seed": seed, "test": test, "val": {"auc": 0.7}, "best_epoch": 1, "stop_epoch": 2, "wall_s": 1.0}


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def _figure(monkeypatch, tmp_path, cells):
    kept = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: kept.setdefault(path.name, fig))
    write_comparison_report(tmp_path, ["model"], cells)
    return kept[SEEDS_FILE]


def test_a_cell_whose_test_auc_is_undefined_in_every_run_says_why_in_its_panel(tmp_path, monkeypatch):
    cells = [{"cell": {"model": "a"}, "runs": [_run(s, None, ONE_CLASS_TEST) for s in range(2)]},
             {"cell": {"model": "b"}, "runs": [_run(s, 0.8 + 0.01 * s) for s in range(2)]}]
    fig = _figure(monkeypatch, tmp_path, cells)
    (panel,) = [ax for ax in fig.axes if ax.get_title() == "test AUC"]
    said = [" ".join(t.get_text().split()) for t in panel.texts]
    assert said == ["AUC undefined: no 'malignant' image in the test split"]
    assert abs(panel.texts[0].get_position()[0] - 0) < 1e-9  # in cell a's place, not b's
    assert not any(t.texts for t in fig.axes if t.get_title() != "test AUC")  # the defined panels say nothing


def test_a_panel_with_every_value_defined_says_nothing_and_an_unexplained_gap_says_no_value(tmp_path, monkeypatch):
    cells = [{"cell": {"model": m}, "runs": [_run(s, 0.8) for s in range(2)]} for m in "ab"]
    assert _texts(_figure(monkeypatch, tmp_path, cells)) == []
    kept = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: kept.setdefault("fig", fig))
    plots.seed_dots(["x", "y"], {"m": [[None, None], [0.5, 0.6]]}, tmp_path / "d.png", unit="fold")
    assert [" ".join(t.split()) for t in _texts(kept["fig"])] == ["no value in any fold"]
