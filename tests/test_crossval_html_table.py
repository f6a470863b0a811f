"""The cross-validation report's per-fold table is cv.md's (walk 'clinic' 8c): the HTML had used the raw keys as
headers (``val_auc``, ``threshold_raw``, ``test_sensitivity``) where cv.md reads "val AUC", "threshold raw", "test
sensitivity", and had dropped cv.md's train/val/test sizes, kept epoch and time. Both give, for patient data, each
fold's patients per split (what its temperature, class-weight rule and threshold were fitted on)."""
from __future__ import annotations

from conftest import HtmlTables
from medtrain.crossval import report_data, to_markdown
from medtrain.reports.html import write_crossval_report


def _cv(patients: bool) -> dict:
    """cv.json of 3 test folds of the walk's patients (3 folds, --operating-point), as summarise writes it."""
    per_fold = [{"fold": k, "sizes": {"train": 216 + (k == 1), "val": 25, "test": 121 - (k == 1)}, "best_epoch": 1,
                 "wall_s": 25.0 + 6 * k, "val_auc": 0.84 - 0.01 * k, "val_acc": 0.8, "test_auc": 0.75 + 0.02 * k,
                 "test_acc": 0.7, "threshold": 0.4882 + 0.05 * k, "temperature": 0.11 * (k + 1),
                 "threshold_raw": 0.52 + 0.01 * k, "test_sensitivity": 0.5, "test_specificity": 0.8 + 0.05 * k,
                 **({"patients": {"train": 85 + (k == 1), "val": 10, "test": 48 - (k == 1)}} if patients else {})}
                for k in range(3)]
    summary = {n: {"mean": 0.7, "std": 0.05} for n in ("val_auc", "val_acc", "test_auc", "test_acc",
                                                       "test_sensitivity", "test_specificity")}
    summary["threshold_raw"] = {"mean": 0.53, "std": 0.01, "min": 0.52, "max": 0.54}
    return {"per_fold": per_fold, "held_out": "test", "folds": 3, "dataset": "d", "summary": summary,
            "oof": {"n": 362, "auc": 0.73, "acc": 0.70, "auc_ci": [0.67, 0.77], "acc_ci": [0.65, 0.75]}}


def _md_table(md: str) -> list[list[str]]:
    """cv.md's first table (the per-fold one) as rows of cells, its |---| line left out."""
    lines = md.split("\n\n")[0].splitlines()
    return [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines if not ln.startswith("|---")]


def test_the_report_s_per_fold_table_is_cv_md_s_headers_sizes_epochs_and_patients(tmp_path):
    for patients in (True, False):
        cv = _cv(patients)
        md = _md_table(to_markdown(cv))
        page = write_crossval_report(tmp_path / str(patients), report_data(cv, {})).read_text()
        table = next(t for t in HtmlTables(page).tables if t[0][0] == "fold")
        assert table == md  # headers, every fold's row and the mean ± std row, cell for cell
        head = table[0]
        assert {"val AUC", "threshold raw", "test sensitivity", "train/val/test", "kept epoch", "time (s)"} <= set(head)
        assert not any("_" in h for h in head)
        assert table[2][head.index("train/val/test")] == "217/25/120" and table[2][head.index("kept epoch")] == "2"
        assert table[2][head.index("threshold raw")] == "0.5300"  # a threshold to 4 digits, as cv.md gives it
        if patients:  # the fold's patients per split, where the data name patients
            assert table[2][head.index("patients train/val/test")] == "86/10/47"
        else:
            assert "patients train/val/test" not in head
