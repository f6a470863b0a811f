"""The cache folder listed and cleared (medtrain._io.cache): sizes as du counts them, only the kinds asked for
removed, entries in use kept, links never followed, a dry run deleting nothing, an interrupted clear leaving no
half-deleted entry under its own name, and every derived kind made again as before."""
from __future__ import annotations

import gc
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medtrain._io import cache
from medtrain.cli import main
from medtrain.data import arrays, load_npz, store
from medtrain.data.volumes import load_volume_folder
from medtrain.errors import MedtrainError

from conftest import make_images, make_npz


@pytest.fixture
def root(cache_root):
    """A cache folder in the test's own tmp folder, holding one entry or more of every kind."""
    r = cache_root
    return r


def _fill(root, tmp_path):
    """Real entries, written by medtrain's own writers: 2 stores, 6 volumes, 1 arrays; plus a download, a weights
    file, a killed writer's temporary and a link."""
    for name in ("a", "b"):
        splits = load_npz(make_npz(tmp_path / f"{name}.npz", sizes=(40, 10, 10)), store="mmap")
        assert splits.train.images.shape == (40, 1, 16, 16)
    del splits
    gc.collect()  # the maps of this process: a store it still maps is in use (see test_store_mapped_...)
    scans = tmp_path / "scans"
    scans.mkdir()
    rows = ["path,label"]
    for i in range(6):
        nib.save(nib.Nifti1Image(np.random.default_rng(i).random((6, 6, 6), np.float32), np.eye(4)),
                 str(scans / f"v{i}.nii"))
        rows.append(f"v{i}.nii,{i % 2}")
    (scans / "labels.csv").write_text("\n".join(rows) + "\n")
    volumes = load_volume_folder(scans, size=4, val_fraction=0.2, test_fraction=0.2)
    x, y = make_images(30)
    arrays.arrays_npz((x, y.ravel()))
    (root / "pathmnist.npz").write_bytes(os.urandom(300_000))  # as fetch leaves it
    (root / "weights").mkdir()
    (root / "weights" / "resnet_10.pth").write_bytes(os.urandom(50_000))
    (root / "store" / ".x-123.abcd1234.tmp").mkdir()  # a conversion in progress (or killed)
    return scans, volumes


def _du(*paths) -> int:
    out = subprocess.run(["du", "-scB1", *map(str, paths)], capture_output=True, text=True, check=True).stdout
    return int(out.splitlines()[-1].split()[0])


def _files(root) -> dict:
    """Every file and link under ``root`` with its size and digest: what a dry run must leave as it was."""
    got = {}
    for dirpath, dirs, files in os.walk(root):
        for f in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            p = os.path.join(dirpath, f)
            got[os.path.relpath(p, root)] = (os.readlink(p) if os.path.islink(p)
                                              else hashlib.md5(open(p, "rb").read()).hexdigest())
    return got


def test_counts_and_sizes_are_what_is_on_disk(root, tmp_path):
    _fill(root, tmp_path)
    s = cache.survey()
    counts = {k: len(es) for k, es in s.entries.items()}
    assert counts == {"downloads": 1, "weights": 1, "stores": 2, "volumes": 6, "arrays": 1, "partial": 1, "other": 0}
    for kind, es in s.entries.items():
        if es:  # each kind's bytes are du's of its entries (allocated blocks, folders included)
            assert sum(e.bytes for e in es) == _du(*(e.path for e in es)), kind
    # the total is du's of the whole folder, less the cache folder and its kinds' folders themselves
    folders = [root] + [root / k for k in ("store", "volumes", "arrays", "weights")]
    assert s.total()[1] == _du(root) - sum(os.lstat(f).st_blocks * 512 for f in folders)
    assert s.total()[0] == 12
    assert {e.path.name for e in s.entries["downloads"]} == {"pathmnist.npz"}


def test_clear_stores_frees_exactly_their_bytes_and_leaves_downloads_and_the_rest(root, tmp_path):
    _fill(root, tmp_path)
    before, files = _du(root), _files(root)
    stores = cache.survey().entries["stores"]
    done = cache.clear(["stores"])
    assert [e.path for e in done.removed] == [e.path for e in stores] and not done.kept
    assert done.freed == sum(e.bytes for e in stores) > 2 * 40 * 256
    assert before - _du(root) == done.freed  # exactly those bytes
    after = _files(root)
    kept = {k: v for k, v in files.items() if not k.startswith("store/") or k.startswith("store/.")}
    assert after == kept  # downloads, weights, volumes, arrays, the temporary: each file as it was
    assert not any(p.startswith("store/") and not p.startswith("store/.") for p in after)


def test_all_is_the_derived_kinds_and_never_downloads(root, tmp_path):
    _fill(root, tmp_path)
    assert cache.kinds_to_clear(["all"]) == ["stores", "volumes"]
    assert cache.kinds_to_clear(["weights", "all", "stores"]) == ["weights", "stores", "volumes"]
    cache.clear(["all"])
    s = cache.survey()
    # in-memory arrays are a run's only copy of its data: kept by ``all``, cleared only when named
    assert {k: len(es) for k, es in s.entries.items() if es} == {"downloads": 1, "weights": 1, "arrays": 1,
                                                                  "partial": 1}
    cache.clear(["downloads"])
    assert not (root / "pathmnist.npz").exists() and (root / "weights" / "resnet_10.pth").is_file()


