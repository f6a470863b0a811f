"""K-fold cross-validation end to end: fold runs, whole patients per split, the summary, reuse, bad input."""
import csv
import json

import numpy as np
import pytest

from conftest import png_csv
from medtrain.cli import main

FAST = ["--model", "resnet10_28_half", "--epochs", "1", "--batch-size", "16", "--no-progress", "--bootstrap", "50",
        "--accelerator", "cpu", "--flip", "true"]  # flip pinned: no pilot runs in every fold (tests/training/test_choices.py)
PATIENTS, IMAGES = 12, 3


def _patients(tmp_path):
    """12 patients x 3 bright-square images (half the patients carry the square); column patient_id."""
    rng = np.random.default_rng(0)
    images, people = [], [p for p in range(PATIENTS) for _ in range(IMAGES)]
    for p in people:
        img = rng.integers(0, 90, (16, 16)).astype(np.uint8)
        if p % 2:
            img[5:11, 5:11] = 230
        images.append(img)
    return png_csv(tmp_path, images, [p % 2 for p in people], ("clear", "lesion"),
                   path=[f"p{p}_{i % IMAGES}.png" for i, p in enumerate(people)],
                   columns={"patient_id": [f"PID-{p:03d}" for p in people]})


def _splits_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def patients_cv(tmp_path_factory):
    """2-fold cross-validation of the patients' CSV at --operating-point youden: (command line, its folder). Shared
    by the tests of its folds and of their operating points (each had trained its own 2 folds)."""
    root = tmp_path_factory.mktemp("patients")
    out = root / "cv"
    # patient_id: found by name
    args = ["train", "--data", str(_patients(root)), "--folds", "2", *FAST, "--operating-point", "youden",
            "--out", str(out)]
    assert main(args) == 0
    return args, out


@pytest.mark.slow
def test_folds_hold_out_whole_patients_pool_every_image_once_and_are_reused(patients_cv, capsys):
    args, out = patients_cv
    cv = json.loads((out / "cv.json").read_text())
    assert cv["folds"] == 2 and cv["held_out"] == "test" and len(cv["per_fold"]) == 2
    assert cv["oof"]["n"] == PATIENTS * IMAGES  # every image held out exactly once
    aucs = [f["test_auc"] for f in cv["per_fold"]]
    assert cv["summary"]["test_auc"]["mean"] == pytest.approx(np.mean(aucs))
    assert cv["summary"]["test_auc"]["std"] == pytest.approx(np.std(aucs, ddof=1))
    assert cv["oof"]["auc_ci"][0] <= cv["oof"]["auc"] <= cv["oof"]["auc_ci"][1]
    # the intervals' unit is the patient (a statistician's audit: images of one patient were resampled as
    # independent), in the pooled figures and in each fold's; the predictions name each image's patient
    assert cv["oof"]["patients"] == PATIENTS
    fold0 = json.loads((out / "fold0" / "metrics.json").read_text())
    assert fold0["test"]["patients"] == len({r["group"] for r in _splits_csv(out / "fold0" / "splits.csv")
                                             if r["split"] == "test"})
    predicted = _splits_csv(out / "fold0" / "predictions_test.csv")
    assert [r["group"] for r in predicted] == [r["group"] for r in _splits_csv(out / "fold0" / "splits.csv")
                                               if r["split"] == "test"]
    # and probabilities are written to float32's precision: the fold's AUC recomputed from its file is its AUC
    from medtrain import metrics as M
    from medtrain.rundir import read_predictions

    y, s = read_predictions(out / "fold0")
    assert M.auc(y, s, "binary-class") == fold0["test"]["auc"]
    report = (out / "report.html").read_text()  # one page: every fold's row and the pooled line
    assert report.count("<tr") >= 3 and f"{cv['oof']['auc']:.3f}" in report
    # its settings are those the folds trained with: lr and batch size resolved (they showed as blanks)
    from medtrain.crossval import fold_settings

    shown = fold_settings([out / "fold0", out / "fold1"])
    assert isinstance(shown["lr"], float) and isinstance(shown["batch_size"], int) and "fold" not in shown
    assert f"batch_size <span>=</span> {shown['batch_size']}<" in report and "lr <span>=</span> –" not in report
    # and each fold's choices (its class-weight rule) are in cv.md and the report, one row per fold or one line where
    # they agree; the settings table's autos say they were decided per fold (it had shown class_weights = auto)
    md = (out / "cv.md").read_text()
    assert "Choices per fold" in md and "Choices per fold" in report
    rules = [json.loads((out / f"fold{k}" / "metrics.json").read_text())["choices"]["class_weights"]["chosen"]
             for k in range(2)]
    fold_rows = [next((ln for ln in md.splitlines() if ln.startswith(f"| {k} | flips on")), "") for k in range(2)]
    assert (f"class weights {rules[0]}" in md and not any(fold_rows) if rules[0] == rules[1]
            else all(f"| {r}: " in row for r, row in zip(rules, fold_rows)))
    assert "class_weights <span>=</span> auto<" not in report and "decided by each fold for itself" in report
    held = []
    for k in range(2):
        rows = _splits_csv(out / f"fold{k}" / "splits.csv")
        assert len(rows) == PATIENTS * IMAGES
        split_of = {}
        for r in rows:  # a patient's images all in one split
            assert split_of.setdefault(r["group"], r["split"]) == r["split"]
        held += [r["input"] for r in rows if r["split"] == "test"]
        assert {r["fold"] for r in rows if r["split"] == "test"} == {str(k)}
    assert sorted(held) == sorted(f"p{p}_{i}.png" for p in range(PATIENTS) for i in range(IMAGES))
    for f in out.rglob("*"):  # the patient IDs are nowhere in the outputs, only their hashes
        if f.is_file():
            assert b"PID-" not in f.read_bytes(), f
    stamps = [(out / f"fold{k}" / "metrics.json").stat().st_mtime_ns for k in range(2)]
    capsys.readouterr()
    assert main(args) == 0  # run again: every finished fold is reused, not retrained
    assert stamps == [(out / f"fold{k}" / "metrics.json").stat().st_mtime_ns for k in range(2)]
    assert "finished, reused" in capsys.readouterr().out
    assert json.loads((out / "cv.json").read_text())["per_fold"] == cv["per_fold"]
    # eval of the cross-validation folder (not a run) names its fold runs
    capsys.readouterr()
    assert main(["eval", str(out)]) == 2
    assert f"it holds the cross-validation runs fold0, fold1: name one, e.g. {out / 'fold0'}" in capsys.readouterr().err


