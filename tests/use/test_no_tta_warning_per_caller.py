"""The one warning that a run's operating point was chosen on TTA-averaged probabilities, given where the run is
used without its test-time views, points at the user's own line, names the run, and names what decides at it
(:func:`medtrain.predictor._warn_threshold_fitted_with_tta`): predicting, in the CLI's column and Python's
``decide_at_operating_point`` alike; exporting, the graph. ``medtrain.load(run, tta=False)`` had pointed at
medtrain/__init__.py (its stacklevel one frame short through the ``medtrain.load`` wrapper), named no run (a
loop over runs could not tell which one warned) and named only the CLI's column; ``export --no-tta`` spoke of
predicting, where it writes a graph."""
from __future__ import annotations

import os
import warnings

import pytest

import medtrain
from conftest import fast_config, make_npz, run_cli
from medtrain.operating_point import OperatingPointWarning

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tta_run(tmp_path_factory):
    """A 1-epoch binary run with ``tta: hflip`` and ``--operating-point youden``, and its .npz."""
    root = tmp_path_factory.mktemp("no_tta_caller")
    make_npz(root / "b.npz", sizes=(48, 16, 16))
    medtrain.train(fast_config(root / "b.npz", root / "tta_run", epochs=1, bootstrap=0, tta="hflip",
                               operating_point="youden"), verbose=False)
    return root / "tta_run", root / "b.npz"


def _caught(call) -> list:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [w for w in caught if issubclass(w.category, OperatingPointWarning)]


def test_load_without_tta_warns_at_the_user_s_line_naming_the_run_and_the_method(tta_run):
    run, _ = tta_run
    said = _caught(lambda: medtrain.load(run, tta=False))
    assert len(said) == 1
    assert os.path.samefile(said[0].filename, __file__)  # the user's line, not medtrain/__init__.py
    message = str(said[0].message)
    assert str(run) in message  # which run warned
    assert "decide_at_operating_point" in message and "tta=False" in message and "(tta hflip)" in message


def test_predictor_load_called_directly_points_at_the_user_s_line_too(tta_run):
    from medtrain.predictor import load

    said = _caught(lambda: load(tta_run[0], tta=False))
    assert len(said) == 1 and os.path.samefile(said[0].filename, __file__)


def test_predict_no_tta_speaks_of_the_csv_column_and_names_the_run(tta_run, tmp_path, capsys):
    run, data = tta_run
    code, out, err = run_cli(capsys, "predict", run, data, "--no-tta", "--out", tmp_path / "p.csv")
    assert code == 0, err
    lines = [line for line in err.splitlines() if "test-time views" in line]
    assert len(lines) == 1 and lines[0].startswith("medtrain: warning: operating point youden: ")
    assert "--no-tta" in lines[0] and "prediction_at_operating_point column" in lines[0] and str(run) in lines[0]


def test_a_file_predicted_without_the_runs_views_says_so_in_itself(tta_run, tmp_path, capsys):
    # the warning went to the terminal only: the CSV and JSON of --no-tta were those of the run's own views, though
    # 10 of 100 decisions at the operating point differed (a deployment walk)
    import csv
    import json

    run, data = tta_run
    for flags, name in (([], "own"), (["--no-tta"], "none")):
        for fmt in ("csv", "json"):
            code, _, err = run_cli(capsys, "predict", run, data, *flags, *(["--json"] if fmt == "json" else []),
                                   "--out", tmp_path / f"{name}.{fmt}")
            assert code == 0, err
    own, none = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("own", "none"))
    assert own["tta"] == "hflip" and "tta_of_run" not in own
    assert (none["tta"], none["tta_of_run"]) == ("none", "hflip")
    with open(tmp_path / "own.csv") as f:
        assert "test_time_views" not in next(csv.reader(f))
    with open(tmp_path / "none.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["test_time_views"] for r in rows} == {"none (the run's: hflip)"}


def test_export_without_tta_speaks_of_the_graph_it_writes(tta_run, tmp_path):
    from medtrain.export import export_run

    run, _ = tta_run
    said = _caught(lambda: export_run(run, "torchscript", tmp_path / "m.pt", tta=False))
    assert len(said) == 1 and os.path.samefile(said[0].filename, __file__)
    message = str(said[0].message)
    assert "exported without TTA" in message and "graph" in message and str(run) in message
    assert "prediction_at_operating_point" not in message and "decide_at_operating_point" not in message


def test_export_no_tta_prints_the_graphs_warning_as_one_console_line(tta_run, tmp_path, capsys):
    # the file's metadata said it, the console nothing: a user exporting for one pass per image read nothing of it
    from medtrain.export import export_run

    run, _ = tta_run
    (said,) = _caught(lambda: export_run(run, "torchscript", tmp_path / "py.pt", tta=False))
    code, out, err = run_cli(capsys, "export", run, "--format", "torchscript", "--no-tta", "--out", tmp_path / "m.pt")
    assert code == 0, err
    assert (tmp_path / "m.pt").is_file()
    lines = [line for line in err.splitlines() if "test-time views" in line]
    assert lines == [f"medtrain: warning: {said.message}"] and "Traceback" not in err


def test_export_with_the_run_s_views_says_nothing_of_them(tta_run, tmp_path, capsys):
    code, out, err = run_cli(capsys, "export", tta_run[0], "--format", "torchscript", "--out", tmp_path / "m.pt")
    assert code == 0, err
    assert "test-time views" not in err and "warning" not in err
