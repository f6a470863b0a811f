"""A 3D ResNet built with ``weights="medicalnet"`` reads its MedicalNet file from the cache folder it is given
(``data_dir``, as a ``--pretrained medicalnet:DEPTH`` source does), not from $MEDTRAIN_DATA; and
``download_medicalnet`` takes that one folder (a second ``cache_dir`` had silently overridden it)."""
from __future__ import annotations

import inspect

import pytest
import torch

from medtrain._io import cache
from medtrain.models import create_model, med3d


def _cached(data_dir, seed=0):
    torch.manual_seed(seed)
    ref = med3d.build_resnet3d(10, 1, 2, small_input=False)
    folder = cache.folder(cache.WEIGHTS, data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref.state_dict().items() if not k.startswith("fc.")}},
               folder / "resnet_10.pth")
    return ref


@pytest.mark.parametrize("build", ["build_resnet3d", "create_model"])
def test_medicalnet_weights_are_read_from_the_data_dir_given(tmp_path, monkeypatch, build):
    ref = _cached(tmp_path / "run-cache")
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "elsewhere"))
    monkeypatch.setattr(med3d, "_download", lambda url, dest: pytest.fail(f"fetched {url} into {dest}"))
    if build == "build_resnet3d":
        model = med3d.build_resnet3d(10, 1, 2, small_input=False, weights="medicalnet", data_dir=tmp_path / "run-cache")
    else:
        model = create_model("med3d_resnet10", in_chans=1, num_classes=2, weights="medicalnet",
                             data_dir=str(tmp_path / "run-cache"))
    assert torch.equal(model.conv1.weight, ref.conv1.weight)
    assert not (tmp_path / "elsewhere").exists()


def test_download_medicalnet_takes_one_folder():
    params = inspect.signature(med3d.download_medicalnet).parameters
    assert [p for p in params if p != "depth"] == ["data_dir"]
