"""Several training processes (DDP): each sample in exactly one process's share, one writer of the run
directory, figures of the complete split, a schedule that finishes its cycle; bad device requests refused."""
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from medtrain.cli import main
from medtrain.config import resolve
from medtrain.errors import MedtrainError
from medtrain.training import distributed
from medtrain.training.distributed import check_devices, unshard
from medtrain.training.loader import TensorBatches
from conftest import ROOT, make_images


def _batches(n, world, shuffle, bs=4, drop_last=False, epoch=3):
    shares = []
    for rank in range(world):
        tb = TensorBatches(torch.arange(n), torch.arange(n), bs, shuffle=shuffle, seed=7, drop_last=drop_last)
        tb.shard(rank, world)
        tb.set_epoch(epoch)
        shares.append(torch.cat([y for _, y in tb]) if len(tb) else torch.zeros(0, dtype=torch.long))
        assert len(list(tb)) == len(tb)
    return shares


@pytest.mark.parametrize("n", [1, 2, 5, 33, 64])
@pytest.mark.parametrize("world", [2, 3, 4])
def test_evaluation_shards_hold_every_sample_once_and_unshard_restores_the_split_order(n, world):
    shares = _batches(n, world, shuffle=False)
    assert sorted(torch.cat(shares).tolist()) == list(range(n))  # none twice, none missing
    m = max(len(s) for s in shares)
    padded = torch.stack([torch.cat([s, torch.full((m - len(s),), -1)]) for s in shares])
    assert unshard(padded, [len(s) for s in shares]).tolist() == list(range(n))


