"""What a comparison's tables say their numbers are (walk "evidence" #2, #4, #5): a cross-validated compare's
summary.tex, summary.md and report.html had called its Nadeau-Bengio intervals over folds "paired by seed, with a
95% t interval", "Student-t", "seed-to-seed" and its dots "one seed's run"; the table printed ± and brackets with
nothing saying what they are; a tie at the highest mean validation AUC highlighted the first cell alone as "the"
highest; a cross-validation report's cards read "pooled oof_auc". Hand-made metrics, no training."""
from __future__ import annotations

import html
import re

from medtrain.reports.html import write_comparison_report, write_crossval_report
from medtrain.reports.tables import summarise, to_latex, to_markdown

KEYS = ["dropout"]


def _run(seed, auc, val_auc, fold=None):
    run = {"seed": seed, "test": {"acc": 0.7, "auc": auc}, "val": {"auc": val_auc}, "best_epoch": 1, "stop_epoch": 1,
           "wall_s": 1.0, "sizes": {"train": 84, "val": 42, "test": 50}}
    return {**run, "cv": {"fold": fold, "folds": 3, "held_out": "val"}} if fold is not None else run


def _folds():  # one seed, three folds a cell: the pairs are folds, their interval Nadeau & Bengio's
    return [{"cell": {"dropout": "0"}, "runs": [_run(0, 0.40 + 0.01 * k, 0.45 + 0.02 * k, k) for k in range(3)]},
            {"cell": {"dropout": "0.5"}, "runs": [_run(0, 0.39 + 0.013 * k, 0.44 + 0.021 * k, k) for k in range(3)]}]


def _seeds(val=(0.52, 0.52)):
    return [{"cell": {"dropout": d}, "runs": [_run(s, 0.5 + 0.1 * s + 0.01 * i, v + 0.01 * s) for s in range(2)]}
            for i, (d, v) in enumerate(zip(("0", "0.5"), val))]


def _text(path) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))).split())


def test_a_cross_validated_compare_names_fold_pairs_and_nadeau_bengio_everywhere(tmp_path):
    rows = summarise(_folds())
    assert rows[1]["paired"]["ci_method"] == "nadeau-bengio"
    tex = to_latex(rows, KEYS)
    caption = next(line for line in tex.splitlines() if line.startswith("% Caption: "))
    # what ± and the brackets are, in the caption a paper takes, by what the runs and the interval are
    assert "SD" in caption and "fold runs" in caption and "paired by seed and fold" in caption
    assert r"Nadeau \& Bengio's corrected resampled t" in caption and "Student" not in caption
    assert "paired by seed," not in tex and "t interval and its test" not in tex
    assert "tabular" in tex and r"\caption" not in tex  # still a tabular to \input into the paper's own table
    md = to_markdown(rows, KEYS)
    assert "paired by seed and fold" in md and "seed-to-seed" not in md
    page = _text(write_comparison_report(tmp_path, KEYS, _folds()))
    for wrong in ("Student-t", "seed by seed", "seed-to-seed", "one seed's run"):
        assert wrong not in page, wrong
    assert "Nadeau & Bengio's corrected resampled t over the fold pairs" in page
    assert "Each dot is one fold's run" in page and "SD (standard deviation" in page


def test_a_seed_compare_says_student_t_over_seeds_and_prints_its_caption(tmp_path):
    rows = summarise(_seeds((0.50, 0.52)))
    caption = next(line for line in to_latex(rows, KEYS).splitlines() if line.startswith("% Caption: "))
    assert "paired by seed," in caption and "Student's t" in caption and "Nadeau" not in caption
    assert r"Mean $\pm$ SD" in caption and r"95\% interval in brackets" in caption
    assert "Mean ± SD (standard deviation" in to_markdown(rows, KEYS)
    page = _text(write_comparison_report(tmp_path, KEYS, _seeds((0.50, 0.52))))
    assert "Mean ± SD (standard deviation" in page and "Each dot is one seed's run" in page
    assert "the cell with the highest mean validation AUC" in page and "tied" not in page


def test_cells_tied_at_the_best_mean_validation_auc_are_all_highlighted_and_called_tied(tmp_path):
    path = write_comparison_report(tmp_path, KEYS, _seeds())
    raw = path.read_text(encoding="utf-8")
    assert '<tr class="own"><th scope="row">dropout=0</th>' in raw
    assert '<tr class="own"><th scope="row">dropout=0.5</th>' in raw
    assert "tied at the highest mean validation AUC" in _text(path)