def test_a_store_being_converted_is_kept_and_said_to_be(root, tmp_path):
    _fill(root, tmp_path)
    first = cache.survey().entries["stores"][0].path
    with store.locked(first):  # as a conversion (or a replacement) of it holds it
        for dry in (True, False):
            done = cache.clear(["stores"], dry_run=dry)
            assert [(e.path, why) for e, why in done.kept] == [(first, "being converted by another process")]
            assert len(done.removed) == 1 and first.is_dir()
    done = cache.clear(["stores"])  # let go: removed now, its lock file with it
    assert [e.path for e in done.removed] == [first] and not first.exists()
    assert sorted(p.name for p in (root / "store").iterdir()) == [".x-123.abcd1234.tmp"]


def test_a_store_another_process_maps_is_kept(root, tmp_path):
    """A run reading a store maps its files: removing them would free nothing until it ends."""
    _fill(root, tmp_path)
    first = cache.survey().entries["stores"][0].path
    reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, numpy as np
        a = np.load({str(first / 'train_images.npy')!r}, mmap_mode="r")
        print(int(a[0].sum()), flush=True)
        sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        reader.stdout.readline()
        done = cache.clear(["stores"])
        assert [(e.path, why) for e, why in done.kept] == [(first, f"open in process {reader.pid}")]
        assert (first / "train_images.npy").is_file() and len(done.removed) == 1
    finally:
        reader.communicate("")
    assert [e.path for e in cache.clear(["stores"]).removed] == [first]


