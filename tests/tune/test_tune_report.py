"""`medtrain tune` writes one page of its own (report.html: the study, the trials, the plots, the best config and
the best trial's test numbers, once, labelled as reported only), and the best trial's own report.html shows the
test numbers the search reported for it (it was written during the search, when the trial had none)."""
from __future__ import annotations

import json
import re
import sys

import pytest

from conftest import make_npz
from medtrain.cli import main
from medtrain.tune import tune
from medtrain.tune.report import _shown_storage

TUNE = sys.modules["medtrain.tune"]  # the package, not its function of the same name

def card(html: str, label: str) -> str:
    """The number a report's card labelled ``label`` shows."""
    m = re.search(r"<span>" + re.escape(label) + r"</span><b>([^<]*)</b>", html)
    assert m, f"no card {label!r}"
    return m.group(1)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A real two-trial search on a tiny task whose test AUC is below 1 (flipped test labels), so its test
    numbers differ from the validation ones and can be told apart on a page."""
    tmp = tmp_path_factory.mktemp("tune_report")
    data = make_npz(tmp / "grey.npz", sizes=(64, 24, 40), noisy_test=4)
    out = tmp / "tune"
    args = ["tune", "--data", str(data), "--model", "resnet10_28_half", "--epochs", "1", "--batch-size", "32",
            "--schedule", "none", "--accelerator", "cpu", "--bootstrap", "20", "--tta", "none", "--flip", "false",
            "--class-weights", "false", "--logger", "none", "--no-progress", "--trials", "2", "--out", str(out)]
    assert main(args) == 0
    best = json.loads((out / "best.json").read_text())
    return out, best


@pytest.mark.slow
def test_the_search_writes_one_page_with_its_trials_plots_config_and_the_best_trials_test_once(searched):
    out, best = searched
    html = (out / "report.html").read_text(encoding="utf-8")
    test = best["test"]
    # the test numbers: on the page once, labelled as reported (validation chose the trial)
    assert card(html, "test AUC (reported only)") == f"{test['auc']:.3f}"
    assert card(html, "test ACC (reported only)") == f"{test['acc']:.3f}"
    assert html.count("test AUC") == 1 and "never\n  used to choose" in html
    assert card(html, "validation val_auc") == f"{best['val']['val_auc']:.3f}"
    # the study: its storage, its finished/pruned/failed trials and this run's budget
    assert "sqlite:///" in html and str(out / "study.db") in html and "--trials 2" in html
    assert card(html, "trials finished") == "2" and card(html, "failed") == "0" and card(html, "pruned") == "0"
    # every trial a row of the table (the best one highlighted), both plots embedded, the best config
    rows = re.findall(r'<tr( class="own")?><th scope="row">(\d+)</th>', html)
    assert sorted(int(n) for _, n in rows) == [0, 1] and [int(n) for own, n in rows if own] == [best["trial"]]
    assert html.count('<img src="data:image/png;base64,') == 2
    assert str(out / "best_config.yaml") in html and "medtrain train --config" in html
    assert f'href="trials/{best["trial"]:03d}/report.html"' in html


@pytest.mark.slow
def test_the_best_trials_own_report_shows_the_test_numbers_the_search_reported(searched):
    out, best = searched
    run = out / "trials" / f"{best['trial']:03d}"
    html = (run / "report.html").read_text(encoding="utf-8")
    test = json.loads((run / "eval_test.json").read_text())
    assert "No test results" not in html
    assert card(html, "test AUC") == f"{test['auc']:.3f}" == f"{best['test']['auc']:.3f}"
    assert card(html, "test ACC") == f"{test['acc']:.3f}"
    assert "Per-class results (test)" in html
    # its data table counts the test images it was scored on, not the none it trained with
    assert re.search(r'<th scope="row">test</th>\s*<td>40</td>', html)
    # the run's own record is untouched: no trial's metrics.json ever holds test numbers
    assert json.loads((run / "metrics.json").read_text())["test"] == {}
    other = out / "trials" / f"{1 - best['trial']:03d}" / "report.html"
    assert "No test results" in other.read_text(encoding="utf-8")  # the other trial was never tested


@pytest.mark.slow
@pytest.mark.parametrize("study_name, folder", [("tune", "trials"), ("wide", "trials-wide")])
def test_a_resumed_search_whose_best_changed_names_both_trials_it_scored_on_test(tmp_path, monkeypatch, study_name,
                                                                                 folder):
    """The former best's eval_test.json and its rewritten report.html still showed test numbers after a resumed
    search found a better trial, while the search's page said test was scored 'for this trial only'. Numbers once
    scored cannot be unseen: both trials are named, each for what it is, and the former best's report says so."""
    real = TUNE.train_trial

    def ranked(trial, cfg, deadline=None) -> float:  # a real trial run (its report, its test evaluation), ranked by
        real(trial, cfg, deadline=deadline)  # its number, so the resumed search's trial is the better one
        return 0.5 + trial.number / 10

    monkeypatch.setattr(TUNE, "train_trial", ranked)
    data = make_npz(tmp_path / "grey.npz", sizes=(48, 16, 24), noisy_test=4)
    base = {"data": str(data), "model": "resnet10_28_half", "epochs": 1, "batch_size": 32, "schedule": "none",
            "accelerator": "cpu", "bootstrap": 20, "tta": "none", "flip": False, "logger": "none"}
    out = tmp_path / "tune"
    space = {"lr": {"low": 1e-3, "high": 3e-2, "log": True}}
    tune(base, space, out, trials=1, study_name=study_name, log=lambda line: None)
    best = tune(base, space, out, trials=2, study_name=study_name, log=lambda line: None)
    trials, reports = out / folder, out if study_name == "tune" else out / folder
    assert best["trial"] == 1 and best["earlier_bests_tested"] == [0]
    assert json.loads((reports / "best.json").read_text())["earlier_bests_tested"] == [0]
    former = json.loads((trials / "000" / "eval_test.json").read_text())  # kept: deleting it would hide the look
    html = (reports / "report.html").read_text(encoding="utf-8")
    assert "for this trial only" not in html  # two trials' test splits were scored
    scored = html[html.index("<h2>Trials scored on test</h2>"):html.index("<h2>Trials</h2>")]
    rows = dict(re.findall(r'<th scope="row"><a [^>]*>(\d+)</a></th><td>([^<]*)<', scored))
    assert rows["1"].strip() == f"{best['test']['auc']:.3f}" and rows["0"].strip() == f"{former['auc']:.3f}"
    assert re.search(r'class="own"><th scope="row"><a href="[^"]*001/report.html">1</a>.*the study\'s best: its '
                     r"answer", scored.replace("&#39;", "'"))
    assert re.search(r'<a href="[^"]*000/report.html">0</a>.*scored as the best of an earlier part of the study; '
                     r"never used to choose", scored)
    own = (trials / "000" / "report.html").read_text(encoding="utf-8")
    assert card(own, "test AUC") == f"{former['auc']:.3f}"  # its numbers still shown, and said for what they are
    assert "was the best of an earlier, shorter run of the search" in own and "not the study's answer" in own
    assert "not held back any more" in own and "trial #1 is now its best" in own
    assert "earlier, shorter run" not in (trials / "001" / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("url, shown", [
    ("postgresql://user:secret@db.example/optuna", "postgresql://user:***@db.example/optuna"),
    ("sqlite:////data/study.db", "sqlite:////data/study.db"),
])
def test_the_page_never_shows_the_study_databases_password(url, shown):
    assert _shown_storage(url) == shown
