"""Several processes needing the same memory-mapped store at once (two runs started together, the ranks of torchrun
on fresh data) convert it once and all get it: none converts its own copy, none replaces a store another just
wrote, and a reader arriving while a store is replaced gets the new one, never a false "damaged" error or a
traceback. ``auto`` counts every training process of the machine, each holding its own copy in memory.

Threads stand in for processes: each takes the store's file lock through its own descriptor, which excludes the
others as another process's would. The races are made certain by pausing one side at the moment that matters."""
from __future__ import annotations

import errno
import json
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from medtrain._lock import UnguardedWarning
from medtrain.data import _split_store, store
from medtrain.data._split_store import split_store
from medtrain.data.split import PARTS

SHAPE = (1, 4, 4)
FIRST = SimpleNamespace(assign=np.array([0] * 8 + [1] * 2 + [2] * 2))  # the split made before any image is read
MOVED = SimpleNamespace(assign=np.array([0] * 6 + [1] * 3 + [2] * 3))  # the split the digests ask for: laid out anew


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("MEDTRAIN_DATA", str(root))
    return root


@pytest.fixture
def data(tmp_path):
    """(the source folder, its 12 input files): input j's image is all j*10."""
    src = tmp_path / "data"
    src.mkdir()
    paths = []
    for j in range(len(FIRST.assign)):
        (src / f"{j:02d}.png").write_bytes(bytes([j]))
        paths.append(src / f"{j:02d}.png")
    return src, paths


def _image(j: int) -> np.ndarray:
    return np.full((1, *SHAPE), j * 10, np.uint8)


class Decoder:
    """The loader's decoder, counting the conversions; ``overlap``: the first waits (a bounded while) for a second,
    so that two conversions that can run at once certainly do."""

    def __init__(self, overlap: bool = False):
        self.calls, self.overlap = 0, overlap

    def __call__(self):
        self.calls += 1
        deadline = time.monotonic() + 0.5
        while self.overlap and self.calls < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        return SHAPE, _image


def _load(data, decoder, resplit=None):
    src, paths = data
    return split_store(paths, None, src, FIRST, decoder, resplit)


def _expect(parts, assign) -> None:
    """``parts`` holds every input's image in the part ``assign`` gives it, in input order."""
    for i, part in enumerate(PARTS):
        want = np.concatenate([_image(j) for j in np.flatnonzero(assign == i)])
        assert torch.equal(parts[part], torch.from_numpy(want)), part


