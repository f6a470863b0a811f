"""`medtrain cache` where something cannot be deleted or read (another user's folder in a shared cache): an
interrupted clear's leftover is deleted under its own name, never renamed again; a leftover or entry that cannot be
deleted is kept and named and the rest of the clear goes on (exit 0); one folder inside an entry that cannot be read
fails neither the listing nor a clear, and is named as what it is. The tests run as root, where chmod refuses
nothing: the refusals are os/shutil calls made to fail."""
from __future__ import annotations

import os

import pytest

from medtrain._io import cache
from medtrain.cli import main
from medtrain.errors import MedtrainError


@pytest.fixture
def root(cache_root):
    r = cache_root
    for sub in ("store/fake-aaaa/sub", "store/fake-bbbb", "arrays/" + "a" * 64, "store/.fake-old.del8082d.tmp/sub"):
        (r / sub).mkdir(parents=True)
    for f in ("store/fake-aaaa/sub/f", "store/fake-bbbb/f", "arrays/" + "a" * 64 + "/arrays.npz",
              "store/.fake-old.del8082d.tmp/sub/f"):
        (r / f).write_bytes(os.urandom(5000))
    return r


def _refuse(monkeypatch, name: str):  # (never monkeypatch.undo(): it would also undo the fixture's MEDTRAIN_DATA)
    """shutil.rmtree refuses every tree whose path holds ``name`` (as for a sub-folder another user owns)."""
    rmtree = cache.shutil.rmtree

    def refused(path, *a, **k):
        if name in str(path):
            raise PermissionError(13, "Permission denied", os.path.join(path, "sub"))
        return rmtree(path, *a, **k)

    monkeypatch.setattr(cache.shutil, "rmtree", refused)


def _names(folder) -> list:
    return sorted(p.name for p in folder.iterdir())


def test_a_leftover_that_cannot_be_deleted_is_kept_under_its_name_and_the_clear_goes_on(root, monkeypatch, capsys):
    with monkeypatch.context() as m:
        _refuse(m, "fake-old")
        _cleared_three_times(root, capsys)
    assert cache.root() == root
    done = cache.clear(["volumes"])  # once it can be deleted: deleted, and its bytes freed
    assert done.leftovers >= 5000 and not done.failed and _names(root / "store") == ["fake-aaaa", "fake-bbbb"]


def _cleared_three_times(root, capsys):
    for i in range(3):  # it had been renamed at each clear (..fake-old.del8082d.tmp.delb44c6.tmp...) and blocked it
        assert main(["cache", "clear", "arrays"]) == 0
        out = capsys.readouterr().out
        assert "could not remove an interrupted clear's leftover store/.fake-old.del8082d.tmp" in out
        assert "Permission denied" in out and f"removed arrays: {int(i == 0)};" in out
        assert _names(root / "store") == [".fake-old.del8082d.tmp", "fake-aaaa", "fake-bbbb"]
    assert not any((root / "arrays").iterdir())  # the arrays asked for are gone


def test_a_leftover_whose_name_is_near_the_limit_is_deleted_in_place(root):
    long = root / "store" / f".{'x' * 228}.del12345.tmp"  # renaming it again: ENAMETOOLONG, every clear blocked
    long.mkdir()
    (long / "f").write_bytes(b"x")
    done = cache.clear(["weights"])
    assert not long.exists() and not done.failed and done.leftovers > 0


def test_an_entry_that_cannot_be_deleted_is_kept_and_named_and_the_others_are_removed(root, monkeypatch, capsys):
    _refuse(monkeypatch, "fake-aaaa")
    assert main(["cache", "clear", "stores"]) == 0
    out = capsys.readouterr().out
    assert "could not remove store/fake-aaaa" in out and "Permission denied" in out
    assert "removed stores: 1 (1 could not be removed)" in out and "never reads" in out
    left = [n for n in _names(root / "store") if not n.startswith(".fake-old")]
    assert len(left) == 1 and cache._LEFTOVER.fullmatch(left[0]) and left[0].startswith(".fake-aaaa.del")
    assert main(["cache", "clear", "stores"]) == 0  # the next clear tries it again, under the same name
    assert left[0] in capsys.readouterr().out and left == [n for n in _names(root / "store")
                                                           if not n.startswith(".fake-old")]


def test_a_clear_that_could_remove_nothing_asked_is_one_error(root, monkeypatch, capsys):
    rename = cache.os.rename

    def refused(src, dst):  # the store folder another user's: no entry of it can be renamed
        if "store" in str(src):
            raise PermissionError(13, "Permission denied", str(src))
        return rename(src, dst)

    monkeypatch.setattr(cache.os, "rename", refused)
    with pytest.raises(MedtrainError, match=r"cannot remove .*fake-aaaa \(and 1 more\): Permission denied.*"
                                            r"nothing of stores could be removed"):
        cache.clear(["stores"])
    assert main(["cache", "clear", "all"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing of stores, volumes could be removed" in err


def test_an_unreadable_folder_inside_an_entry_fails_neither_the_listing_nor_a_clear(root, monkeypatch, capsys):
    locked = root / "store" / "fake-aaaa" / "sub"
    scandir = os.scandir

    def denied(path=".", *a):
        if str(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path, *a)

    monkeypatch.setattr(cache.os, "scandir", denied)
    entry = next(e for e in cache.survey().entries["stores"] if e.path.name == "fake-aaaa")
    assert entry.unreadable == f"{locked}: Permission denied"
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert "store/fake-aaaa: size unknown, at least" in out and f"cannot read {locked}: Permission denied" in out
    assert "the cache folder" not in out
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["stores"])
    assert row[2].startswith(">=")  # the kind's size is a lower bound, and said to be
    assert main(["cache", "clear", "arrays", "--dry-run"]) == 0
    assert main(["cache", "clear", "arrays"]) == 0 and not any((root / "arrays").iterdir())
