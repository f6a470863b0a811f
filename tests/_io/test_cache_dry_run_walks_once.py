"""`medtrain cache clear --dry-run` reads each folder of an entry once: the folders its size walk found are those it
asks the clear's questions of (it had walked each entry a second time for them: 25,020 file-system calls more for
5,000 files, each in a folder of its own). A link inside an entry is not followed by that walk, nor by the clear,
so a link to a read-only folder does not make the dry run keep an entry that the clear removes; a read-only folder
inside an entry is named as the clear names it."""
from __future__ import annotations

import collections
import os
import shutil
import subprocess

import pytest

from medtrain._io import cache
from medtrain.cli import main


@pytest.fixture
def root(cache_root):
    for sub in ("store/ds-aaaa/a/deep", "store/ds-aaaa/b", "store/ds-bbbb", "volumes"):
        (cache_root / sub).mkdir(parents=True)
    for f in ("store/ds-aaaa/a/deep/f", "store/ds-aaaa/b/g", "store/ds-bbbb/h", "volumes/k1.npz"):
        (cache_root / f).write_bytes(os.urandom(5000))
    return cache_root


def test_the_dry_run_reads_each_folder_once_and_says_what_the_clear_does(root, monkeypatch, capsys):
    scanned: collections.Counter = collections.Counter()
    scandir = os.scandir

    def counted(path=".", *a):
        scanned[os.fspath(path)] += 1
        return scandir(path, *a)

    with monkeypatch.context() as m:
        m.setattr(os, "scandir", counted)
        assert main(["cache", "clear", "all", "--dry-run"]) == 0
    inside = {k: n for k, n in scanned.items() if "ds-" in k}
    assert len(inside) == 5 and set(inside.values()) == {1}, inside
    dry = capsys.readouterr().out
    assert "would remove store/ds-aaaa (" in dry and "would remove stores: 2, volumes: 1;" in dry, dry
    assert main(["cache", "clear", "all"]) == 0
    assert dry.splitlines()[-1].split("would free ")[1] == capsys.readouterr().out.splitlines()[-1].split("freed ")[1]
    assert sorted(os.listdir(root / "store")) == []


@pytest.fixture
def read_only(tmp_path):
    """A folder outside the cache, bind-mounted read-only onto itself (root with mount rights only)."""
    ro = tmp_path / "elsewhere"
    (ro / "in").mkdir(parents=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only bind mount needs root and mount")
    if subprocess.run(["mount", "--bind", str(ro), str(ro)], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here")
    try:
        if subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], capture_output=True).returncode != 0:
            pytest.skip("cannot remount read-only here")
        yield ro
    finally:
        subprocess.run(["umount", str(ro)], capture_output=True)


def test_a_link_to_a_read_only_folder_inside_a_store_does_not_keep_it(root, read_only, capsys):
    os.symlink(read_only, root / "store" / "ds-aaaa" / "a" / "link")
    dry = cache.clear(["stores"], dry_run=True)  # it had said: Read-only file system (.../a/link), would keep it
    assert dry.failed == [] and sorted(e.path.name for e in dry.removed) == ["ds-aaaa", "ds-bbbb"]
    done = cache.clear(["stores"])
    assert done.failed == [] and done.freed == dry.freed > 10000
    assert os.listdir(root / "store") == [] and (read_only / "in").is_dir()  # the link went, not what it names


def test_a_read_only_folder_inside_a_store_is_named_as_the_clear_finds_it(root, read_only, capsys):
    sub = root / "store" / "ds-aaaa" / "b"
    subprocess.run(["umount", str(read_only)], check=True)
    if subprocess.run(["mount", "--bind", str(sub), str(sub)], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(sub)], check=True)
        assert main(["cache", "clear", "stores", "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert f"would keep it: Read-only file system ({sub})" in out and "would remove stores: 1 (1 cannot" in out
        done = cache.clear(["stores"])
        assert [e.path.name for e, _ in done.failed] == ["ds-aaaa"] and "Read-only file system" in done.failed[0][1]
    finally:  # the clear renamed the store aside: its mount is under that name now
        for mounted in _mounts_under(root):
            subprocess.run(["umount", mounted], capture_output=True)
    assert _mounts_under(root) == []


def _mounts_under(folder) -> list:
    with open("/proc/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(f"{folder}/")]