def _together(*jobs, timeout=20.0) -> list:
    """Run each ``(name, function)`` in its own thread; their results, or the exceptions they raised."""
    out: dict = {}

    def run(name, fn):
        try:
            out[name] = fn()
        except BaseException as e:  # noqa: BLE001  (the test reports what each got)
            out[name] = e

    threads = [threading.Thread(target=run, args=job, name=job[0], daemon=True) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    return [out[name] for name, _ in jobs]


def _the_store_only(cache) -> None:
    """One store in the cache: no second copy, no temporary folder, no lock file left."""
    assert len(list((cache / "store").iterdir())) == 1, sorted(p.name for p in (cache / "store").iterdir())


class _PauseAtReplace:
    """``os`` for :mod:`medtrain.data.store`, but the rename of a new store onto ``dest`` made by ``thread`` first
    says the old store is gone (``gap``) and waits (a bounded while) for ``until``: a pause as long as removing a
    multi-GB store from a network filesystem."""

    def __init__(self, os_module, dest, thread: str, until: threading.Event):
        self._os, self.dest, self.thread, self.until = os_module, dest, thread, until
        self.gap = threading.Event()

    def __getattr__(self, name):
        return getattr(self._os, name)

    def replace(self, src, dst):
        if str(dst) == str(self.dest) and threading.current_thread().name == self.thread and not self.gap.is_set():
            assert not self._os.path.exists(self.dest)  # the old store is out of the way
            self.gap.set()
            self.until.wait(2.0)
        return self._os.replace(src, dst)


def _built(cache, data):
    """The store of ``data`` in its first layout, and where it is."""
    parts, _ = _load(data, Decoder())
    dest, = (cache / "store").iterdir()
    _expect(parts, FIRST.assign)
    return dest


def test_two_processes_converting_the_same_data_at_once_convert_it_once_and_both_get_it(cache, data):
    decoder = Decoder(overlap=True)
    a, b = _together(("a", lambda: _load(data, decoder)), ("b", lambda: _load(data, decoder)))
    for got in (a, b):
        assert not isinstance(got, BaseException), got
        parts, record = got
        assert record is FIRST
        _expect(parts, FIRST.assign)
    assert decoder.calls == 1  # the second waited for the first and mapped its store
    _the_store_only(cache)


def test_two_processes_laying_out_the_same_data_anew_at_once_both_get_it(cache, data):
    decoder = Decoder(overlap=True)
    a, b = _together(("a", lambda: _load(data, decoder, lambda d: MOVED)),
                     ("b", lambda: _load(data, decoder, lambda d: MOVED)))
    for got in (a, b):
        assert not isinstance(got, BaseException), got
        assert got[1] is MOVED
        _expect(got[0], MOVED.assign)
    assert decoder.calls == 1
    _the_store_only(cache)


def test_a_reader_finding_no_store_while_it_is_replaced_waits_for_the_new_one(cache, data, monkeypatch):
    dest = _built(cache, data)
    looked = threading.Event()  # the reader found no store where it is being replaced
    pause = _PauseAtReplace(store.os, dest, "writer", looked)
    monkeypatch.setattr(store, "os", pause)
    real_open = _split_store.open_store

    def reader_open(d):
        got = real_open(d)
        if threading.current_thread().name == "reader":
            looked.set()
        return got

    monkeypatch.setattr(_split_store, "open_store", reader_open)
    decoder = Decoder()

    def reader():
        assert pause.gap.wait(5.0)
        return _load(data, decoder, lambda d: MOVED)

    written, read = _together(("writer", lambda: _load(data, decoder, lambda d: MOVED)), ("reader", reader))
    assert looked.is_set()  # the race happened
    for got in (written, read):
        assert not isinstance(got, BaseException), got
        assert got[1] is MOVED
        _expect(got[0], MOVED.assign)
    assert decoder.calls == 0  # nothing converted again: the store was only laid out anew, once
    _the_store_only(cache)


def test_a_reader_mapping_a_store_as_it_is_replaced_gets_the_new_one_not_a_damage_error(cache, data, monkeypatch):
    dest = _built(cache, data)
    failed = threading.Event()  # the reader's first mapping found the old store gone
    pause = _PauseAtReplace(store.os, dest, "writer", failed)
    monkeypatch.setattr(store, "os", pause)
    real_mapped, started = store._mapped, threading.Event()

    def mapped(path, shape, dtype):  # the reader has read the old store's meta.json; its arrays go before it maps them
        if threading.current_thread().name == "reader" and not failed.is_set():
            started.set()
            assert pause.gap.wait(5.0)
            try:
                return real_mapped(path, shape, dtype)
            except OSError:
                failed.set()
                raise
        return real_mapped(path, shape, dtype)

    monkeypatch.setattr(store, "_mapped", mapped)

    def writer():
        assert started.wait(5.0)
        return _load(data, Decoder(), lambda d: MOVED)

    written, read = _together(("writer", writer), ("reader", lambda: store.open_store(dest)))
    assert failed.is_set()  # the race happened
    assert not isinstance(written, BaseException), written
    assert not isinstance(read, BaseException), read
    _expect(read, MOVED.assign)
    assert torch.equal(read["assign"], torch.from_numpy(MOVED.assign.astype(np.int8)))
    _the_store_only(cache)


def test_a_store_another_process_wrote_meanwhile_is_kept_not_replaced_by_a_copy(cache, data):
    dest = _built(cache, data)
    before = (dest / "train.npy").stat().st_ino
    content = json.loads((dest / store.META).read_text())["content"]
    # a conversion that looked for the store just before the other process's was in place
    parts, _ = _split_store.write_store(dest, data[0], content, FIRST.assign, SHAPE, _image)
    assert (dest / "train.npy").stat().st_ino == before  # the copy was dropped, the store already there kept
    _expect(parts, FIRST.assign)
    _the_store_only(cache)


def test_a_filesystem_that_cannot_lock_converts_unguarded_with_a_warning(cache, data, monkeypatch):
    def no_locks(fd):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(store, "lock", no_locks)
    with pytest.warns(UnguardedWarning, match="cannot lock"):
        parts, _ = _load(data, Decoder())
    _expect(parts, FIRST.assign)
    _the_store_only(cache)


def test_auto_counts_every_training_process_of_the_machine(monkeypatch):
    monkeypatch.setattr(store, "available_memory", lambda: 4000)  # a quarter: 1000 bytes
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert not store.use_mmap("auto", 500)  # one process: its copy fits
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # four processes, each with a copy: 2000 bytes
    assert store.use_mmap("auto", 500)
    assert not store.use_mmap("memory", 500) and store.use_mmap("mmap", 1)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "x")  # malformed: one
    assert not store.use_mmap("auto", 500)
