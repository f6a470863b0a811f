"""A MedMNIST file linked into the cache folder does not move the cache: a run of ``--dataset NAME`` records the cache
folder ($MEDTRAIN_DATA) as its data_dir, links not followed, and its MedicalNet source weights are read from (and
downloaded into) that folder's weights/. A walkthrough with MEDTRAIN_DATA=dd, dd/*.npz linked to a read-only shared
folder and dd/weights/resnet_10.pth present, had been told the weights were not cached and to put them into the
shared folder: the run's data_dir was the linked file's real folder."""
from __future__ import annotations

import pytest
import torch
import yaml

import medtrain
from conftest import make_npz
from medtrain.errors import MedtrainError
from medtrain.models import med3d

FAST = dict(model="resnet10_28_half", epochs=1, batch_size=32, progress=False, bootstrap=0, schedule="none",
            accelerator="cpu", flip="true", precision="32-true", tta="none")


@pytest.fixture
def linked_cache(tmp_path, monkeypatch):
    shared = tmp_path / "shared"  # where the file really is (another user's, read-only)
    shared.mkdir()
    make_npz(shared / "breastmnist.npz")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "breastmnist.npz").symlink_to(shared / "breastmnist.npz")
    monkeypatch.setenv("MEDTRAIN_DATA", str(cache))
    return cache, shared


def test_a_run_on_a_linked_dataset_records_the_cache_folder(linked_cache, tmp_path):
    cache, _ = linked_cache
    medtrain.train(dict(dataset="breastmnist", out=str(tmp_path / "run"), **FAST), verbose=False)
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["data_dir"] == str(cache)


def test_medicalnet_weights_are_looked_for_in_the_cache_not_beside_the_linked_file(linked_cache, tmp_path,
                                                                                    monkeypatch):
    cache, shared = linked_cache
    tried = []

    def offline(url, dest):
        tried.append(dest)
        raise OSError("offline")

    monkeypatch.setattr(med3d, "_download", offline)
    cfg = dict(dataset="breastmnist", pretrained="medicalnet:10", transfer="finetune", **FAST)
    with pytest.raises(MedtrainError, match="not cached") as e:
        medtrain.train({**cfg, "out": str(tmp_path / "a")}, verbose=False)
    assert str(cache / "weights" / "resnet_10.pth") in str(e.value) and str(shared) not in str(e.value)
    assert tried == [cache / "weights" / "resnet_10.pth"]

    (cache / "weights").mkdir()
    torch.save({"state_dict": {f"module.{k}": v for k, v in med3d.build_resnet3d(10, 1, 2).state_dict().items()}},
               cache / "weights" / "resnet_10.pth")
    # found there: read, and refused for what it is (a 3D network's weights for a 2D one), nothing downloaded
    with pytest.raises(MedtrainError, match=r"conv1.weight has shape \(64, 1, 3, 3, 3\) in the source"):
        medtrain.train({**cfg, "out": str(tmp_path / "b")}, verbose=False)
    assert len(tried) == 1
