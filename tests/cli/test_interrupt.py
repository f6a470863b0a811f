"""Ctrl-C and SIGTERM on the command line: one line, exit status 130, no temporary file left, and the way on."""
import os
import signal
import sys
from pathlib import Path

import pytest

from medtrain import _io, api
from medtrain.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import InterruptAt, make_npz  # noqa: E402


def _interrupt_training(monkeypatch, epoch):
    real = api.fit

    def fit(*a, callbacks=None, **k):
        return real(*a, callbacks=[*(callbacks or []), InterruptAt(epoch)], **k)

    monkeypatch.setattr(api, "fit", fit)


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("epoch, done", [(1, "after epoch 1"), (0, "before its first epoch ended")])
def test_ctrl_c_in_train_is_exit_130_and_says_how_to_resume(tmp_path, capsys, monkeypatch, epoch, done):
    # it had been "medtrain: error: ...", exit 2, as for bad input, and "after epoch 0" when no epoch had ended
    _interrupt_training(monkeypatch, epoch)
    data = make_npz(tmp_path / "d.npz", sizes=(32, 16, 16))  # two batches of 16 an epoch
    code, _, err = _run(capsys, "train", "--data", str(data), "--epochs", "3", "--no-progress", "--bootstrap", "0",
                        "--flip", "false", "--batch-size", "16", "--model", "resnet10_28_half",
                        "--out", str(tmp_path / "r"))
    assert code == 130 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"medtrain: interrupted {done}; continue with `medtrain train --resume {tmp_path / 'r'}`")


def test_ctrl_c_in_compare_says_to_run_the_same_command_again(tmp_path, capsys, monkeypatch):
    # the hint had been `medtrain train --resume CELL`, which finishes one cell and not the comparison
    _interrupt_training(monkeypatch, 1)
    data = make_npz(tmp_path / "d.npz", sizes=(32, 16, 16))  # two batches of 16 an epoch
    code, _, err = _run(capsys, "compare", "--data", str(data), "--epochs", "3", "--no-progress", "--bootstrap", "0",
                        "--flip", "false", "--batch-size", "16", "--model", "resnet10_28_half",
                        "--vary", "dropout=0,0.3", "--out", str(tmp_path / "c"))
    assert code == 130 and "run the same command again to continue" in err.strip().splitlines()[-1]
    assert "train --resume" not in err


def test_sigterm_cleans_up_the_file_being_written_and_exits_130(tmp_path, capsys, monkeypatch):
    # SIGTERM (kill, timeout, docker stop) had ended the process at once: no message, temporary files left
    target = tmp_path / "out.csv"

    def run(args):
        with _io.atomic_path(target) as tmp:
            tmp.write_text("half a file")
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0.1) if hasattr(signal, "sigtimedwait") else None
            tmp.write_text("the whole file")  # not reached: the handler raised
        return 0

    import medtrain.cli.eval as eval_cli
    monkeypatch.setattr(eval_cli, "run", run)
    before = signal.getsignal(signal.SIGTERM)
    code, _, err = _run(capsys, "eval", str(tmp_path))
    assert code == 130 and err.strip() == "medtrain: interrupted"
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary twin
    assert signal.getsignal(signal.SIGTERM) is before  # the caller's handler is back


def test_output_piped_into_a_reader_that_stops_is_not_a_traceback(tmp_path):
    # `medtrain models | head`: a BrokenPipeError traceback had followed the lines head printed
    import subprocess

    # `medtrain cache` of an empty cache folder: lines on standard output as `models` prints them, through the same
    # closing flush of the command line, without the model zoo's imports (`models`: ~6 CPU s, `cache`: ~0.3)
    env = {**os.environ, "MEDTRAIN_DATA": str(tmp_path / "cache")}
    p = subprocess.Popen([sys.executable, "-m", "medtrain", "cache"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env)
    p.stdout.close()  # the reader is gone before the first line
    err = p.stderr.read().decode()
    assert p.wait() == 141 and err == ""


_SIGTERM_MID_EPOCH = """
import os, signal, sys
import lightning.pytorch as pl
from medtrain import api
from medtrain.cli import main

class SigtermAt(pl.Callback):  # a scheduler's time limit in the middle of the second epoch
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == 1 and batch_idx == 1:
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0.1)

real = api.fit
api.fit = lambda *a, callbacks=None, **k: real(*a, callbacks=[*(callbacks or []), SigtermAt()], **k)
sys.exit(main(["train", "--data", sys.argv[1], "--epochs", "3", "--no-progress", "--bootstrap", "0", "--flip", "false",
               "--batch-size", "16", "--model", "resnet10_28_half", "--out", sys.argv[2]]))
"""


def test_sigterm_in_training_is_one_line_without_lightnings_own(tmp_path):
    # a SIGTERM mid-epoch had printed Lightning's "[rank: 0] Received SIGTERM: 15", a blank line and "Detected
    # KeyboardInterrupt, attempting graceful shutdown ..." before medtrain's one line (Lightning's own stream
    # handler, on the process's stderr: a subprocess, as a scheduler sees it)
    import subprocess

    data = make_npz(tmp_path / "d.npz", sizes=(32, 16, 16))  # two batches of 16 an epoch
    # one intra-op thread: tiny tensors gain nothing from more, and on a shared CPU two spin (16.8 CPU s had gone
    # into this process, 6 of them the imports)
    p = subprocess.run([sys.executable, "-c", _SIGTERM_MID_EPOCH, str(data), str(tmp_path / "r")],
                       capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == 130, p.stderr
    assert p.stderr.splitlines() == [f"medtrain: interrupted after epoch 1; continue with `medtrain train --resume "
                                     f"{tmp_path / 'r'}`"]
