"""`medtrain cache clear` where a store cannot be removed (a read-only store, a lock file that cannot be made): the dry
run foresees what the clear will keep, so the space it says it would free is what the clear frees (it had said
"would free 53.2 kB" of a read-only store where the clear freed 20.5 kB); ``clear --json`` that removes nothing
still prints its JSON, what it kept and why, and exits 2 (it had printed the stderr line alone); and a leftover it
could not remove either is named in that line (it had gone unsaid)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from medtrain._io import cache
from medtrain.cli import main


@pytest.fixture
def root(cache_root):
    r = cache_root
    for sub in ("store/ds-aaaa", "volumes", "store/.ds-old.del8082d.tmp"):
        (r / sub).mkdir(parents=True)
    for f in ("store/ds-aaaa/f", "volumes/k1.npz", "store/.ds-old.del8082d.tmp/f"):
        (r / f).write_bytes(os.urandom(5000))
    return r


def _lock_unmakeable(root):
    """A folder holds the store's lock name: its O_CREAT fails (EISDIR), also as root."""
    (root / "store" / ".ds-aaaa.lock").mkdir()


def _paths(entries) -> list:
    return sorted(str(e[0].path if isinstance(e, tuple) else e.path) for e in entries)


def test_the_dry_run_keeps_a_store_whose_lock_cannot_be_made_and_frees_what_the_clear_frees(root):
    _lock_unmakeable(root)
    dry = cache.clear(["all"], dry_run=True)
    assert _paths(dry.failed) == [str(root / "store" / "ds-aaaa")]
    assert "cannot take its lock .ds-aaaa.lock: Is a directory" in dry.failed[0][1]
    done = cache.clear(["all"])
    assert _paths(dry.removed) == _paths(done.removed) and _paths(dry.failed) == _paths(done.failed)
    assert dry.freed == done.freed > 0 and (root / "store" / "ds-aaaa" / "f").is_file()


def test_the_dry_run_output_names_the_store_it_would_keep(root, capsys):
    _lock_unmakeable(root)
    assert main(["cache", "clear", "all", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would remove store/ds-aaaa" not in out, out
    assert "cannot remove store/ds-aaaa" in out and "would keep it: cannot take its lock .ds-aaaa.lock" in out, out
    assert "would remove stores: 0 (1 cannot be removed), volumes: 1" in out, out
    dry_free = out.strip().splitlines()[-1].split("would free ")[1]
    assert main(["cache", "clear", "all"]) == 0
    assert f"freed {dry_free}" in capsys.readouterr().out


def test_clear_json_that_removes_nothing_still_prints_its_json_and_exits_2(root, capsys):
    _lock_unmakeable(root)
    assert main(["cache", "clear", "stores", "--json"]) == 2
    captured = capsys.readouterr()
    said = json.loads(captured.out)
    assert said["removed"] == [] and said["freed_bytes"] == said["leftovers_bytes"] > 0  # only the leftover went
    [kept] = said["not_removed"]
    assert kept["path"] == str(root / "store" / "ds-aaaa") and "Is a directory" in kept["why"]
    assert "nothing of stores could be removed" in said["error"]
    assert captured.err.count("\n") == 1 and captured.err.startswith("medtrain: error: ")


def test_a_leftover_kept_too_is_named_in_the_one_line(root, monkeypatch, capsys):
    _lock_unmakeable(root)
    rmtree = shutil.rmtree

    def refused(path, *a, **k):  # as root chmod refuses nothing: the deletion is made to fail
        if "ds-old" in str(path):
            raise PermissionError(13, "Permission denied", os.path.join(path, "f"))
        return rmtree(path, *a, **k)

    monkeypatch.setattr(shutil, "rmtree", refused)
    assert main(["cache", "clear", "stores"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing of stores could be removed" in err, err
    assert str(root / "store" / ".ds-old.del8082d.tmp") in err and "Permission denied" in err, err
    assert main(["cache", "clear", "stores", "--json"]) == 2
    said = json.loads(capsys.readouterr().out)
    assert sorted(x["path"] for x in said["not_removed"]) == [str(root / "store" / ".ds-old.del8082d.tmp"),
                                                              str(root / "store" / "ds-aaaa")]


@pytest.fixture
def read_only_store(root):
    """``store/`` bind-mounted read-only onto itself, as the walk had it (root with mount rights only)."""
    store = str(root / "store")
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only bind mount needs root and mount")
    if subprocess.run(["mount", "--bind", store, store], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here")
    try:
        if subprocess.run(["mount", "-o", "remount,ro,bind", store], capture_output=True).returncode != 0:
            pytest.skip("cannot remount read-only here")
        yield root
    finally:
        subprocess.run(["umount", store], capture_output=True)


def test_a_read_only_store_is_foreseen_by_the_dry_run(read_only_store, capsys):
    root = read_only_store
    dry = cache.clear(["all"], dry_run=True)
    assert _paths(dry.failed) == [str(root / "store" / ".ds-old.del8082d.tmp"), str(root / "store" / "ds-aaaa")]
    assert all("Read-only file system" in why for _, why in dry.failed) and dry.swept == []
    done = cache.clear(["all"])
    assert _paths(dry.failed) == _paths(done.failed) and dry.freed == done.freed > 0
    assert main(["cache", "clear", "stores", "--json"]) == 2
    said = json.loads(capsys.readouterr().out)
    assert len(said["not_removed"]) == 2 and said["freed_bytes"] == 0
