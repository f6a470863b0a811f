"""MedicalNet's published checkpoint layout, not medtrain's own, loads into ``med3d_resnet10``.

``fixtures/medicalnet_resnet10_keys.json`` lists the names and shapes of MedicalNet's ``resnet_10.pth``
(Chen et al., Med3D, 2019), derived from Tencent/MedicalNet's ``models/resnet.py``: nn.DataParallel's
``module.`` prefix, a segmentation head ``conv_seg.*``, no classifier. A random checkpoint with exactly
that layout must load through both of medtrain's readers: every backbone tensor lands, ``conv_seg`` is
ignored, and the only tensors the model misses are its fresh classifier's.
"""
import json
from pathlib import Path

import pytest
import torch

from medtrain.models import create_model, med3d
from medtrain.models.weights import load_state

LAYOUT = json.loads((Path(__file__).parent / "fixtures" / "medicalnet_resnet10_keys.json").read_text())["state_dict"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """``resnet_10.pth`` as MedicalNet saves it: ``{"state_dict": {"module.conv1.weight": ..., ...}}``."""
    g = torch.Generator().manual_seed(0)
    sd = {k: torch.tensor(7) if k.endswith("num_batches_tracked") else torch.randn(shape, generator=g)
          for k, shape in LAYOUT.items()}
    path = tmp_path_factory.mktemp("medicalnet") / "weights" / "resnet_10.pth"  # in a cache folder's weights/
    path.parent.mkdir()
    torch.save({"state_dict": sd}, path)
    return path


def _backbone_keys() -> set:
    return {k.removeprefix("module.") for k in LAYOUT if not k.startswith("module.conv_seg.")}


def test_the_fixture_is_medicalnets_layout():
    assert all(k.startswith("module.") for k in LAYOUT)
    assert LAYOUT["module.conv1.weight"] == [64, 1, 7, 7, 7]
    assert any(k.startswith("module.conv_seg.") for k in LAYOUT) and not any(".fc." in k for k in LAYOUT)
    # stem conv + 5 batch-norm tensors, 4 basic blocks x 12, projection shortcuts (layer2-4) x 6
    assert len(_backbone_keys()) == 6 + 4 * 12 + 3 * 6


def test_medicalnet_loader_puts_every_backbone_tensor_in_place(checkpoint):
    model = create_model("med3d_resnet10", in_chans=1, num_classes=2)
    fc_before = model.fc.weight.clone()
    report = med3d.load_medicalnet_weights(model, checkpoint, strict=True)
    assert set(report.loaded) == _backbone_keys()
    assert sorted(report.unexpected) == sorted(k.removeprefix("module.") for k in LAYOUT if "conv_seg" in k)
    assert report.missing == ["fc.weight", "fc.bias"] and report.mismatched == [] and report.adapted == []
    ckpt = torch.load(checkpoint, weights_only=True)["state_dict"]
    own = model.state_dict()
    for k in _backbone_keys():
        assert torch.equal(own[k], ckpt[f"module.{k}"]), k
    assert torch.equal(model.fc.weight, fc_before)  # the classifier is the model's own


def test_state_reader_of_the_transfer_path_strips_dataparallel_and_fits_the_model(checkpoint):
    # medicalnet:DEPTH as a --pretrained source: download_medicalnet (the cached file) then load_state
    assert med3d.download_medicalnet(10, data_dir=checkpoint.parent.parent) == checkpoint
    state = load_state(checkpoint)
    assert not any(k.startswith("module.") for k in state)
    model = create_model("med3d_resnet10", in_chans=1, num_classes=2)
    result = model.load_state_dict(state, strict=False)
    assert sorted(result.missing_keys) == ["fc.bias", "fc.weight"]
    assert all(k.startswith("conv_seg.") for k in result.unexpected_keys) and result.unexpected_keys


def test_a_loaded_medicalnet_backbone_classifies_a_small_volume(checkpoint):
    model = create_model("med3d_resnet10", in_chans=1, num_classes=3)
    med3d.load_medicalnet_weights(model, checkpoint, strict=True)
    with torch.no_grad():
        assert model.eval()(torch.rand(1, 1, 16, 16, 16)).shape == (1, 3)
