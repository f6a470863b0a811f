"""A source's weights are read once: the SHA-256 a run records is that of the very bytes whose tensors it loaded.
(Reading the file to load it, then again to hash it, recorded a file saved in between under one hash while
training from another.) Each test replaces the file right after the first read of it."""
from __future__ import annotations

import hashlib

import pytest
import torch

from medtrain.models import med3d, weights
from medtrain.models.pretrained import load_source
from medtrain.models.weights import save_weights


class _Net(torch.nn.Module):
    def __init__(self, fill: float):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)
        torch.nn.init.constant_(self.conv.weight, fill)


def _swap_after_first_read(monkeypatch, path, other: bytes):
    """Replace ``path``'s bytes by ``other`` right after whichever read of it comes first."""
    done = []

    def wrap(fn):
        def read(*args, **kwargs):
            out = fn(*args, **kwargs)
            if not done:
                done.append(1)
                path.write_bytes(other)
            return out
        return read

    if hasattr(weights, "_read_bytes"):  # the one read of a source's bytes
        monkeypatch.setattr(weights, "_read_bytes", wrap(weights._read_bytes))
    monkeypatch.setattr(weights, "load_file", wrap(weights.load_file))
    monkeypatch.setattr(torch, "load", wrap(torch.load))
    return done


def _files(tmp_path, suffix):
    first, second = tmp_path / f"first{suffix}", tmp_path / f"second{suffix}"
    for p, fill in ((first, 1.0), (second, 2.0)):
        if suffix == ".safetensors":
            save_weights(_Net(fill), p, {"model": "net"})
        else:
            torch.save(_Net(fill).state_dict(), p)
    return first, second


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_a_weights_file_replaced_after_the_read_is_recorded_by_the_bytes_loaded(tmp_path, monkeypatch, suffix):
    path, other = _files(tmp_path, suffix)
    loaded = path.read_bytes()
    done = _swap_after_first_read(monkeypatch, path, other.read_bytes())
    src = load_source(path)
    assert done and path.read_bytes() != loaded  # the file was replaced after its first read
    assert torch.equal(src.state["conv.weight"], torch.ones(2, 1, 3, 3))  # the first file's tensors were loaded
    assert src.record["sha256"] == hashlib.sha256(loaded).hexdigest()  # ... and its hash is recorded


def test_a_run_source_replaced_after_the_read_keeps_its_weights_hash_and_metadata(tmp_path, monkeypatch):
    run = tmp_path / "runA"
    run.mkdir()
    first, second = _files(tmp_path, ".safetensors")
    (run / "model.safetensors").write_bytes(first.read_bytes())
    save_weights(_Net(2.0), second, {"model": "other"})
    loaded = first.read_bytes()
    _swap_after_first_read(monkeypatch, run / "model.safetensors", second.read_bytes())
    src = load_source(run)
    assert torch.equal(src.state["conv.weight"], torch.ones(2, 1, 3, 3))
    assert src.meta["model"] == "net" and src.model == "net"  # the metadata of the bytes loaded, not the new file's
    assert src.record["sha256"] == hashlib.sha256(loaded).hexdigest()


def test_a_medicalnet_pth_replaced_after_the_read_is_recorded_by_the_bytes_loaded(tmp_path, monkeypatch):
    path, other = _files(tmp_path, ".pth")
    monkeypatch.setattr(med3d, "download_medicalnet", lambda depth, **kw: path)
    loaded = path.read_bytes()
    _swap_after_first_read(monkeypatch, path, other.read_bytes())
    src = load_source("medicalnet:10")
    assert torch.equal(src.state["conv.weight"], torch.ones(2, 1, 3, 3))
    assert src.record["sha256"] == hashlib.sha256(loaded).hexdigest()
