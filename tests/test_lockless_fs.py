"""A filesystem that cannot lock (NFSv3 without its lock daemon: ``flock`` fails with ENOLCK; some FUSE mounts:
EOPNOTSUPP) still explains, downloads and trains, each with one warning line, as training already did. A user
walkthrough (/tmp/walk_static) had found an ``OSError: [Errno 37]`` traceback from ``medtrain explain``, every
MedMNIST download into such a cache failing before the network was asked, and a ``TypeError`` at the end of a
finished training when ``.lock`` itself could not be opened.

The filesystem is stood in for by replacing :func:`fcntl.flock` (or the opening of ``.lock``), as the walkthrough
did."""
from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import time
import warnings

import numpy as np
import pytest

import medtrain.reports._plots_saliency as plots_saliency
import medtrain.runlock as runlock
from medtrain import _lock
from medtrain.data import medmnist as mm
from medtrain.errors import MedtrainError
from medtrain.explain import MAPS_FILE
from medtrain.explain.write import INDEX_FILE, write_explanation
from conftest import blank_explanation, run_cli

pytestmark = pytest.mark.skipif(not _lock.LOCKS, reason="no advisory locks on this platform")


def _fails_with(code: int, reason: str):
    def flock(fd, op):
        raise OSError(code, reason)
    return flock


@pytest.fixture
def no_locks(monkeypatch):
    """Every flock fails as on NFSv3 without its lock daemon."""
    monkeypatch.setattr(fcntl, "flock", _fails_with(errno.ENOLCK, "No locks available"))


@pytest.fixture
def drawn(monkeypatch):
    """Overlays drawn by a stand-in: the plotting is not what is tested."""
    monkeypatch.setattr(plots_saliency, "saliency_overlay", lambda image, saliency, path, title, ras=False:
                        open(path, "wb").write(b"png"))


def test_cannot_lock_tells_a_filesystem_without_locks_from_other_errors():
    for code in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS):
        assert _lock.cannot_lock(OSError(code, os.strerror(code)))
    assert not _lock.cannot_lock(OSError(errno.EIO, "Input/output error"))
    assert not _lock.cannot_lock(BlockingIOError(errno.EWOULDBLOCK, "held"))  # held by another process
    assert not _lock.cannot_lock(ValueError("not an OSError"))


# explain


def test_an_explanation_is_written_unguarded_with_a_warning(no_locks, drawn, tmp_path):
    out = tmp_path / "cam"
    with pytest.warns(_lock.UnguardedWarning, match=f"the filesystem of {out} cannot lock \\(No locks available\\)"):
        write_explanation(blank_explanation(["a.png", "b.png"]), out)
    assert sorted(p.name for p in out.iterdir()) == sorted(["0000_a.png", "0001_b.png", MAPS_FILE, INDEX_FILE])


def test_explain_on_a_filesystem_that_cannot_lock_warns_in_one_line(no_locks, capsys, trained_run, tmp_path):
    run, data, _ = trained_run
    out = tmp_path / "cam"
    code, _, err = run_cli(capsys, "explain", run, data, "--limit", "2", "--out", out)
    assert code == 0 and (out / MAPS_FILE).is_file()
    assert "Traceback" not in err and "Errno" not in err
    said = [line for line in err.splitlines() if "cannot lock" in line]
    assert said == [f"medtrain: warning: the filesystem of {out} cannot lock (No locks available); explanations "
                    "written into this folder at the same time are not guarded"]


def test_an_explanations_lock_failing_otherwise_is_one_error_and_leaves_no_folder(drawn, tmp_path, monkeypatch):
    monkeypatch.setattr(fcntl, "flock", _fails_with(errno.EIO, "Input/output error"))
    out = tmp_path / "new"
    with pytest.raises(MedtrainError, match=f"^cannot lock {out} \\(Input/output error\\)$"):
        write_explanation(blank_explanation(["a.png"]), out)
    assert not out.exists()


# download


def test_a_medmnist_download_into_a_cache_that_cannot_lock_is_made_with_a_warning(no_locks, tmp_path, monkeypatch):
    official = tmp_path / "official.npz"
    official.write_bytes(np.random.default_rng(0).bytes(4096))
    md5 = hashlib.md5(official.read_bytes()).hexdigest()
    monkeypatch.setattr(mm, "_url_md5", lambda name, size: (official.as_uri(), md5))  # the network: a local copy
    cache = tmp_path / "cache"
    cache.mkdir()
    with pytest.warns(_lock.UnguardedWarning, match=f"the filesystem of {cache} cannot lock"):
        path = mm.fetch("breastmnist", 28, cache)
    assert path == cache / "breastmnist.npz" and path.read_bytes() == official.read_bytes()
    assert [p.name for p in cache.iterdir()] == ["breastmnist.npz"]  # no partial file left


def test_a_killed_downloads_partial_file_where_locks_fail_is_removed_by_its_age_alone(no_locks, tmp_path):
    old, live = tmp_path / ".breastmnist.npz.abc123.tmp", tmp_path / ".dermamnist.npz.def456.tmp"
    old.write_bytes(b"part")
    live.write_bytes(b"part")
    now = time.time()
    os.utime(old, (now - mm.ABANDONED_S - 60,) * 2)  # unwritten for over the store's hour: a killed download's
    os.utime(live, (now - 120,) * 2)  # written two minutes ago: maybe a live download, unlocked as this one is
    mm._drop_abandoned_downloads(tmp_path, now)
    assert not old.exists() and live.exists()


# training's lock


def _lock_file_unsupported(monkeypatch):
    real = os.open

    def fake(path, *a, **k):
        if str(path).endswith(runlock.LOCK_FILE):
            raise OSError(errno.EOPNOTSUPP, "Operation not supported", str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(runlock.os, "open", fake)


def test_a_lock_file_that_cannot_be_opened_trains_unguarded_and_ends_cleanly(tmp_path, monkeypatch):
    _lock_file_unsupported(monkeypatch)
    ran = []
    with pytest.warns(runlock.UnguardedRunWarning, match=f"the filesystem of {tmp_path} cannot lock "
                                                         "\\(Operation not supported\\)"):
        with runlock.training_lock(tmp_path):
            ran.append(True)
    assert ran == [True]  # and no TypeError at its end (os.close(None)), which had made a finished run exit 1


def test_an_error_while_training_unguarded_is_that_error(tmp_path, monkeypatch):
    _lock_file_unsupported(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", runlock.UnguardedRunWarning)
        with pytest.raises(RuntimeError, match="the real error"):  # not replaced by a TypeError
            with runlock.training_lock(tmp_path):
                raise RuntimeError("the real error")
