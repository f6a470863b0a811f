"""Commands that overlap on one run folder: a run finished by another process while this one loaded its data is
neither trained over nor resumed again; a filesystem that cannot lock still trains (with a warning); an
interrupted run, or one being trained, says so and what to do.

The interleavings are forced in one process: the data loading step of the second command runs the first
command to its end (as a user walkthrough did, /tmp/walk_concurrency/race_mixed.py)."""
from __future__ import annotations

import errno
import fcntl
import os
import shutil

import pytest

import medtrain
from medtrain import api, rundir
from conftest import make_npz, run_cli


@pytest.fixture
def data(tmp_path):
    return make_npz(tmp_path / "tiny.npz", sizes=(48, 16, 16))


def _files(run):
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != rundir.LOCK_FILE}


def test_train_refuses_a_folder_another_train_finished_while_it_loaded_its_data(data, tmp_path, capsys,
                                                                                monkeypatch):
    out = tmp_path / "run"
    real, calls = api.load_splits, []

    def load_while_another_finishes(cfg, processes=None):
        calls.append(cfg)
        if len(calls) == 1:  # the other `train --out OUT` of another seed, started later, finishes first
            medtrain.train(dict(data=str(data), out=str(out), epochs=1, model="resnet10_28_half", flip="false",
                                progress=False, seed=1), verbose=False)
        return real(cfg, processes)

    monkeypatch.setattr(api, "load_splits", load_while_another_finishes)
    code, _, err = run_cli(capsys, "train", "--data", data, "--out", out, "--epochs", 1, "--model", "resnet10_28_half",
                           "--flip", "false", "--no-progress")
    finished = _files(out)
    # (the same settings: returned as it is, tests/test_requeue.py)
    assert code == 2 and err.strip().splitlines() == [f"medtrain: error: {out} was run with other settings (seed: 1, "
                                                      f"now 0); use --resume {out} to continue it with its own "
                                                      "settings, or another --out"]
    assert rundir.is_finished(out) and _files(out) == finished  # the finished run is kept whole, not trained over
    assert rundir.read_config(out)["seed"] == 1


def test_a_second_resume_of_a_run_finished_meanwhile_leaves_it_as_finished(interrupted_run, tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(interrupted_run, run)  # stopped after its weights: `train --resume` finishes it
    real, calls, finished = rundir.run_splits, [], {}

    def load_while_another_resumes(run_dir, cfg, processes=None, say=False):
        calls.append(run_dir)
        if len(calls) == 1:  # the other `train --resume RUN` finishes the run while this one loads the data
            medtrain.train({"progress": False}, resume=run, verbose=False)
            finished.update(_files(run))
        return real(run_dir, cfg, processes, say)

    monkeypatch.setattr(rundir, "run_splits", load_while_another_resumes)
    m = medtrain.train({"progress": False}, resume=run, verbose=False)
    assert "metrics.json" in finished and _files(run) == finished  # not resumed again: the first's files are kept
    assert m == rundir.read_metrics(run)


def test_a_filesystem_that_cannot_lock_trains_with_a_one_line_warning(data, tmp_path, capsys, monkeypatch):
    # NFSv3 without its lock daemon: flock fails with ENOLCK; it had been a traceback and an empty folder left
    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--data", data, "--out", out, "--epochs", 1, "--model", "resnet10_28_half",
                           "--flip", "false", "--no-progress", "--bootstrap", 0)
    assert code == 0 and rundir.is_finished(out)
    said = [line for line in err.splitlines() if "cannot lock" in line]
    assert said == [f"medtrain: warning: the filesystem of {out} cannot lock (No locks available); concurrent "
                    "commands into this folder are not guarded"]


def test_a_lock_that_fails_otherwise_is_one_line_and_leaves_no_folder(data, tmp_path, capsys, monkeypatch):
    def broken(fd, op):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(fcntl, "flock", broken)
    out = tmp_path / "new" / "run"
    code, _, err = run_cli(capsys, "train", "--data", data, "--out", out, "--epochs", 1, "--no-progress")
    assert code == 2 and err.strip() == f"medtrain: error: cannot lock {out / '.lock'} (Input/output error)"
    assert not out.exists()