@pytest.mark.slow
def test_each_fold_s_operating_point_is_in_the_cross_validation_tables(patients_cv):
    """cv.json, cv.md and the report left out the rates at --operating-point (a user walkthrough)."""
    _, out = patients_cv
    cv = json.loads((out / "cv.json").read_text())
    for f in cv["per_fold"]:
        op = json.loads((out / f"fold{f['fold']}" / "metrics.json").read_text())["operating_point"]["test"]
        assert (f["test_sensitivity"], f["test_specificity"]) == (op["sensitivity"], op["specificity"])
    assert cv["summary"]["test_sensitivity"]["mean"] == pytest.approx(
        np.mean([f["test_sensitivity"] for f in cv["per_fold"]]))
    assert "test sensitivity" in (out / "cv.md").read_text()
    assert "<th scope=\"col\">test sensitivity</th>" in (out / "report.html").read_text()  # cv.md's header
    # each fold's patients per split, its data summary's, in cv.json, cv.md and the report (walk 'clinic' 8c)
    for f in cv["per_fold"]:
        groups = json.loads((out / f"fold{f['fold']}" / "metrics.json").read_text())["data"]["groups"]
        assert f["patients"] == groups and groups["test"] == PATIENTS // 2
        row = f"| {f['fold']} | {f['sizes']['train']}/{f['sizes']['val']}/{f['sizes']['test']} | " \
              f"{groups['train']}/{groups['val']}/{groups['test']} |"
        assert row in (out / "cv.md").read_text()
        assert f"<td>{groups['train']}/{groups['val']}/{groups['test']}</td>" in (out / "report.html").read_text()
    # and pooled: every held-out image decided by its fold at its own threshold (the prediction_at_operating_point
    # column), with Wilson intervals over the patients, beside the pooled AUC (walk 'clinic' #6: mean ± std only)
    rows = [r for k in range(2) for r in _splits_csv(out / f"fold{k}" / "predictions_test.csv")]
    pos = [r["prediction_at_operating_point"] == "lesion" for r in rows if r["true_label"] == "lesion"]
    neg = [r["prediction_at_operating_point"] == "clear" for r in rows if r["true_label"] == "clear"]
    op = cv["oof"]["operating_point"]
    assert op["sensitivity_counts"] == [sum(pos), len(pos)] and op["specificity_counts"] == [sum(neg), len(neg)]
    assert (op["n_pos"] + op["n_neg"], op["patients"], op["rule"]) == (PATIENTS * IMAGES, PATIENTS, "youden")
    assert op["sensitivity_ci"][0] <= op["sensitivity"] <= op["sensitivity_ci"][1]
    assert f"sensitivity {op['sensitivity']:.3f} [{op['sensitivity_ci'][0]:.3f}, " in (out / "cv.md").read_text()
    assert "pooled out-of-fold sensitivity" in (out / "report.html").read_text()