def test_links_are_never_followed_out_of_the_cache(root, tmp_path):
    _fill(root, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big.npy").write_bytes(os.urandom(200_000))
    (outside / "k.npz").write_bytes(b"x" * 5000)
    entry = cache.survey().entries["stores"][0]
    os.symlink(outside, entry.path / "elsewhere")  # a link inside an entry
    os.symlink(outside / "big.npy", root / "store" / "alias-123")  # a link as an entry
    shutil.rmtree(root / "arrays")
    os.symlink(outside, root / "arrays")  # a kind's folder that is a link
    s = cache.survey()
    grown = next(e for e in s.entries["stores"] if e.path == entry.path)
    assert grown.bytes == entry.bytes + os.lstat(entry.path / "elsewhere").st_blocks * 512  # the link, not its target
    assert {str(link) for link, _ in s.links} == {str(root / "store" / "alias-123"), str(root / "arrays")}
    assert not s.entries["arrays"] and len(s.entries["other"]) == 2
    cache.clear(["stores", "arrays"])
    assert sorted(p.name for p in outside.iterdir()) == ["big.npy", "k.npz"]  # nothing outside removed
    assert (outside / "big.npy").stat().st_size == 200_000
    assert os.path.islink(root / "store" / "alias-123") and os.path.islink(root / "arrays")  # nor the links


def test_a_dry_run_deletes_nothing_and_says_what_a_clear_frees(root, tmp_path):
    _fill(root, tmp_path)
    files, du = _files(root), _du(root)
    dry = cache.clear(["all", "downloads", "weights", "arrays"], dry_run=True)
    assert _files(root) == files and _du(root) == du
    assert len(dry.removed) == 11 and not dry.kept
    done = cache.clear(["all", "downloads", "weights", "arrays"])
    assert [e.path for e in done.removed] == [e.path for e in dry.removed] and done.freed == dry.freed
    assert du - _du(root) == dry.freed


def test_an_interrupted_clear_leaves_no_entry_half_deleted_under_its_name(root, tmp_path, monkeypatch):
    _fill(root, tmp_path)
    first = cache.survey().entries["stores"][0]

    def interrupted(path, *a, **k):  # Ctrl-C once the first file of the entry is gone
        os.unlink(next(p for p in os.scandir(path) if p.is_file()).path)
        raise KeyboardInterrupt

    with monkeypatch.context() as m, pytest.raises(KeyboardInterrupt):
        m.setattr(cache.shutil, "rmtree", interrupted)
        cache.clear(["stores"])
    assert not first.path.exists() and store.open_store(first.path) is None  # medtrain builds it anew
    leftover = [p.name for p in (root / "store").iterdir() if p.name.startswith(f".{first.path.name}.del")]
    assert len(leftover) == 1 and cache._LEFTOVER.fullmatch(leftover[0])
    assert len(cache.survey().entries["stores"]) == 1  # not listed as a store
    done = cache.clear(["volumes"])  # any clear removes such leftovers
    assert done.leftovers > 0 and not (root / "store" / leftover[0]).exists()


def test_rejected_input_is_one_error(root, tmp_path, monkeypatch):
    with pytest.raises(MedtrainError, match="unknown kind to clear 'store'; did you mean stores"):
        cache.kinds_to_clear(["store"])
    with pytest.raises(MedtrainError, match="name what to clear"):
        cache.kinds_to_clear([])
    with pytest.raises(MedtrainError, match="partial"):
        cache.kinds_to_clear(["partial"])  # never cleared
    assert not cache.survey().exists and cache.clear(["all"]).freed == 0  # nothing cached yet: nothing to do
    root.parent.mkdir(exist_ok=True)
    root.write_text("not a folder")
    with pytest.raises(MedtrainError, match="is a file, not a folder"):
        cache.survey()
    root.unlink()
    _fill(root, tmp_path)

    def denied(src, dst):
        raise PermissionError(13, "Permission denied", str(src))

    with monkeypatch.context() as m, pytest.raises(MedtrainError, match=r"cannot remove .*store/.*: Permission denied"):
        m.setattr(cache.os, "rename", denied)
        cache.clear(["stores"])
    assert len(cache.survey().entries["stores"]) == 2  # nothing half removed


def test_volumes_are_decoded_again_after_clearing_the_same(root, tmp_path):
    scans, volumes = _fill(root, tmp_path)
    names = sorted(p.name for p in (root / "volumes").iterdir())
    assert len(cache.clear(["volumes"]).removed) == 6 and not any((root / "volumes").iterdir())
    again = load_volume_folder(scans, size=4, val_fraction=0.2, test_fraction=0.2)
    assert sorted(p.name for p in (root / "volumes").iterdir()) == names  # cached again, under the same keys
    for s in ("train", "val", "test"):
        assert (again.split(s).images == volumes.split(s).images).all()


def test_arrays_are_written_again_when_given_again(root, tmp_path):
    x, y = make_images(30)
    path = arrays.arrays_npz((x, y.ravel()))
    digest = hashlib.md5(path.read_bytes()).hexdigest()
    cache.clear(["arrays"])
    assert not path.exists()
    assert arrays.arrays_npz((x, y.ravel())) == path and hashlib.md5(path.read_bytes()).hexdigest() == digest


def _killed_conversion(root, tmp_path):
    """What a SIGKILLed store conversion leaves beside the stores: its temporary copy of the store, named as
    ``store.writing`` names it, and its lock file (the kernel let go of the lock, the file stays)."""
    dest = store.store_dir(tmp_path / "big.npz", "1:2:3:4")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    (tmp / "train.npy").write_bytes(os.urandom(200_000))
    cache.store_lock(dest).touch()
    return dest, tmp


def test_a_killed_conversions_copy_is_removed_by_a_clear_of_stores_once_no_process_converts_it(root, tmp_path,
                                                                                                  capsys):
    """The walk's SIGKILLed conversion had left a 119 MB copy that `cache` listed as "swept after an hour" and no
    clear removed, `all` included (only the next conversion into that folder did, an hour later)."""
    dest, tmp = _killed_conversion(root, tmp_path)
    lock = cache.store_lock(dest)
    (root / "store" / ".x-123.abcd1234.tmp").mkdir()  # a partial entry of no store's name: never touched
    with store.locked(dest):  # a conversion of that store, alive: its copy is kept, and not named as left
        for dry in (True, False):
            cache.clear(["volumes", "stores"], dry_run=dry)
            assert tmp.is_dir()
        assert main(["cache"]) == 0 and "left by killed store conversions" not in capsys.readouterr().out
    lock.touch()  # (let go, its lock file removed: a killed one leaves it)
    assert main(["cache"]) == 0  # named, with its size, and what removes it
    out = capsys.readouterr().out
    assert "2 of partial (20" in out and "none converting now: `medtrain cache clear stores` removes them" in out
    cache.clear(["volumes"])
    assert tmp.is_dir()  # only a clear of stores
    assert main(["cache", "clear", "all", "--dry-run"]) == 0 and tmp.is_dir()
    assert f"would remove a killed conversion's leftover store/{tmp.name} (20" in capsys.readouterr().out
    dry = cache.clear(["stores"], dry_run=True)
    done = cache.clear(["all"])
    assert not tmp.exists() and not lock.exists()
    assert [p.name for p in (root / "store").iterdir()] == [".x-123.abcd1234.tmp"]
    assert {e.path for e in done.abandoned} == {e.path for e in dry.abandoned} == {tmp, lock}
    assert done.freed == dry.freed > 200_000


def test_where_nothing_can_be_locked_a_killed_conversions_copy_goes_after_an_hour_unwritten(root, tmp_path,
                                                                                          monkeypatch):
    from medtrain._io import cache_removal

    dest, tmp = _killed_conversion(root, tmp_path)
    monkeypatch.setattr(cache_removal, "LOCKS", False)  # a live conversion cannot be told: by age, as the writers
    cache.clear(["stores"])
    assert tmp.is_dir()  # written just now: maybe converting
    old = time.time() - 2 * store.ABANDONED_S  # unwritten for two hours
    for p in (tmp, tmp / "train.npy", cache.store_lock(dest)):
        os.utime(p, (old, old))
    done = cache.clear(["stores"])
    assert not tmp.exists() and {e.path for e in done.abandoned} == {tmp, cache.store_lock(dest)}