def test_an_interrupted_run_says_it_did_not_finish_and_how_to_finish_it(trained_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained_run[0], run)
    for name in ("model.safetensors", "metrics.json"):  # killed before its weights were written
        (run / name).unlink()
    for argv in (["eval", run], ["predict", run, trained_run[1], "--out", tmp_path / "p.csv"],
                 ["export", run, "--out", tmp_path / "m.onnx"], ["explain", run, "--out", tmp_path / "ex"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and err.strip() == (f"medtrain: error: {run} did not finish (no metrics.json); finish it "
                                             f"with `medtrain train --resume {run}`"), argv


def test_a_run_being_trained_is_named_so_not_sent_to_resume(interrupted_run, data, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(interrupted_run, run)  # as a run being trained is: its checkpoints, no metrics.json
    busy = f"{run} is being trained by another process (pid {os.getpid()}); wait for it to finish, or use another --out"

    def not_loaded(*a, **k):
        raise AssertionError("the data were loaded before refusing")

    monkeypatch.setattr(api, "load_splits", not_loaded)
    monkeypatch.setattr(rundir, "run_splits", not_loaded)
    with rundir.training_lock(run):  # what the other process holds while it trains
        code, _, err = run_cli(capsys, "train", "--data", data, "--out", run, "--no-progress")
        assert code == 2 and err.strip() == f"medtrain: error: {busy}"  # not "use --resume", which is refused
        code, _, err = run_cli(capsys, "train", "--resume", run, "--no-progress")  # refused at once
        assert code == 2 and err.strip() == f"medtrain: error: {busy}"
        code, _, err = run_cli(capsys, "eval", run)
        assert code == 2 and err.strip() == f"medtrain: error: {run} is still being trained (pid {os.getpid()}); " \
                                            "wait for it to finish"


def test_asking_whether_a_run_is_being_trained_does_not_refuse_the_trainer(tmp_path, monkeypatch):
    # lock_holder asks by taking the lock for an instant; a trainer starting in that instant still gets it
    real, tries = fcntl.flock, []

    def held_by_a_probe_at_first(fd, op):
        tries.append(op)
        if len(tries) == 1:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        return real(fd, op)

    monkeypatch.setattr(fcntl, "flock", held_by_a_probe_at_first)
    with rundir.training_lock(tmp_path):
        assert len(tries) == 2 and (tmp_path / rundir.LOCK_FILE).read_text() == str(os.getpid())
        monkeypatch.setattr(fcntl, "flock", real)
        assert rundir.lock_holder(tmp_path) == str(os.getpid())  # held, and by whom
    assert rundir.lock_holder(tmp_path) is None  # released


def test_a_run_folder_is_left_without_its_lock_and_a_process_holding_the_removed_file_does_not_take_the_run(
        tmp_path, monkeypatch):
    with rundir.training_lock(tmp_path):
        stale = os.open(tmp_path / rundir.LOCK_FILE, os.O_RDWR)  # another process opened it as this one finished
    # the holder removed it as it let go: a finished (or interrupted) run folder holds no .lock (it had stayed)
    assert not (tmp_path / rundir.LOCK_FILE).exists() and rundir.lock_holder(tmp_path) is None
    real_open, opened = os.open, []

    def the_removed_file_first(path, flags, mode=0o777, **kw):
        opened.append(path)
        return stale if len(opened) == 1 else real_open(path, flags, mode, **kw)

    with rundir.training_lock(tmp_path):  # a third process started meanwhile: it holds the new .lock
        monkeypatch.setattr(os, "open", the_removed_file_first)
        # the late one takes the lock of the file it opened, sees that file is gone, and meets the new holder
        with pytest.raises(medtrain.MedtrainError, match=f"being trained by another process \\(pid {os.getpid()}\\)"):
            with rundir.training_lock(tmp_path):
                pass
        monkeypatch.setattr(os, "open", real_open)
        assert len(opened) == 2 and rundir.lock_holder(tmp_path) == str(os.getpid())
    assert not (tmp_path / rundir.LOCK_FILE).exists()