@pytest.mark.slow
def test_each_fold_s_threshold_and_their_spread_are_in_cv_json_cv_md_and_the_report(patients_cv):
    """A clinical reader judges how stable the chosen threshold is across folds: cv.json had each fold's test rates at
    its threshold but not the threshold itself (chosen on the fold's validation split), nor its spread."""
    _, out = patients_cv
    cv = json.loads((out / "cv.json").read_text())
    chosen = [json.loads((out / f"fold{f['fold']}" / "metrics.json").read_text())["operating_point"]["threshold"]
              for f in cv["per_fold"]]
    assert [f["threshold"] for f in cv["per_fold"]] == chosen
    raw = [f["threshold_raw"] for f in cv["per_fold"]]  # the spread is over these (tests/test_crossval_multilabel.py)
    assert cv["summary"]["threshold_raw"] == pytest.approx({"mean": np.mean(raw), "std": np.std(raw, ddof=1),
                                                            "min": min(raw), "max": max(raw)})
    md = (out / "cv.md").read_text()  # what the command prints
    for t in chosen:
        assert f"| {t:.4f} |" in md  # each fold's in its row
    t = cv["summary"]["threshold_raw"]
    assert (f"mean {t['mean']:.4f} ± {t['std']:.4f}, range {t['min']:.4f} to {t['max']:.4f} over 2 folds") in md
    assert "<th scope=\"col\">threshold</th>" in (out / "report.html").read_text()


@pytest.mark.slow
def test_validation_rates_of_patient_data_count_patients_as_test_rates_do(patients_cv):
    """A threshold's validation sensitivity and specificity over a patient's three images are not three independent
    observations: their intervals take the patients' effective size, as the test column's do (they had been
    Wilson's over images beside a test column over patients)."""
    _, out = patients_cv
    for fold in (0, 1):
        op = json.loads((out / f"fold{fold}" / "metrics.json").read_text())["operating_point"]
        val_patients = {r["group"] for r in csv.DictReader((out / f"fold{fold}" / "splits.csv").open())
                        if r["split"] == "val"}
        images = op["val"]["sensitivity_counts"][1] + op["val"]["specificity_counts"][1]  # positives + negatives
        assert op["val"]["patients"] == len(val_patients) < images
        assert op["test"]["patients"] > 0


@pytest.mark.slow
def test_folds_as_a_compare_axis(tiny_npz, tmp_path):
    out = tmp_path / "cmp"
    assert main(["compare", "--data", str(tiny_npz), "--vary", "folds=0,2", *FAST, "--out", str(out)]) == 0
    table = (out / "summary.md").read_text()
    # the cell's mean ± std is over its 2 fold runs, counted as folds: one seed of 2 folds had been reported
    # as "seeds 2", its runs listed as seeds "0, 0" (a statistician's audit); the fixed split is 1 seed
    assert "| 2 | 1 × 2 folds |" in table and "| 0 | 1 |" in table
    row = list(csv.DictReader((out / "summary.csv").open()))[1]
    assert (row["seeds"], row["runs"]) == ("1", "2")
    report = (out / "report.html").read_text()
    assert "0 fold 0, 0 fold 1" in report and "its fold runs" in report
    cv = json.loads((out / "folds=2" / "seed0" / "cv.json").read_text())
    assert cv["held_out"] == "val" and cv["oof"]["n"] == 96 + 32  # official train+val, test untouched
    # validation folds held out: the report says the pooled figures read optimistic, as cv.md did
    assert "read optimistic" in (out / "folds=2" / "seed0" / "report.html").read_text()


