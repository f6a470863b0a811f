"""A run folder's files are read by one owner (medtrain._io, re-exported by medtrain.rundir): a damaged
``metrics.json`` is one line naming it wherever it is read (a compare folder's transfer table, a study's cells, a
pretrained source), never a JSONDecodeError traceback."""
from __future__ import annotations

import json

import pytest

from medtrain import _io, rundir
from medtrain.errors import MedtrainError
from medtrain.reports.curves import collect
from medtrain.transfer.advisor import transfer_table

DAMAGED = '{"test": {"auc": 0.9'  # a metrics.json cut short (a full disk, a copy stopped half-way)


def _metrics(wall_s: float | None = 12.0) -> dict:
    m = {"test": {"auc": 0.9, "acc": 0.8}, "val": {"auc": 0.85, "acc": 0.75},
         "history": [{"epoch": 0, "val_auc": 0.8}, {"epoch": 1, "val_auc": 0.85}]}
    return m if wall_s is None else {**m, "wall_s": wall_s}


def _seed(folder, metrics) -> None:
    folder.mkdir(parents=True)
    (folder / rundir.METRICS_FILE).write_text(metrics if isinstance(metrics, str) else json.dumps(metrics))


def test_the_lowest_readers_live_in_io_and_rundir_hands_on_the_same_ones():
    for name in ("read_metrics", "is_finished", "eval_file", "METRICS_FILE"):
        assert getattr(rundir, name) is getattr(_io, name)
    assert _io.eval_file("test") == "eval_test.json"


def test_a_damaged_metrics_json_is_one_line_naming_it(tmp_path):
    _seed(tmp_path / "run", DAMAGED)
    with pytest.raises(MedtrainError) as e:
        _io.read_metrics(tmp_path / "run")
    assert str(e.value) == f"{tmp_path / 'run' / 'metrics.json'} is missing or not valid JSON"
    (tmp_path / "run" / "metrics.json").write_text("[1, 2]")
    with pytest.raises(MedtrainError, match="does not hold a JSON object"):
        _io.read_metrics(tmp_path / "run")
    assert _io.is_finished(tmp_path / "run") and not _io.is_finished(tmp_path / "none")


def test_transfer_table_on_a_damaged_metrics_json_is_one_line_naming_the_file(tmp_path):
    _seed(tmp_path / "transfer=finetune" / "seed0", _metrics())
    _seed(tmp_path / "transfer=finetune" / "seed1", DAMAGED)
    with pytest.raises(MedtrainError) as e:
        transfer_table(tmp_path)
    bad = tmp_path / "transfer=finetune" / "seed1" / "metrics.json"
    assert str(bad) in str(e.value) and "\n" not in str(e.value)


def test_transfer_table_shows_a_missing_wall_time_as_unknown_rather_than_crashing(tmp_path):
    _seed(tmp_path / "transfer=finetune" / "seed0", _metrics(wall_s=None))
    _seed(tmp_path / "transfer=finetune" / "seed1", _metrics(wall_s=None))
    _seed(tmp_path / "transfer=scratch" / "seed0", _metrics(wall_s=10.0))
    _seed(tmp_path / "transfer=scratch" / "seed1", _metrics(wall_s=None))
    _seed(tmp_path / "transfer=linear-probe" / "seed0", _metrics(wall_s=30.0))
    table, data = transfer_table(tmp_path)
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()[2:]}
    assert rows["finetune"].endswith("| unknown |")
    assert rows["scratch"].endswith("| 10 (1 unknown) |")
    assert rows["linear-probe"].endswith("| 30 |")
    assert data["finetune"]["wall"] == [None, None] and data["finetune"]["auc"] == [0.9, 0.9]


def test_transfer_table_on_a_run_without_test_numbers_is_one_line_naming_the_file(tmp_path):
    _seed(tmp_path / "transfer=finetune" / "seed0", {**_metrics(), "test": {}})
    with pytest.raises(MedtrainError, match=r"seed0/metrics.json lacks what the transfer table shows"):
        transfer_table(tmp_path)


def test_a_studys_cells_read_each_runs_metrics_and_eval_files_through_the_owner(tmp_path):
    seed = tmp_path / "wd" / "weight_decay=0" / "seed0"
    _seed(seed, _metrics())
    (seed / _io.eval_file("test")).write_text(json.dumps({"auc": 0.7}))
    _seed(tmp_path / "wd" / "weight_decay=0" / "seed1", DAMAGED)
    with pytest.raises(MedtrainError, match=r"seed1/metrics.json is missing or not valid JSON"):
        collect(tmp_path)
    (tmp_path / "wd" / "weight_decay=0" / "seed1" / "metrics.json").unlink()  # unfinished: left out
    [cell] = collect(tmp_path)
    assert cell["cell"] == {"weight_decay": "0"} and cell["runs"][0]["_eval_test"] == {"auc": 0.7}


def test_a_pretrained_run_with_a_damaged_metrics_json_is_one_line_not_a_silent_first_member(tmp_path):
    from medtrain.models import create_model
    from medtrain.models.pretrained import load_source
    from medtrain.models.weights import save_weights

    run = tmp_path / "A"
    run.mkdir()
    save_weights(create_model("resnet10_28_half", in_chans=1, num_classes=2), run / rundir.WEIGHTS_FILE,
                 {"model": "resnet10_28_half", "in_chans": 1, "num_classes": 2, "mean": [0.5], "std": [0.25]})
    (run / rundir.METRICS_FILE).write_text(DAMAGED)
    with pytest.raises(MedtrainError, match=r"A/metrics.json is missing or not valid JSON"):
        load_source(run)
    (run / rundir.METRICS_FILE).unlink()  # a model handed on alone (weights, no metrics): still a source
    assert load_source(run).state
