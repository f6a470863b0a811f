"""medtrain under a batch scheduler or CI: output to a log file, SLURM's signals, interrupts and resumes.

A job's log is read afterwards, not watched: it gets one plain line per epoch (no progress bar's carriage
returns), no false warning on --resume, and an interrupt at any point says how to continue. Inside a SLURM job
medtrain's own checkpoints and --resume are the way on, not Lightning's requeue.
"""
import os
import re
import signal

import lightning.pytorch as pl
import pytest

import medtrain
from medtrain.errors import TrainingInterrupted
from medtrain import api, rundir
from medtrain import config as config_mod
from conftest import InterruptAt, fast_config, make_npz, run_cli

FAST = ["--model", "resnet10_28_half", "--batch-size", "32", "--bootstrap", "0", "--schedule", "none",
        "--accelerator", "cpu", "--precision", "32-true"]


class SlurmWarningSignal(pl.Callback):
    """Sends SLURM's warning signal (``sbatch --signal=USR1@...``) in the middle of the first epoch, where a handler
    of it is installed (with none, SIGUSR1 would end the test process), and records the handler."""

    def __init__(self):
        self.handler = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == 0 and batch_idx == 1:
            self.handler = signal.getsignal(signal.SIGUSR1)
            if callable(self.handler):
                os.kill(os.getpid(), signal.SIGUSR1)


def test_a_slurm_job_keeps_no_requeue_checkpoint_of_lightning(tiny_npz, tmp_path, monkeypatch):
    # inside sbatch, Lightning's auto-requeue had written a 33 MB RUN/hpc_ckpt_1.ckpt on SIGUSR1 (never removed,
    # never read by --resume) and called `scontrol requeue`
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "GROUP_RANK", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_JOB_NAME", "train")
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_NODELIST", "node1")
    for key in ("SLURM_PROCID", "SLURM_LOCALID", "SLURM_NODEID"):
        monkeypatch.setenv(key, "0")
    from medtrain.training.fit import cluster_plugins

    # still run as a SLURM job (ranks, world size and the main address read from SLURM's variables)
    assert [type(e).__name__ for e in cluster_plugins()] == ["SLURMEnvironment"]
    before = signal.getsignal(signal.SIGUSR1)
    sent = SlurmWarningSignal()
    medtrain.train(fast_config(tiny_npz, tmp_path / "run", epochs=1), verbose=False, callbacks=[sent])
    assert sent.handler == before  # Lightning installed no handler of SLURM's signal
    assert list((tmp_path / "run").rglob("hpc_ckpt*")) == []
    assert rundir.is_finished(tmp_path / "run")


@pytest.mark.parametrize("progress", [True, False], ids=["progress", "no-progress"])
def test_a_log_file_gets_one_plain_line_per_epoch(tmp_path, capsys, progress):
    # `medtrain train ... > log 2>&1` had received Lightning's epoch bar: ~3 KB of \r and ESC[A per epoch
    data = make_npz(tmp_path / "d.npz")
    epochs = 2 if progress else 1  # one epoch is silent as two are
    code, out, err = run_cli(capsys, "train", "--data", data, "--out", tmp_path / "r", "--epochs", epochs, "--flip",
                             "true", *FAST, *([] if progress else ["--no-progress"]))
    assert code == 0, err
    log = out + err  # captured: neither is a terminal
    assert "\r" not in log and "\x1b" not in log
    lines = [line for line in log.splitlines() if re.match(rf"epoch \d+/{epochs}\b", line)]
    if not progress:  # --no-progress stays silent
        assert lines == []
        return
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all(re.fullmatch(r"epoch \d/2: train loss \d+\.\d{4}, val loss \d+\.\d{4}, val AUC \d\.\d{4}, "
                            r"\d+ s elapsed", line) for line in lines), lines


def test_a_resumed_run_gives_no_false_warning_of_deleted_logs(tiny_npz, tmp_path, recwarn, capsys):
    # "Experiment logs directory .../logs/csv exists and is not empty. Previous log files in this directory will
    # be deleted" (they are not: the log keeps every epoch) and "Checkpoint directory ... exists and is not empty",
    # with site-packages paths, on every --resume
    kw = dict(epochs=2)
    with pytest.raises(TrainingInterrupted, match="--resume"):
        medtrain.train(fast_config(tiny_npz, tmp_path / "r", **kw), verbose=False, callbacks=[InterruptAt(1)])
    recwarn.clear()
    capsys.readouterr()
    medtrain.train({"progress": False}, resume=tmp_path / "r", verbose=False)
    said = [str(w.message) for w in recwarn] + capsys.readouterr().err.splitlines()
    assert not [m for m in said if "exists and is not empty" in m], said
    log = (tmp_path / "r" / "logs" / "csv" / "metrics.csv").read_text().splitlines()
    assert len(log) == 1 + kw["epochs"]  # the header and every epoch: nothing was deleted


def _interrupt_pilots(monkeypatch):
    """Ctrl-C in the first flip pilot run (flip: auto trains two before the run itself)."""
    real = api.fit

    def fit(cfg, splits, run_dir, *a, **k):
        if rundir.PILOT_DIR in run_dir.parts:
            k["callbacks"] = [*(k.get("callbacks") or []), InterruptAt(0)]
        return real(cfg, splits, run_dir, *a, **k)

    monkeypatch.setattr(api, "fit", fit)


def _interrupt_writing(monkeypatch):
    """Ctrl-C while the trained run is evaluated and written."""
    def write_run(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(rundir, "write_run", write_run)


@pytest.mark.parametrize("where, out, flip", [(_interrupt_pilots, "r", "auto"), (_interrupt_writing, None, "true")],
                         ids=["flip-pilots", "writing-default-out"])
def test_an_interrupt_outside_the_epochs_says_how_to_continue(tmp_path, capsys, monkeypatch, where, out, flip):
    # the log had ended in a bare "medtrain: interrupted" though the folder held config.yaml and --resume worked
    data = make_npz(tmp_path / "d.npz")
    monkeypatch.chdir(tmp_path)  # the default run folder, runs/d-MODEL-s0, where no --out is given
    where(monkeypatch)
    code, _, err = run_cli(capsys, "train", "--data", data, "--epochs", 1, "--no-progress", "--flip", flip, *FAST,
                           *(["--out", tmp_path / out] if out else []))
    run = tmp_path / out if out else rundir.default_run_dir(config_mod.resolve({"data": str(data),
                                                                                "model": "resnet10_28_half"}))
    assert code == 130
    assert err.strip().splitlines()[-1] == f"medtrain: interrupted; continue with `medtrain train --resume {run}`"
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "train", "--resume", run, "--no-progress")  # and it does
    assert code == 0, err
    assert rundir.is_finished(tmp_path / run)


def test_an_interrupt_before_the_run_folder_exists_names_no_resume(tmp_path, capsys, monkeypatch):
    def load_splits(cfg, processes=None):
        raise KeyboardInterrupt  # while the data load: nothing is written yet

    monkeypatch.setattr(api, "load_splits", load_splits)
    data = make_npz(tmp_path / "d.npz")
    code, _, err = run_cli(capsys, "train", "--data", data, "--epochs", 2, "--no-progress", "--out", tmp_path / "r",
                           *FAST)
    assert code == 130 and err.strip() == "medtrain: interrupted"
    assert not (tmp_path / "r").exists()