@pytest.mark.parametrize("n, world", [(33, 2), (90, 2), (50, 3), (7, 4)])
def test_training_shards_take_equal_steps_and_together_cover_the_seeded_permutation(n, world):
    shares = _batches(n, world, shuffle=True, drop_last=False)
    assert len({len(s) for s in shares}) == 1  # every process takes the same number of optimizer steps
    assert set(torch.cat(shares).tolist()) == set(range(n))
    one = _batches(n, 1, shuffle=True)[0]
    g = torch.Generator().manual_seed(7 * 100_003 + 3)
    assert one.tolist() == torch.randperm(n, generator=g).tolist()  # one process: the order runs always had
    # W processes interleave that same permutation (a resumed epoch draws the same batches again)
    assert torch.stack([s[:n // world] for s in shares], 1).flatten().tolist() == one[:n // world * world].tolist()


def test_devices_beyond_the_machine_are_refused(monkeypatch):
    monkeypatch.setattr(distributed, "usable_cores", lambda: 2)
    with pytest.raises(MedtrainError, match="on CPU that many processes need as many cores; this machine has 2"):
        check_devices(resolve({"dataset": "pneumoniamnist", "accelerator": "cpu", "devices": 3}))
    check_devices(resolve({"dataset": "pneumoniamnist", "accelerator": "cpu", "devices": 2}))
    with pytest.raises(MedtrainError, match="gradual unfreezing. needs one process"):
        check_devices(resolve({"dataset": "pneumoniamnist", "accelerator": "cpu", "devices": 2, "pretrained": "A",
                               "transfer": "finetune-top:1", "unfreeze_every": 2}))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(MedtrainError, match="devices 3: this machine has 2 CUDA device"):
        check_devices(resolve({"dataset": "pneumoniamnist", "accelerator": "gpu", "devices": 3}))
    with pytest.raises(MedtrainError, match="CUDA devices 0..1"):
        check_devices(resolve({"dataset": "pneumoniamnist", "accelerator": "auto", "devices": "1,2"}))


@pytest.mark.parametrize("args, message", [
    (["--strategy", "dpp"], "did you mean ddp"),
    (["--devices", "0"], "devices must be a number >= 1"),
    (["--devices", "-1"], "on CPU give a number of processes"),  # Lightning's traceback, a half-written run
    (["--devices", str(os.cpu_count() + 1)], "on CPU that many processes need as many cores"),
    (["--accelerator", "tpu9"], "unknown accelerator 'tpu9'"),  # Lightning's refusal was a 30-line traceback
    (["--num-nodes", "2"], "start the command on every machine with torchrun"),  # it waited forever
])
def test_bad_strategy_or_devices_is_one_line_exit_2_and_writes_nothing(tiny_npz, tmp_path, capsys, args, message):
    out = tmp_path / "never"
    code = main(["train", "--data", str(tiny_npz), "--accelerator", "cpu", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().count("\n") == 0 and message in err
    assert not out.exists()


def test_multi_run_commands_refuse_several_processes(tmp_path, capsys):
    code = main(["compare", "--dataset", "pneumoniamnist", "--accelerator", "cpu", "--devices", "2",
                 "--vary", "dropout=0,0.5", "--out", str(tmp_path / "c")])
    assert code == 2 and "one `medtrain train` per run" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


# Installed in every process of the 2-process run (through PYTHONPATH): a process other than rank 0 that
# opens a file for writing, creates, renames or removes anything under the test's folder says so on stderr.
AUDIT = '''
import os, sys
WATCH = os.environ["MEDTRAIN_TEST_WATCH"]
EVENTS = ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "shutil.rmtree", "os.symlink", "os.truncate")

def _rank():
    return os.environ.get("LOCAL_RANK", "0")

if _rank() != "0":
    print(f"[audit] rank {_rank()} started", file=sys.stderr, flush=True)


def _peak():  # each process's peak resident memory as it exits (VmHWM, since medtrain last reset it), in KiB
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
    print(f"[audit] rank {_rank()} peak_kib {hwm[0].split()[1] if hwm else -1}", file=sys.stderr, flush=True)

import atexit
atexit.register(_peak)

def _hook(event, args):
    if _rank() == "0" or not (event == "open" or event in EVENTS):
        return
    path = args[0]
    if event == "open":
        mode, flags = args[1], args[2]
        if isinstance(path, int) or path is None:
            return
        if mode is not None and not any(c in str(mode) for c in "wax+"):
            return
        if mode is None and not flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            return
    # a path relative to a directory descriptor (shutil.rmtree, a library's temporary-directory clean-up) is
    # resolved against that directory, not the working directory
    dir_fd = args[2] if event == "os.rename" else args[-1] if event != "open" else None
    base = os.readlink(f"/proc/self/fd/{dir_fd}") if isinstance(dir_fd, int) and dir_fd >= 0 else os.getcwd()
    p = os.path.normpath(os.path.join(base, os.fsdecode(path)))
    if p.startswith(WATCH):
        print(f"[audit] rank {_rank()} wrote: {event} {p}", file=sys.stderr, flush=True)

sys.addaudithook(_hook)
'''


def _audited_env(tmp_path: Path) -> dict:
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(AUDIT)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "MEDTRAIN_TEST_WATCH": str(tmp_path)}


def test_the_audit_reports_what_a_process_of_rank_1_writes_and_nothing_of_rank_0(tmp_path):
    """The check the 2-process test relies on: it would see rank 1 writing the run directory."""
    # the temporary directory (elsewhere, removed through directory descriptors) is not a write of the watched
    # folder, although its file names are relative: a library probing links that way once looked like one
    write = ("import os, pathlib, tempfile; pathlib.Path('run').mkdir(); pathlib.Path('run/config.yaml').write_text('x'); "
             "os.replace('run/config.yaml', 'run/c.yaml'); d = tempfile.TemporaryDirectory(); "
             "pathlib.Path(d.name, 'probe').mkdir(); pathlib.Path(d.name, 'probe', 'f').touch(); d.cleanup()")
    for rank, expect in (("1", True), ("0", False)):
        env = {**_audited_env(tmp_path), "LOCAL_RANK": rank}
        proc = subprocess.run([sys.executable, "-c", write], cwd=tmp_path / "hook", env=env, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        wrote = [line for line in proc.stderr.splitlines() if f"rank {rank} wrote" in line]
        assert bool(wrote) == expect and (len(wrote) == 3 or not expect), proc.stderr  # mkdir, open, replace
        (tmp_path / "hook" / "run" / "c.yaml").unlink()
        (tmp_path / "hook" / "run").rmdir()


def _noisy_npz(path: Path) -> Path:
    """Odd split sizes (the tail of a split does not divide by 2) and flipped validation and test labels,
    so that AUC and ACC change when any sample is scored twice or not at all."""
    arrays = {}
    for split, n, seed in (("train", 90, 0), ("val", 33, 1), ("test", 31, 2)):
        x, y = make_images(n, seed=seed)
        if split != "train":
            y[:4] = 1 - y[:4]
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = x, y
    np.savez(path, **arrays)
    return path


RUN = ["--model", "resnet10_28_half", "--epochs", "2", "--batch-size", "8", "--no-progress", "--bootstrap", "20",
       "--accelerator", "cpu", "--schedule", "onecycle", "--tta", "none", "--lr", "0.01", "--precision", "32-true",
       "--flip", "true"]  # the pilots are single-process only: pinned alike in both runs (test_choices.py)


@pytest.mark.slow
def test_two_process_run_writes_one_complete_run_dir_scored_on_the_complete_splits(tmp_path, capsys):
    if distributed.usable_cores() < 2:
        pytest.skip("two CPU processes need two cores")
    data = _noisy_npz(tmp_path / "noisy.npz")
    env = _audited_env(tmp_path)
    run = tmp_path / "ddp"
    t0, cpu0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "-m", "medtrain", "train", "--data", str(data), *RUN, "--devices", "2",
                           "--out", str(run)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    wall, cpu1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime  # both processes, all their threads
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[audit] rank 1 started" in proc.stderr  # a second process ran, watched
    assert "[audit] rank 1 wrote" not in proc.stderr, [l for l in proc.stderr.splitlines() if "wrote" in l]
    assert "Starting with 2 processes" in proc.stdout + proc.stderr
    files = {str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()}
    assert files == {"config.yaml", "metrics.json", "model.safetensors", "predictions_test.csv", "learning_curve.png",
                     "confusion_matrix.png", "reliability.png", "roc_pr.png", "logs/csv/hparams.yaml",
                     "logs/csv/metrics.csv", "choices.json", "splits.csv", "report.html"}
    # no .lock: the first process held it (rundir.training_lock) and removed it as it let go
    # the checkpoints removed once metrics.json was written, by the first process alone (the audit: rank 1 removed
    # nothing), with nothing else of the run's
    assert not (run / "checkpoints").exists()
    assert proc.stdout.count("test AUC") == 1  # one process evaluated and printed
    m = json.loads((run / "metrics.json").read_text())
    assert m["sizes"] == {"train": 90, "val": 33, "test": 31} and len(m["history"]) == 2
    # the run's memory is both processes': each one's own peak (rank 0's as it wrote metrics.json, rank 1's at the
    # end of its training), and their sum as peak_rss_mb, the figure docs/methods.md tells authors to report; it
    # had been rank 0's alone, half what the job held, with nothing saying there was a second process
    exit_mb = {int(l.split()[2]): int(l.split()[-1]) / 1024 for l in proc.stderr.splitlines() if "peak_kib" in l}
    assert m["processes"] == 2 and set(exit_mb) == {0, 1} and min(exit_mb.values()) > 0, proc.stderr[-2000:]
    each = m["peak_rss_mb_per_process"]
    assert len(each) == 2 and m["peak_rss_mb"] == pytest.approx(sum(each))
    for rank in (0, 1):  # a process's recorded peak is its own: no later than its exit, and most of it
        assert 0.7 * exit_mb[rank] <= each[rank] <= exit_mb[rank] + 0.1, (each, exit_mb)
    assert m["peak_rss_mb"] > 1.3 * max(exit_mb.values())  # more than any one process held
    threads = m["torch_threads_per_process"]
    assert len(threads) == 2 and threads[0] == m["provenance"]["torch_threads"] and min(threads) >= 1
    summary = next(l for l in proc.stdout.splitlines() if " on cpu" in l)
    assert " on cpu, 2 processes, 32-true" in summary, summary
    memory = next(l for l in (run / "report.html").read_text().splitlines() if "peak memory" in l)
    assert "the sum over 2 processes" in memory, memory
    assert f"{sum(each):,.0f} MB resident" in memory and f"{each[1]:,.0f} MB" in memory, memory

    # the test figures are those of one process scoring the saved weights on the whole test split
    assert main(["eval", str(run)]) == 0
    again = json.loads((run / "eval_test.json").read_text())
    assert (again["auc"], again["acc"]) == pytest.approx((m["test"]["auc"], m["test"]["acc"]), abs=1e-9)
    assert len((run / "predictions_test.csv").read_text().splitlines()) == 1 + 31
    # the validation figures that selected the checkpoint were gathered from both processes' shares: they
    # equal one process scoring the selected weights on all 33 validation images (no TTA in either)
    assert main(["eval", str(run), "--split", "val"]) == 0
    val = json.loads((run / "eval_val.json").read_text())
    best = m["history"][m["best_epoch"]]
    assert 0.5 < val["auc"] < 1.0  # the flipped labels make AUC and ACC depend on every single sample
    assert (best["val_auc"], best["val_acc"]) == pytest.approx((val["auc"], val["acc"]), abs=1e-9)

    # the one-cycle schedule ends where a single-process run's does: at the end of its cycle, LR / 25 / 1e4 (a
    # single-process run's end is tests/training/test_techniques_optimisation.py's; training one here as the
    # reference had cost this test a third run)
    assert m["history"][-1]["lr"] == pytest.approx(0.01 / 25 / 1e4, rel=1e-6)
    capsys.readouterr()
    print(f"2-process run: {wall:.1f} s wall, {cpu:.1f} CPU s")