def test_the_cross_validation_report_names_its_pooled_cards(tmp_path):
    summary = {"folds": [{"fold": i, "test_auc": 0.4 + 0.01 * i} for i in range(3)],
               "pooled": {"oof_auc": 0.449, "oof_auc_ci": [0.352, 0.561], "oof_acc": 0.712,
                          "oof_sensitivity": 0.708}}
    page = _text(write_crossval_report(tmp_path, summary))
    assert "pooled out-of-fold AUC 0.449 [0.352, 0.561]" in page
    assert "pooled out-of-fold ACC 0.712" in page and "pooled out-of-fold sensitivity 0.708" in page
    assert "oof_" not in page


def test_a_one_seed_compare_promises_no_interval_it_cannot_give():
    # --seeds 1: the caption had promised "a 95% interval in brackets" beside Δ cells that hold none
    cells = [{"cell": {"dropout": d}, "runs": [_run(0, 0.5 + 0.1 * i, 0.52)]} for i, d in enumerate(("0", "0.5"))]
    rows = summarise(cells)
    md = to_markdown(rows, KEYS)
    assert "+0.100 [" not in md and "+0.100" in md  # the difference alone
    assert "in brackets" not in md and "one pair each, so the difference alone" in md
    assert "in brackets" in to_markdown(summarise(_seeds((0.50, 0.52))), KEYS)  # two pairs: its interval


def test_a_one_seed_compare_s_column_heads_and_page_promise_no_interval(tmp_path):
    # the caption was mended, but the Δ heads still read "(paired, 95% CI)", summary.tex's "(95\% CI)" and the
    # page "with a Student-t 95% interval over the pairs" above cells holding one difference each
    cells = [{"cell": {"dropout": d}, "runs": [_run(0, 0.5 + 0.1 * i, 0.52)]} for i, d in enumerate(("0", "0.5"))]
    rows = summarise(cells)
    head = to_markdown(rows, KEYS).splitlines()[0]
    assert "Δ test AUC vs first (paired) |" in head and "95% CI" not in head
    assert "95\\% CI" not in to_latex(rows, KEYS)
    page = _text(write_comparison_report(tmp_path, KEYS, cells))
    assert "Student-t 95% interval" not in page and "one pair each, so the difference alone" in page
    two = summarise(_seeds((0.50, 0.52)))  # two pairs: the interval, and the heads say so
    assert "Δ test AUC vs first (paired, 95% CI)" in to_markdown(two, KEYS) and "95\\% CI" in to_latex(two, KEYS)
    assert "Student-t 95% interval" in _text(write_comparison_report(tmp_path / "two", KEYS, _seeds((0.50, 0.52))))
    # cells that share no seed with the first have no pair at all: not "one pair each" (a review)
    apart = [{"cell": {"dropout": d}, "runs": [_run(s, 0.5, 0.52)]} for d, s in (("0", 0), ("0.5", 1))]
    page = _text(write_comparison_report(tmp_path / "apart", KEYS, apart))
    assert "one pair each" not in page and "no pair here" in page


def test_a_grid_run_at_an_operating_point_says_each_cell_s_rates_there():
    # compare --operating-point specificity=0.8 had shown its cells' ACC at 0.5 and nowhere the rates it was run for
    from medtrain.reports._table_notes import operating_point_note

    def run(seed, sens, spec):
        return {**_run(seed, 0.6, 0.6), "operating_point": {"rule": "specificity=0.8", "threshold": 0.7,
                                                            "test": {"sensitivity": sens, "specificity": spec}}}

    cells = [{"cell": {"dropout": "0"}, "runs": [run(0, 0.388, 0.771), run(1, 0.412, 0.8)]},
             {"cell": {"dropout": "0.3"}, "runs": [run(0, 0.5, 0.7)]}]
    note = operating_point_note(cells, KEYS)
    assert note.startswith("At each run's operating point (specificity=0.8: its threshold chosen on its own "
                           "validation split)")
    named = {**cells[1]["runs"][0]["operating_point"], "positive_class": "malignant"}
    assert "(specificity=0.8, positive class 'malignant': its threshold" in operating_point_note(
        [{"cell": {"dropout": "0"}, "runs": [{**cells[1]["runs"][0], "operating_point": named}]}], KEYS)
    assert "dropout=0: sensitivity 0.400 (0.388, 0.412), specificity 0.786 (0.771, 0.800)" in note
    assert "dropout=0.3: sensitivity 0.500, specificity 0.700." in note
    assert operating_point_note(_seeds(), KEYS) == ""  # no operating point: no sentence
    ml = {**_run(0, 0.6, 0.6), "operating_point": {"rule": "youden", "test": {"per_label": {}, "summary": {
        "mean_sensitivity": 0.6, "mean_specificity": 0.9}}}}
    said = operating_point_note([{"cell": {}, "runs": [ml]}], [])
    assert "base: sensitivity 0.600, specificity 0.900" in said
    # a multi-label run's rates are means over its labels, said as such (a walk: read as one rate)
    assert "(a multi-label run's: the means over its labels, each at its own threshold)" in said
    assert "means over its labels" not in note
