"""compare says which cells hold runs that call every test image one class (a walkthrough's BreastMNIST grid: all
three runs without batch norm answered the majority class, ACC 0.731 = 114/156, and the table read "Δ test AUC
+0.035, p = 0.036" with nothing said), in summary.md, the printed summary, summary.tex, summary.csv and
report.html; and says nothing where no run does."""
from __future__ import annotations

import csv
import io

import medtrain.compare as compare_mod
from medtrain.metrics import ONE_CLASS
from medtrain.reports.html import write_comparison_report
from medtrain.reports.tables import summarise, to_csv, to_latex, to_markdown

NOTE = "call every test image one class"


def _run(seed, acc, auc, one_class=False):
    test = {"acc": acc, "auc": auc, "acc_ci": [acc - 0.07, acc + 0.06]}
    if one_class:  # as metrics.acc_auc_ci records a run that calls every test image one class
        test.update(acc_ci_method="wilson", acc_ci_reason=ONE_CLASS)
    return {"seed": seed, "test": test, "val": {"auc": 0.7}, "best_epoch": 2, "stop_epoch": 9, "wall_s": 1.0}


def _cells(one_class: dict[str, int]):
    """Two cells of three seeds; ``one_class``: how many of a cell's runs (its first) call one class."""
    return [{"cell": {"batch_norm": v}, "runs": [
        _run(s, 0.731 if s < one_class.get(v, 0) else 0.75 + 0.01 * s, 0.74 + 0.02 * s + (0.03 if v == "false" else 0),
             one_class=s < one_class.get(v, 0)) for s in range(3)]} for v in ("true", "false")]


def _comment_lines(tex: str) -> str:
    return "\n".join(line for line in tex.splitlines() if line.startswith("%"))


def test_the_tables_and_page_name_each_cell_with_one_class_runs_and_their_count(tmp_path):
    cells = _cells({"false": 3, "true": 1})
    rows = summarise(cells)
    md = to_markdown(rows, ["batch_norm"])
    note = [p for p in md.split("\n\n") if NOTE in p]
    assert len(note) == 1  # one note, under the table
    assert "batch_norm=true (1 of 3 runs)" in note[0] and "batch_norm=false (3 of 3 runs)" in note[0]
    assert "constant answer" in note[0]  # eval --vs's caveat's words: the ACC is always answering that class
    tex = to_latex(rows, ["batch_norm"])
    assert "batch_norm=false (3 of 3 runs)" in _comment_lines(tex)  # a comment, not in the tabular
    table = [dict(r) for r in csv.DictReader(io.StringIO(to_csv(rows, ["batch_norm"])))]
    assert [(r["batch_norm"], r["one_class_runs"]) for r in table] == [("true", "1"), ("false", "3")]
    page = write_comparison_report(tmp_path, ["batch_norm"], cells).read_text()
    assert NOTE in page and "batch_norm=false (3 of 3 runs)" in page and "batch_norm=true (1 of 3 runs)" in page


def test_a_cell_without_one_class_runs_is_not_named_and_no_note_without_any(tmp_path):
    rows = summarise(_cells({"false": 2}))
    md = to_markdown(rows, ["batch_norm"])
    assert "batch_norm=false (2 of 3 runs)" in md and "batch_norm=true (" not in md
    for one_class in ({}, {"true": 0}):
        cells = _cells(one_class)
        rows = summarise(cells)
        assert NOTE not in to_markdown(rows, ["batch_norm"]) and NOTE not in to_latex(rows, ["batch_norm"])
        assert [r["one_class_runs"] for r in csv.DictReader(io.StringIO(to_csv(rows, ["batch_norm"])))] == ["0", "0"]
        assert NOTE not in write_comparison_report(tmp_path, ["batch_norm"], cells).read_text()


def test_a_single_cell_grid_says_it_too(tmp_path):
    """Without a second cell there are no Δ columns (nor their notes), and the runs' one answer is still said."""
    cells = _cells({"true": 2})[:1]
    assert "batch_norm=true (2 of 3 runs)" in to_markdown(summarise(cells), ["batch_norm"])
    assert "batch_norm=true (2 of 3 runs)" in write_comparison_report(tmp_path, ["batch_norm"], cells).read_text()


def test_compare_prints_and_writes_the_note(tmp_path, monkeypatch, capsys):
    def fake_run(cfg):
        return _run(cfg.seed, 0.731 if not cfg.batch_norm else 0.75, 0.75, one_class=not cfg.batch_norm)

    monkeypatch.setattr(compare_mod, "train_or_reuse", fake_run)
    monkeypatch.setattr(compare_mod, "_check_augment_on_data", lambda cfgs: None)  # no data here
    compare_mod.compare({"data": "x.npz", "progress": False}, {"batch_norm": ["true", "false"]}, [0, 1], tmp_path)
    said = "batch_norm=false (2 of 2 runs)"
    assert said in capsys.readouterr().out
    for name in ("summary.md", "summary.tex", "report.html"):
        assert said in (tmp_path / name).read_text(), name
    assert (tmp_path / "summary.csv").read_text().splitlines()[0].endswith(",one_class_runs")
