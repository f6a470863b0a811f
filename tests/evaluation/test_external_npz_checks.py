"""``medtrain eval RUN --data X.npz`` reads the .npz through the one reader train and predict use, and checks its
labels as train checks them: a text file or Git LFS pointer named .npz, a truncated, empty or zero-size one, object
arrays, NaN or fractional labels, and a label matrix on a single-label run are each one error line, exit 2, with
nothing written into the run. A plain np.load had been a traceback (exit 1), and 0.5/1.5 labels cut by int() or
the first column of (N, 3) labels had been scored (exit 0)."""
from __future__ import annotations

import io

import numpy as np
import pytest

from conftest import make_images, run_cli


def _npz(path, labels, n=16, **kw):
    images, _ = make_images(n, seed=7)
    np.savez(path, test_images=images, test_labels=labels, **kw)


def _valid_bytes() -> bytes:
    buf = io.BytesIO()
    images, labels = make_images(16, seed=7)
    np.savez(buf, test_images=images, test_labels=labels)
    return buf.getvalue()


def _write(kind: str, path):
    if kind == "text":
        path.write_text("path,label\na.png,0\n")
    elif kind == "lfs":
        path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 12345\n")
    elif kind == "truncated":
        path.write_bytes(_valid_bytes()[:300])
    elif kind == "zero_size":
        path.write_bytes(b"")
    elif kind == "empty_archive":
        np.savez(path)
    elif kind == "object_labels":
        np.savez(path, test_images=make_images(2, seed=7)[0], test_labels=np.array([0, "x"], dtype=object))
    elif kind == "nan_labels":
        _npz(path, np.array([0.0, 1.0, np.nan] + [0.0] * 13))
    elif kind == "fractional_labels":
        _npz(path, np.array([0.5, 1.5] * 8))
    elif kind == "three_columns":
        _npz(path, np.zeros((16, 3), dtype=np.uint8))
    return path


KINDS = ("text", "lfs", "truncated", "zero_size", "empty_archive", "object_labels", "nan_labels",
         "fractional_labels", "three_columns")


def _files(run):
    return sorted((p.relative_to(run), p.stat().st_mtime_ns) for p in run.rglob("*"))


@pytest.mark.parametrize("kind", KINDS)
def test_a_bad_npz_is_one_line_exit_2_and_writes_nothing(trained_run, tmp_path, capsys, kind):
    run, _, _ = trained_run
    data = _write(kind, tmp_path / f"{kind}.npz")
    before = _files(run)
    code, _, err = run_cli(capsys, "eval", run, "--data", data)
    assert code == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(data) in lines[0], err
    assert _files(run) == before  # no eval_external_*.json nor predictions_external_*.csv


def test_the_messages_say_what_is_wrong(trained_run, tmp_path, capsys):
    run, _, _ = trained_run
    said = {}
    for kind in ("fractional_labels", "three_columns", "lfs", "text"):
        _, _, said[kind] = run_cli(capsys, "eval", run, "--data", _write(kind, tmp_path / f"{kind}.npz"))
    assert "whole numbers" in said["fractional_labels"]
    assert "(16, 3)" in said["three_columns"] and "single-label" in said["three_columns"]
    assert "Git LFS pointer" in said["lfs"] and "git lfs pull" in said["lfs"]
    assert "is not a .npz (zip) file" in said["text"] and "pickled" not in said["text"]
