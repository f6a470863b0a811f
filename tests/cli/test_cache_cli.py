"""`medtrain cache`: the folder and each kind's count and size on disk (as du counts them), `clear KIND...` with
`--dry-run`, bad input as one line and exit 2, and a run after `clear stores` rebuilding its store to the same
metrics."""
from __future__ import annotations

import gc
import json
import os
import subprocess

import numpy as np
import pytest

import medtrain
from medtrain._io import cache
from medtrain.cli import main
from medtrain.data import load_npz

from conftest import fast_config, make_npz


@pytest.fixture
def root(cache_root):
    r = cache_root
    return r


def _stores(root) -> list:
    return sorted(p.name for p in (root / "store").iterdir() if not p.name.startswith(".")) \
        if (root / "store").is_dir() else []


def _fill(root, tmp_path):
    load_npz(make_npz(tmp_path / "d.npz", sizes=(40, 10, 10)), store="mmap")
    gc.collect()  # this process's maps of it let go
    (root / "breastmnist.npz").write_bytes(os.urandom(120_000))
    (root / "volumes").mkdir()
    for i in range(3):
        np.savez(root / "volumes" / f"k{i}.npz", voxels=np.zeros((8, 8, 8), np.uint8))


def _du(*paths) -> int:
    out = subprocess.run(["du", "-scB1", *map(str, paths)], capture_output=True, text=True, check=True).stdout
    return int(out.splitlines()[-1].split()[0])


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("medtrain: error: "), captured.err
    assert captured.out == ""
    return captured.err


def test_the_listing_names_the_folder_and_each_kind_as_du_counts_it(root, tmp_path, capsys):
    _fill(root, tmp_path)
    assert main(["cache", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["folder"] == str(root) and listed["exists"]
    kinds = listed["kinds"]
    assert kinds["stores"]["count"] == 1 and kinds["stores"]["bytes"] == _du(*(root / "store").iterdir())
    assert kinds["downloads"]["count"] == 1 and kinds["downloads"]["bytes"] == _du(root / "breastmnist.npz")
    assert kinds["volumes"]["count"] == 3 and kinds["volumes"]["bytes"] == _du(*(root / "volumes").iterdir())
    assert listed["total"] == {"count": 5, "bytes": sum(k["bytes"] for k in kinds.values())}
    assert kinds["stores"]["cleared_by"] == "all" and kinds["downloads"]["cleared_by"] == "its name"
    assert main(["cache", "list", "--json"]) == 0 and json.loads(capsys.readouterr().out) == listed

    assert main(["cache"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == str(root)
    row = {line.split()[0]: line.split()[1:4] for line in lines[1:]}
    assert row["stores"][:1] == ["1"] and row["volumes"][:1] == ["3"] and row["total"][0] == "5"
    assert " ".join(row["downloads"][1:3]) == cache.human(kinds["downloads"]["bytes"]) == "122.9 kB"


def test_clear_stores_dry_run_then_for_real(root, tmp_path, capsys):
    _fill(root, tmp_path)
    name, before = _stores(root)[0], _du(root)
    assert main(["cache", "clear", "stores", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    size = cache.human(_du(root / "store" / name))
    assert out == [f"would remove store/{name} ({size})",
                   f"would remove stores: 1; would free {size} in {root}"]
    assert _du(root) == before and _stores(root) == [name]  # nothing deleted
    assert main(["cache", "clear", "stores", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in done["removed"]] == [str(root / "store" / name)]
    assert before - _du(root) == done["freed_bytes"] > 0
    assert _stores(root) == [] and (root / "breastmnist.npz").is_file() and len(list((root / "volumes").iterdir())) == 3


@pytest.mark.parametrize("argv, said", [
    (["cache", "clear", "stor"], "unknown kind to clear 'stor'; did you mean stores"),
    (["cache", "clear", "stores", "temporaries"], "unknown kind to clear 'temporaries'"),
    (["cache", "clear"], "name what to clear: downloads, weights, stores, volumes, arrays or all"),
])
def test_a_bad_kind_is_one_line_and_exit_2(root, tmp_path, capsys, argv, said):
    _fill(root, tmp_path)
    before = _du(root)
    assert said in _error(capsys, argv)
    assert _du(root) == before


@pytest.mark.parametrize("argv", [["cache"], ["cache", "clear", "all"], ["cache", "clear", "stores", "--dry-run"]])
def test_a_cache_folder_that_is_a_file_is_one_line_and_exit_2(root, capsys, argv):
    root.parent.mkdir(exist_ok=True)
    root.write_text("x")
    assert f"the cache folder {root} is a file, not a folder" in _error(capsys, argv)
    assert f"the cache folder {root / 'x'} is not a folder" in _error(capsys, argv + ["--data-dir", str(root / "x")])


def test_permission_denied_is_one_line_and_exit_2(root, tmp_path, capsys, monkeypatch):
    _fill(root, tmp_path)

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    with monkeypatch.context() as m:  # (as root, chmod refuses nothing)
        m.setattr(cache.os, "scandir", denied)
        assert "cannot read the cache folder" in _error(capsys, ["cache"])
    with monkeypatch.context() as m:
        m.setattr(cache.os, "rename", lambda a, b: denied(a))
        err = _error(capsys, ["cache", "clear", "stores"])
    assert f"cannot remove {root / 'store'}" in err and "Permission denied" in err
    assert len(_stores(root)) == 1


def test_a_missing_cache_folder_lists_nothing_and_clears_nothing(root, capsys):
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{root} (does not exist") and "  total           0        0 B" in out
    assert main(["cache", "clear", "all"]) == 0 and not root.exists()


@pytest.mark.slow
def test_a_run_after_clear_stores_rebuilds_its_store_with_the_same_metrics(root, tmp_path, capsys):
    data = make_npz(tmp_path / "d.npz", sizes=(64, 16, 24), noisy_test=2)

    def run(out):
        m = medtrain.train(fast_config(data, tmp_path / out, epochs=1, store="mmap", bootstrap=0, logger="none",
                                       tta="none"), verbose=False)
        return [{k: v for k, v in h.items() if k != "epoch_s"} for h in m["history"]], m["test"]

    first, name = run("a"), _stores(root)
    gc.collect()  # the run's maps of the store, held in reference cycles: otherwise kept as in use
    assert len(name) == 1
    stat = os.stat(root / "store" / name[0] / "train_images.npy")
    assert main(["cache", "clear", "stores"]) == 0 and _stores(root) == []
    capsys.readouterr()
    assert run("b") == first  # the same losses and metrics, bit for bit
    assert _stores(root) == name  # rebuilt under its own name
    again = os.stat(root / "store" / name[0] / "train_images.npy")
    # a new file, not the old one kept: the clear above left no store (an inode number is no proof: the filesystem
    # may give the freed one to the new file, as fresh-ci of cc8d537 saw)
    assert again.st_size == stat.st_size
