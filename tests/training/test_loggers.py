"""Experiment logs through Lightning's loggers: every epoch's history entry (the numbers metrics.json keeps)
and the run's settings, in the run directory; none when asked; one clear line when a package is missing."""
import csv
import json

import pytest
import yaml

import medtrain
from medtrain.errors import TrainingInterrupted
from medtrain.cli import main
from conftest import fast_config


def _csv_rows(run):
    with open(run / "logs" / "csv" / "metrics.csv") as f:
        return [r for r in csv.DictReader(f) if r.get("val_auc")]  # epoch rows (not per-step train loss)


def test_csv_log_holds_each_epoch_of_the_history_and_the_settings(tiny_npz, tmp_path):
    run = tmp_path / "run"
    m = medtrain.train(fast_config(tiny_npz, run, epochs=3, lr=2e-3), verbose=False)
    rows = _csv_rows(run)
    assert [int(float(r["epoch"])) for r in rows] == [0, 1, 2]
    for r, h in zip(rows, m["history"]):
        for k in ("train_loss", "val_loss", "val_auc", "val_acc", "lr"):
            assert float(r[k]) == pytest.approx(h[k], rel=1e-6, abs=1e-9), k
    hp = yaml.safe_load((run / "logs" / "csv" / "hparams.yaml").read_text())
    assert hp["lr"] == 2e-3 and hp["epochs"] == 3 and hp["model"] == "resnet10_28_half"


def test_logger_none_writes_no_log(tiny_npz, tmp_path):
    run = tmp_path / "run"
    medtrain.train(fast_config(tiny_npz, run, logger="none"), verbose=False)
    assert (run / "metrics.json").is_file() and not (run / "logs").exists()


def test_tensorboard_log_holds_the_validation_auc_of_each_epoch(tiny_npz, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    m = medtrain.train(fast_config(tiny_npz, run, logger="tensorboard"), verbose=False)
    acc = EventAccumulator(str(run / "logs" / "tensorboard"))
    acc.Reload()
    aucs = [e.value for e in acc.Scalars("val_auc")]
    assert aucs == pytest.approx([h["val_auc"] for h in m["history"]], abs=1e-6)


def test_a_logger_whose_package_is_missing_is_one_line_and_writes_nothing(tiny_npz, tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    code = main(["train", "--data", str(tiny_npz), "--logger", "mlflow", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'medtrain[mlflow]'" in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_a_resumed_run_logs_every_epoch_once(tiny_npz, tmp_path):
    import lightning.pytorch as pl

    class InterruptAt(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.current_epoch == 2 and batch_idx == 1:
                raise KeyboardInterrupt

    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match="interrupted"):
        medtrain.train(fast_config(tiny_npz, run, epochs=4), verbose=False, callbacks=[InterruptAt()])
    m = medtrain.train(None, resume=run, verbose=False)
    assert [int(float(r["epoch"])) for r in _csv_rows(run)] == [0, 1, 2, 3]
    assert json.loads((run / "metrics.json").read_text())["history"] == m["history"]
