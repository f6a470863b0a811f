"""``evaluate_external`` of an .npz's integer labels on a run whose classes have names (a CSV run whose classes sort
to ['benign', 'malignant']) says the mapping it uses in one line: a user whose 0 meant malignant had scored
inverted labels (ACC 0.32) without a word. Arrays handed in place of a path are one MedtrainError. An external CSV's
patient column is the run's own ``--group-column`` where it has one (it had been ignored: intervals over images)."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import medtrain
from conftest import fast_config, make_images, png_csv, run_cli
from medtrain.errors import MedtrainError
from medtrain.external import LabelsByIndexWarning, UngroupedExternalWarning, evaluate_external

NAMES = ("malignant", "benign")  # the user's 0 and 1; the run's classes sort to benign, malignant


@pytest.fixture(scope="module")
def named_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("named")
    cases = {"case": [i // 3 for i in range(120)]}  # 40 patients of 3 images
    data = png_csv(root, *make_images(120, seed=0), NAMES, name="all.csv", columns=cases)
    run = root / "run"
    medtrain.train(fast_config(data, run, epochs=1, bootstrap=0, tta="none", flip="false", group_column="case"),
                   verbose=False)
    held_images, held = make_images(24, seed=5)
    np.savez(root / "heldout.npz", test_images=held_images, test_labels=held)
    return run, root / "heldout.npz"


def _said(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [str(w.message) for w in caught if issubclass(w.category, LabelsByIndexWarning)]


def test_integer_labels_on_a_run_of_named_classes_say_the_mapping(named_run):
    run, held = named_run
    assert list(medtrain.load(run).labels) == ["benign", "malignant"]
    res, said = _said(evaluate_external, run, held, verbose=False)
    assert len(said) == 1 and "\n" not in said[0]
    assert "labels read by index: 0 = benign, 1 = malignant" in said[0]
    assert res["n"] == 24  # scored as before: by index


def test_the_command_line_eval_data_says_the_mapping_in_one_line(named_run, capsys):
    run, held = named_run
    code, _, err = run_cli(capsys, "eval", run, "--data", held)
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if "read by index" in ln]
    assert len(lines) == 1 and lines[0].startswith("medtrain: warning:") and "0 = benign, 1 = malignant" in lines[0]


def test_a_run_whose_classes_are_the_indices_is_not_warned(trained_run):
    run, data, _ = trained_run
    assert list(medtrain.load(run).labels) == ["0", "1"]
    res, said = _said(evaluate_external, run, data, verbose=False)
    assert said == [] and res["n"] == 40


@pytest.mark.parametrize("given", ["tuple", "dict", "array"])
def test_arrays_in_place_of_a_path_are_one_clear_error(named_run, given):
    run, held = named_run
    x, y = make_images(4, seed=1)
    data = {"tuple": (x, y), "dict": {"test_images": x, "test_labels": y}, "array": x}[given]
    before = sorted(run.iterdir())
    with pytest.raises(MedtrainError) as e:
        evaluate_external(run, data, verbose=False)
    msg = str(e.value)
    assert "\n" not in msg and ".npz" in msg and "np.savez" in msg and "CSV" in msg
    assert sorted(run.iterdir()) == before  # nothing written


@pytest.mark.parametrize("column, patients", [("case", 12), ("patient_id", 12), ("site_id", None)])
def test_an_external_csv_is_scored_over_the_patients_of_the_runs_own_group_column(named_run, column, patients):
    """The run's --group-column (case), or a column a training CSV's is found by, groups the site's rows: its
    intervals are over patients; a CSV without either is scored over images, as before, and says so in one line,
    since the run's own test intervals were over patients (the printed line had only lost its "over N patients")."""
    run, held = named_run
    site = held.parent / f"site_{column}"
    site.mkdir()
    data = png_csv(site, *make_images(24, seed=7), NAMES, columns={column: [f"S{i // 2}" for i in range(24)]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = evaluate_external(run, data, verbose=False)
    assert res["n"] == 24 and res.get("patients") == patients
    said = [str(w.message) for w in caught if issubclass(w.category, UngroupedExternalWarning)]
    if patients:
        assert said == []
    else:
        assert len(said) == 1 and "\n" not in said[0] and "no patient column (case)" in said[0]
        own = json.loads((run / "metrics.json").read_text())["test"]["patients"]  # the run's own test patients
        assert own > 1 and f"were over {own} patients" in said[0]


def test_an_external_label_that_differs_from_a_class_only_in_case_names_the_class(named_run, capsys):
    run, held = named_run
    site = held.parent / "site_cased"
    site.mkdir()
    data = png_csv(site, *make_images(4, seed=3), ("Malignant", "benign"))
    code, _, err = run_cli(capsys, "eval", run, "--data", data)
    assert code == 2 and len(err.splitlines()) == 1
    assert "'Malignant' (the run's 'malignant': labels differ only in case)" in err
