"""A MedMNIST download killed mid-way (SIGKILL: no clean-up runs) leaves its partial ``.NAME.npz.<random>.tmp`` in the
cache; the next download removes it, never the partial file of a download still in progress beside it. The
network is a stand-in serving a small file."""
from __future__ import annotations

import hashlib
import io
import os
import threading
import time
import urllib.request

from medtrain.data import medmnist as mm

CONTENT = b"the official file" * 1000


class _Response(io.BytesIO):
    def __init__(self, data: bytes, stall: threading.Event | None = None, started: threading.Event | None = None):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}
        self.stall, self.started = stall, started

    def read(self, n=-1):
        block = super().read(min(n, 100) if self.stall is not None else n)
        if self.stall is not None and self.tell() == 100:  # a stalled network: the first 100 bytes, then nothing
            self.started.set()
            self.stall.wait(timeout=10)
        return block


def test_a_killed_downloads_partial_file_is_removed_and_a_live_ones_kept(tmp_path, monkeypatch):
    md5 = hashlib.md5(CONTENT).hexdigest()
    monkeypatch.setattr(mm, "_url_md5", lambda name, size: (f"https://example.org/{name}", md5))
    stall, started = threading.Event(), threading.Event()
    responses = iter([_Response(CONTENT, stall, started), _Response(CONTENT)])
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: next(responses))
    errors = []

    def slow_download():  # a download in progress in another process or thread, stalled on a slow network
        try:
            mm.fetch("breastmnist", 28, tmp_path)
        except Exception as e:  # noqa: BLE001  (reported by the main thread)
            errors.append(e)

    live = threading.Thread(target=slow_download)
    live.start()
    assert started.wait(timeout=10)
    partial = list(tmp_path.glob(".breastmnist.npz.*.tmp"))
    assert len(partial) == 1
    old = time.time() - 2 * 3600
    killed = tmp_path / ".breastmnist.npz.k1ll3d0x.tmp"  # what SIGKILL left: nobody holds it, unwritten for long
    killed.write_bytes(CONTENT[:500])
    mine = tmp_path / ".notes.npz.draft.tmp"  # not a MedMNIST download's: left alone
    mine.write_bytes(b"mine")
    for p in (killed, mine):
        os.utime(p, (old, old))
    os.utime(partial[0], (old, old))  # unwritten for long too: what keeps it is that its download is alive
    try:
        assert mm.fetch("breastmnist", 28, tmp_path).read_bytes() == CONTENT  # a second download meanwhile
        assert not killed.exists(), "the killed download's partial file is still there"
        assert partial[0].exists(), "a download in progress lost its partial file"
        assert mine.exists()
    finally:
        stall.set()
        live.join(timeout=10)
    assert not errors and (tmp_path / "breastmnist.npz").read_bytes() == CONTENT
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name, "breastmnist.npz"]