def _multilabel(tmp_path):
    """An .npz of 3 labels (60/20/20 16x16 images); label 2 positive in 2 train, 1 val and 2 test images."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n, rare, seed in zip(("train", "val", "test"), (60, 20, 20), (2, 1, 2), (0, 1, 2)):
        arrays[f"{split}_images"] = rng.integers(0, 255, (n, 16, 16)).astype(np.uint8)
        labels = (rng.random((n, 3)) < [0.5, 0.4, 0]).astype(np.uint8)
        labels[:rare, 2] = 1
        arrays[f"{split}_labels"] = labels
    np.savez(tmp_path / "ml.npz", **arrays)
    return tmp_path / "ml.npz"


@pytest.mark.slow
def test_multi_label_folds_all_train_and_their_out_of_fold_predictions_name_each_image_once(tmp_path):
    """A label of 3 positives in train+val, 3 folds: one in each validation fold (dealt as if unlabelled, fold 2
    had none and was refused after 0 and 1 trained). Each fold's predictions_val.csv names its images as its
    splits.csv does (they were 0, 1, 2...: their place in the fold), so the out-of-fold predictions are every
    train+val image once."""
    out = tmp_path / "cv"
    assert main(["train", "--data", str(_multilabel(tmp_path)), "--folds", "3", *FAST, "--out", str(out)]) == 0
    assert json.loads((out / "cv.json").read_text())["oof"]["n"] == 80
    held = []
    for k in range(3):
        predicted = [r["input"] for r in _splits_csv(out / f"fold{k}" / "predictions_val.csv")]
        assert predicted == [r["input"] for r in _splits_csv(out / f"fold{k}" / "splits.csv") if r["split"] == "val"]
        held += predicted
    assert sorted(held) == sorted([f"train/{i}" for i in range(60)] + [f"val/{i}" for i in range(20)])


@pytest.mark.parametrize("extra, message", [
    (["--group-column", "patient"], "group column 'patient' is not in the header"),
    (["--group-column", "patient", "--dataset", "breastmnist", "--data", "none"], "applies to CSV data only"),
    (["--folds", "7"], "--folds 7 is more than the 6 patients of the smallest class (class 'clear')"),
    (["--folds", "13"], "--folds 13 is more than the 12 patients"),
])
def test_bad_cross_validation_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, extra, message):
    data = _patients(tmp_path)
    out = tmp_path / "cv"
    code = main(["train", "--data", str(data), *(["--folds", "3"] if "--folds" not in extra else []), *extra,
                 *FAST, "--out", str(out)])
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2 and message in err and "\n" not in err
    assert captured.out == ""  # no 'fold 0 (1 of 7)' line before the error: the folds are checked first
    assert not out.exists()



def test_the_pooled_note_names_a_wilson_acc_interval_and_no_card_shows_how_an_interval_was_made():
    from medtrain.crossval import report_data

    cv = {"oof": {"n": 40, "auc": 0.8, "acc": 0.7, "auc_ci": [0.7, 0.9], "acc_ci": [0.6, 0.8], "auc_ci_draws": 1000,
                  "acc_ci_method": "wilson", "acc_ci_reason": "few units per class"},
          "held_out": "test", "folds": 3, "per_fold": [], "dataset": "d"}
    d = report_data(cv, {})
    assert set(d["pooled"]) == {"oof_auc", "oof_acc", "oof_auc_ci", "oof_acc_ci"}
    assert "ACC's is Wilson's score interval (too few images or patients per class" in d["pooled_note"]


def test_cv_md_says_which_probabilities_are_pooled_and_what_the_test_spread_is():
    """A reader pooling the calibrated columns got another AUC (0.496 for 0.557), and read the official test
    column's ± as a sampling spread (a cross-validation walk)."""
    from medtrain.crossval import report_data, to_markdown

    folds = [{"fold": k, "sizes": {"train": 400, "val": 100, "test": 156}, "val_auc": 0.8, "val_acc": 0.7,
              "test_auc": 0.75, "test_acc": 0.7, "best_epoch": 3, "wall_s": 10.0} for k in range(5)]
    cv = {"per_fold": folds, "held_out": "val", "folds": 5, "dataset": "d",
          "summary": {n: {"mean": 0.7, "std": 0.01} for n in ("val_auc", "val_acc", "test_auc", "test_acc")},
          "oof": {"n": 500, "auc": 0.8, "acc": 0.7, "auc_ci": [0.75, 0.85], "acc_ci": [0.65, 0.75]}}
    md = " ".join(to_markdown(cv).split())
    assert "Pooled from the fold runs' uncalibrated probabilities (the p columns" in md
    assert "score each of the 5 fold models on the same 156 test images: their ± is the spread between" in md
    note = report_data(cv, {})["pooled_note"]
    assert "uncalibrated probabilities" in note and "spread between the models" in note  # the report says it too
    cv["held_out"] = "test"
    assert "same 156 test images" not in to_markdown(cv)
