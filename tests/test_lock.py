"""medtrain._lock: a lock another process holds is reported held, and is free again once that process ends,
however it ends (the run lock, an explanation's folder and a download in progress all rely on it)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from medtrain import _lock
from medtrain._lock import lock, try_lock

pytestmark = pytest.mark.skipif(not _lock.LOCKS, reason="no advisory locks on this platform")

HOLD = "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); " \
       "print('held', flush=True); sys.stdin.read()"


@pytest.fixture
def held(tmp_path):
    """A file that another process holds locked until it is killed."""
    path = tmp_path / "f"
    path.write_text("")
    other = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    assert other.stdout.readline().strip() == "held"
    fd = os.open(path, os.O_RDONLY)
    yield fd, other
    os.close(fd)
    if other.poll() is None:
        other.kill()
    other.wait()


def test_a_lock_held_by_another_process_is_not_taken_until_that_process_ends(held):
    fd, other = held
    assert try_lock(fd) is False and try_lock(fd, shared=True) is False  # held: neither is taken
    other.send_signal(signal.SIGKILL)  # killed: no clean-up of its own runs
    other.wait()
    assert try_lock(fd) is True  # the system released it


def test_lock_waits_for_the_other_process_to_end(held):
    fd, other = held
    threading.Timer(0.3, other.kill).start()
    t0 = time.monotonic()
    lock(fd)
    assert time.monotonic() - t0 >= 0.25  # not before the other was killed
    assert other.wait(timeout=10) == -signal.SIGKILL
    assert try_lock(fd) is True  # now ours (a second lock of our own descriptor is no conflict)


def test_shared_locks_do_not_exclude_each_other_but_exclude_an_exclusive_one(tmp_path):
    path = tmp_path / "f"
    path.write_text("")
    a, b = os.open(path, os.O_RDONLY), os.open(path, os.O_RDONLY)  # two open files: as two processes' would be
    try:
        assert try_lock(a, shared=True) and try_lock(b, shared=True)
        assert try_lock(b) is False  # b's upgrade waits on a's shared lock
    finally:
        os.close(a)
        os.close(b)


def test_where_locks_do_not_exist_everything_is_taken_at_once(held, monkeypatch):
    fd, _ = held
    monkeypatch.setattr(_lock, "fcntl", None)  # Windows
    assert try_lock(fd) is True and try_lock(fd, shared=True) is True
    lock(fd)  # returns at once: nothing to wait for


def test_a_filesystem_that_cannot_lock_is_the_callers_to_judge(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with open(tmp_path / "f", "w") as f, pytest.raises(OSError, match="No locks available"):
        try_lock(f.fileno())
