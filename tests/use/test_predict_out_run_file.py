"""predict never writes its --out over one of a run folder's own files: ``--out runs/A/metrics.json`` had replaced
the run's record by a predictions CSV without a word (a bad-input walk), and eval, compare and the report then read
it. Another file name in the run folder is written as before."""
import hashlib

import pytest
from conftest import run_cli


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["metrics.json", "config.yaml", "predictions_test.csv", "eval_test.json"])
def test_an_out_that_is_a_runs_own_file_is_refused_in_one_line_and_left_as_it_was(trained_run, capsys, name):
    run, data, _ = trained_run
    target = run / name
    before = _digest(target) if target.exists() else None
    as_json = ["--json"] if name.endswith(".json") else []  # (a .json name without --json is refused for its suffix)
    code, out, err = run_cli(capsys, "predict", run, data, *as_json, "--out", target)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [f"medtrain: error: --out {target} is the run {run}'s own {name}, which this "
                                        "would write over; give another file name"]
    assert (_digest(target) if target.exists() else None) == before


def test_another_file_in_the_run_folder_is_written(trained_run, capsys, tmp_path):
    run, data, _ = trained_run
    target = run / "my_predictions.csv"
    try:
        code, _, err = run_cli(capsys, "predict", run, data, "--out", target)
        assert code == 0, err
        assert target.read_text().startswith("input,prediction,")
    finally:
        target.unlink(missing_ok=True)  # the run is shared by other tests


@pytest.mark.parametrize("argv, name", [
    (["augment", "show", "--augment", "shift"], "confusion_matrix.png"),
    (["augment", "search", "--budget-epochs", "1"], "config.yaml"),
])
def test_augment_show_and_search_refuse_a_runs_own_file_too(trained_run, capsys, argv, name):
    run, data, _ = trained_run
    target = run / name
    before = _digest(target)
    code, _, err = run_cli(capsys, *argv, "--data", data, "--out", target)
    assert code == 2
    assert err.strip().splitlines() == [f"medtrain: error: --out {target} is the run {run}'s own {name}, which this "
                                        "would write over; give another file name"]
    assert _digest(target) == before
