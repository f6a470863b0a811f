"""A search's word on a former best trial is part of that trial's report, rendered by the run's template."""
from __future__ import annotations

import json
import re

import yaml

from medtrain import rundir
from medtrain.reports.html import run_report
from medtrain.runscores import write_eval_file
from medtrain.tune.report import earlier_best_note, refresh_run_report

NOTE = 'Scored as the best of an earlier run: <b>not</b> the "answer" & it\'s said'
ESCAPED = 'Scored as the best of an earlier run: &lt;b&gt;not&lt;/b&gt; the "answer" &amp; it\'s said'  # as text


def _trial(run_dir):
    """A search trial's run folder as training leaves it: settings, and metrics with its test split held back."""
    run_dir.mkdir(parents=True)
    (run_dir / rundir.CONFIG_FILE).write_text(yaml.safe_dump({"model": "resnet10_28_half", "seed": 0, "lr": 0.01}))
    data = {"source": "x.npz", "task": "binary-class", "shape": [1, 28, 28], "classes": ["a", "b"],
            "splits": [{"name": "train", "n": 40, "counts": [20, 20]}, {"name": "val", "n": 10, "counts": [5, 5]},
                       {"name": "test", "n": 0, "counts": [0, 0]}]}
    hist = [{"epoch": 0, "train_loss": 0.6, "val_loss": 0.5, "val_auc": 0.8, "val_acc": 0.7, "lr": 0.01}]
    (run_dir / rundir.METRICS_FILE).write_text(json.dumps(
        {"dataset": "x", "model": "resnet10_28_half", "seed": 0, "task": "binary-class", "history": hist,
         "best_epoch": 0, "stop_epoch": 0, "monitor": "val_auc", "wall_s": 3.0, "val": {"auc": 0.8, "acc": 0.7},
         "test": {}, "data": data}))
    return run_dir


RES = {"auc": 0.875, "acc": 0.75, "n": 8, "per_class": {"a": {"support": 4, "precision": 0.75, "recall": 0.75,
                                                              "f1": 0.75, "auc": 0.875},
                                                        "b": {"support": 4, "precision": 0.75, "recall": 0.75,
                                                              "f1": 0.75, "auc": 0.875}}}


def _results(page: str) -> str:
    return page[page.index("<h2>Results</h2>"):page.index('<div class="cards">')]


def test_the_run_template_shows_a_note_escaped_as_a_warning_above_the_results():
    m = json.loads(json.dumps({"dataset": "x", "model": "m", "seed": 0, "task": "binary-class", "history": [],
                               "val": {"auc": 0.8, "acc": 0.7}, "test": {}}))
    page = run_report({}, m, {}, note=NOTE)
    assert _results(page).strip() == f'<h2>Results</h2>\n<p class="warn">{ESCAPED}</p>'
    assert '<p class="warn">' not in _results(run_report({}, m, {}))  # no note, no paragraph


def test_refreshing_a_former_best_trials_report_puts_the_searchs_note_in_it_through_the_one_report_writer(tmp_path):
    run = _trial(tmp_path / "trials" / "000")
    refresh_run_report(run, RES, NOTE)
    page = (run / rundir.REPORT_FILE).read_text(encoding="utf-8")
    assert _results(page).strip() == f'<h2>Results</h2>\n<p class="warn">{ESCAPED}</p>'
    assert "<b>not</b>" not in page
    assert re.search(r"<span>test AUC</span><b>0\.875</b>", page)  # the evaluation's numbers, as before
    # the page is what the run's one writer renders with the note, not a page spliced after it was written
    again = _trial(tmp_path / "copy")
    rundir.write_report(again, rundir.read_config(again), {**rundir.read_metrics(again), "test": RES}, note=NOTE)
    assert _results((again / rundir.REPORT_FILE).read_text(encoding="utf-8")) == _results(page)


def test_a_best_trials_report_without_a_note_has_no_warning_and_the_real_note_reads_in_full(tmp_path):
    run = _trial(tmp_path / "001")
    refresh_run_report(run, RES)
    assert '<p class="warn">' not in _results((run / rundir.REPORT_FILE).read_text(encoding="utf-8"))
    note = earlier_best_note(0, 1)
    refresh_run_report(run, RES, note)
    assert f'<p class="warn">{note}</p>' in _results((run / rundir.REPORT_FILE).read_text(encoding="utf-8"))


def test_a_trials_report_written_again_later_keeps_its_test_numbers_and_the_searchs_note(tmp_path):
    """``medtrain eval --data`` writes a run's report again from its metrics.json (to add an external site); a
    search's trial holds its test numbers in eval_test.json only, and a former best its note: both had been lost."""
    best, former = _trial(tmp_path / "002"), _trial(tmp_path / "003")
    write_eval_file(best, rundir.eval_file("test"), RES, verbose=False)  # what the search's one test look writes
    refresh_run_report(best, RES)
    refresh_run_report(former, RES, NOTE)
    for run, note in ((best, ""), (former, ESCAPED)):
        before = (run / rundir.REPORT_FILE).read_text(encoding="utf-8")
        rundir.write_report(run, rundir.read_config(run), rundir.read_metrics(run))  # as eval --data does
        page = (run / rundir.REPORT_FILE).read_text(encoding="utf-8")
        assert re.search(r"<span>test AUC</span><b>0\.875</b>", page)
        assert _results(page) == _results(before)
        assert (f'<p class="warn">{note}</p>' in page) == bool(note)
    assert json.loads((former / rundir.METRICS_FILE).read_text())["test"] == {}  # metrics.json stays the trial's
