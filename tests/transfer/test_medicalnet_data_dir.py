"""A run's ``--data-dir`` is the cache folder its MedicalNet source weights are read from, as every other
download reads it (``medtrain train --pretrained medicalnet:10 --data-dir DIR`` had looked in $MEDTRAIN_DATA)."""
from __future__ import annotations

import pytest
import torch

from medtrain.config import Config
from medtrain.models import create_model, med3d
from medtrain.training.transfer import apply_transfer


def test_a_medicalnet_source_is_read_from_the_runs_data_dir(tmp_path, monkeypatch):
    torch.manual_seed(0)
    ref = med3d.build_resnet3d(10, 1, 2, small_input=False)
    other = tmp_path / "run-cache"  # the run's --data-dir, not $MEDTRAIN_DATA
    (other / "weights").mkdir(parents=True)
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref.state_dict().items() if not k.startswith("fc.")}},
               other / "weights" / "resnet_10.pth")
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "elsewhere"))
    monkeypatch.setattr(med3d, "_download", lambda url, dest: pytest.fail(f"fetched {url} into {dest}"))
    model = create_model("med3d_resnet10", num_classes=2, in_chans=1)
    cfg = Config(model="med3d_resnet10", pretrained="medicalnet:10", transfer="finetune-top:0",
                 data_dir=str(other))
    plan = apply_transfer(model, cfg)
    assert plan.source == "medicalnet:10"
    assert torch.equal(model.state_dict()["conv1.weight"], ref.state_dict()["conv1.weight"])
    assert not (tmp_path / "elsewhere").exists()
