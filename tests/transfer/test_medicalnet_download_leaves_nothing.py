"""An offline ``--pretrained medicalnet:10`` without the weights in the cache is one line and leaves nothing behind:
the ``weights/`` folder the download had created stayed, empty, in the cache folder (a user walkthrough)."""
from __future__ import annotations

import urllib.error

import pytest
import torch

from medtrain.errors import MedtrainError
from medtrain.models.pretrained import load_source


@pytest.fixture
def offline(monkeypatch):
    def unreachable(url, dst, *a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)  # under med3d's own atomic download


def test_a_failed_download_leaves_no_folder_it_made(offline, tmp_path):
    cache = tmp_path / "cache"  # a --data-dir not made yet
    with pytest.raises(MedtrainError, match=r"resnet_10.pth are not cached and could not be downloaded"):
        load_source("medicalnet:10", data_dir=cache)
    assert not cache.exists()


def test_a_failed_download_keeps_the_cache_folders_contents(offline, tmp_path):
    cache = tmp_path / "cache"
    (cache / "datasets").mkdir(parents=True)  # what was there stays
    with pytest.raises(MedtrainError, match="resnet_10.pth"):
        load_source("medicalnet:10", data_dir=cache)
    assert sorted(p.name for p in cache.iterdir()) == ["datasets"]
