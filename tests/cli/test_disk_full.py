"""A full disk, a quota, ``ulimit -f``, /dev/full: one line ``medtrain: error: cannot write X: <reason>``, exit 2,
nothing half-written. A user walkthrough on a full tmpfs had found tracebacks with exit 1 from predict, export,
explain, eval and train (safetensors' own error at model.safetensors), and ``medtrain --version > /dev/full``
exiting 0 (the failed flush at exit is silent).

The refusals here are real where that needs no root: /dev/full (ENOSPC) and a file-size limit (EFBIG, as
``ulimit -f``; Python ignores SIGXFSZ)."""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
from pathlib import Path

import pytest

from medtrain.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import fast_config, file_size_limit, make_npz, run_cli  # noqa: E402

FULL = "No space left on device"


@pytest.fixture
def dev_full():
    """/dev/full opened for writing, as ``> /dev/full`` gives standard output: every write or flush fails with
    ENOSPC. (Set as sys.stdout in the test itself: pytest's capture replaces sys.stdout after fixtures.)"""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    full = open("/dev/full", "w")
    yield full
    with contextlib.suppress(OSError):
        full.close()


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("medtrain: error: "), err
    return lines[0]


@pytest.mark.parametrize("argv", [["models"], ["--version"], ["--help"], ["train", "--help"]])
def test_standard_output_on_a_full_device_is_one_line_and_exit_2(capsys, monkeypatch, dev_full, argv):
    """`medtrain models > /dev/full` was a traceback; `--version`/`--help` exited 0 with nothing written (argparse
    drops the write's OSError and the flush at exit fails silently)."""
    monkeypatch.setattr(sys, "stdout", dev_full)
    assert main(argv) == 2
    assert one_error_line(capsys.readouterr().err) == f"medtrain: error: cannot write to standard output: {FULL}"


def test_a_standard_output_that_fails_without_a_descriptor_is_one_line_too(capsys, monkeypatch):
    class Full:
        def write(self, text):
            raise OSError(errno.ENOSPC, FULL)

        def flush(self):
            raise OSError(errno.ENOSPC, FULL)

    monkeypatch.setattr(sys, "stdout", Full())
    assert main(["models"]) == 2
    assert one_error_line(capsys.readouterr().err).endswith(f": {FULL}")


def test_errors_that_are_not_the_storage_keep_their_traceback(monkeypatch):
    """Only the storage's refusals become a line: a bug's OSError or a MemoryError is not hidden."""
    import medtrain.cli.models as models

    for error in (FileNotFoundError(errno.ENOENT, "No such file or directory", "x"), MemoryError()):
        def fail(args, error=error):
            raise error
        monkeypatch.setattr(models, "run", fail)
        with pytest.raises(type(error)):
            main(["models"])


def _files(folder) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", ["pred.csv", "pred.json"])
def test_predict_into_a_full_file_system_is_one_line_and_keeps_the_old_file(capsys, trained_run, tmp_path, name):
    run, data, _ = trained_run
    out = tmp_path / name
    out.write_text("the earlier predictions\n")
    with file_size_limit(1024):
        code, _, err = run_cli(capsys, "predict", run, data, *(["--json"] if name.endswith(".json") else []),
                               "--out", out)
    assert code == 2 and one_error_line(err) == f"medtrain: error: cannot write {out}: File too large"
    assert _files(tmp_path) == {name: b"the earlier predictions\n"}


def test_predict_to_dev_full_is_one_line(capsys, trained_run):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    run, data, _ = trained_run
    code, _, err = run_cli(capsys, "predict", run, data, "--out", "/dev/full")
    assert code == 2 and one_error_line(err) == f"medtrain: error: cannot write /dev/full: {FULL}"


def test_explain_into_a_full_file_system_names_the_folder_and_leaves_nothing(capsys, trained_run, tmp_path):
    run, data, _ = trained_run
    out = tmp_path / "cam"
    with file_size_limit(2048):
        code, _, err = run_cli(capsys, "explain", run, data, "--limit", "2", "--out", out)
    assert code == 2 and one_error_line(err) == f"medtrain: error: cannot write {out}: File too large"
    assert list(tmp_path.iterdir()) == []


def test_eval_in_a_full_run_folder_is_one_line_and_changes_no_file(capsys, trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run[0], run)  # the shared run is only read
    before = _files(run)
    with file_size_limit(256):
        code, _, err = run_cli(capsys, "eval", run)
    assert code == 2 and one_error_line(err) == (f"medtrain: error: cannot write {run}/eval_test.json (File too large); "
                                                 "the evaluation printed above is complete: only this file of it is "
                                                 "missing")
    assert _files(run) == before


def test_train_failing_at_its_weights_says_resume_continues_and_it_does(capsys, tmp_path, monkeypatch):
    """safetensors raises its own SafetensorError, not OSError: the failed model.safetensors had been a Rust
    error's traceback. It is one line, and the way on it names works once the disk has room."""
    import medtrain.models.weights as weights

    data, run = make_npz(tmp_path / "tiny.npz"), tmp_path / "run"
    real = weights.save_file

    def save_file_on_a_full_disk(*args, **kwargs):
        with file_size_limit(4096):  # the checkpoints are written; the weights are not
            return real(*args, **kwargs)

    monkeypatch.setattr(weights, "save_file", save_file_on_a_full_disk)
    cfg = fast_config(data, run, epochs=1, bootstrap=0)
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in cfg.items() if k not in ("progress", "out")]
    code, _, err = run_cli(capsys, "train", *flags, "--no-progress", "--out", run)
    assert code == 2
    assert one_error_line(err) == (f"medtrain: error: cannot write {run}/model.safetensors: File too large; "
                                   f"`medtrain train --resume {run}` continues the run once it can be written")
    assert not (run / "model.safetensors").exists() and not list(run.glob(".*.tmp"))

    monkeypatch.setattr(weights, "save_file", real)  # space again
    code, _, err = run_cli(capsys, "train", "--resume", run)
    assert code == 0, err
    assert (run / "model.safetensors").is_file() and (run / "metrics.json").is_file()


def test_a_store_that_does_not_fit_says_its_sizes_in_units_that_show_them(tmp_path, monkeypatch):
    """`needs 0.0 GB in .../store, only 0.0 GB are free` for a small store: the sizes are in the unit that fits."""
    from medtrain.data import store
    from medtrain.errors import MedtrainError

    monkeypatch.setattr(store.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 20_000))
    with pytest.raises(MedtrainError, match=r"needs 3\.20MB in .*, only 20\.0kB are free"):
        with store.writing(tmp_path / "store" / "x-1", "x.npz", "1", needed_bytes=3_200_000):
            pass
    monkeypatch.setattr(store.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**12, 10**12, 2 * 10**9))
    with pytest.raises(MedtrainError, match=r"needs 16\.0GB in .*, only 2\.00GB are free"):
        with store.writing(tmp_path / "store" / "x-1", "x.npz", "1", needed_bytes=16 * 10**9):
            pass
