"""A run folder that cannot be written (an archive, a colleague's): ``eval`` and ``export`` name the file they could
not write and what is still had; ``medtrain: error: cannot write in RUN (Permission denied)``, after eval's
printed numbers, had named neither (found in a user walkthrough)."""
from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

from medtrain.cli import main


@contextlib.contextmanager
def read_only(folder: Path, monkeypatch):
    """``folder`` made read-only; root writes through the mode bits, so for root the temporary files medtrain's
    writers create in it are refused as the file system refuses them (EACCES)."""
    mode = folder.stat().st_mode
    os.chmod(folder, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    if os.geteuid() == 0:
        def refusing(real):
            def make(*a, dir=None, **k):
                if dir is not None and Path(dir).resolve() == folder.resolve():
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))
                return real(*a, dir=dir, **k)
            return make

        for name in ("mkstemp", "mkdtemp", "TemporaryFile", "NamedTemporaryFile"):
            monkeypatch.setattr(tempfile, name, refusing(getattr(tempfile, name)))
    try:
        yield
    finally:
        monkeypatch.undo()
        os.chmod(folder, mode)


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_eval_of_a_read_only_run_names_the_file_and_says_the_printed_numbers_are_the_evaluation(
        trained_run, capsys, monkeypatch):
    run = trained_run[0]
    with read_only(run, monkeypatch):
        code, out, err = _run(capsys, "eval", str(run))
    assert f"{run} on test: " in out  # the evaluation itself, printed
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"medtrain: error: cannot write {run / 'eval_test.json'} (Permission denied)")
    assert "the evaluation printed above is complete" in err
    assert not (run / "eval_test.json").exists()


def test_export_of_a_read_only_run_without_out_names_out_as_the_way_on(trained_run, capsys, monkeypatch):
    run = trained_run[0]
    with read_only(run, monkeypatch):
        code, out, err = _run(capsys, "export", str(run), "--format", "torchscript")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert str(run / "model.pt") in err and "Permission denied" in err
    assert "give --out FILE" in err
    assert not (run / "model.pt").exists()


def test_eval_data_on_a_read_only_run_prints_its_scores_before_failing_to_write(trained_run, capsys, monkeypatch,
                                                                                tmp_path):
    """eval --data had written its per-image CSV first and so printed nothing on a read-only run."""
    import numpy as np

    run, data, _ = trained_run
    external = tmp_path / "external.npz"
    with np.load(data) as z:
        np.savez(external, **{k: z[k] for k in z.files})
    with read_only(run, monkeypatch):
        code, out, err = _run(capsys, "eval", str(run), "--data", str(external))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{run} on {external} (40 inputs): " in out, out
    assert "the evaluation printed above is complete" in err
