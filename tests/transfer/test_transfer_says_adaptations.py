"""What a transfer does to its source is said: a 2D source inflated for volumes says so on the console line
(``TransferPlan.summary`` had printed the first convolution's adaptation but not the inflation, recorded only as
``inflated_2d`` in metrics.json), and a weights file of another network names the model its metadata records
(``--pretrained runs/x/model.safetensors --model auto`` had failed "the source is a different architecture" alone)."""
from __future__ import annotations

import pytest
import torch

from conftest import run_cli
from medtrain.config import Config
from medtrain.errors import MedtrainError
from medtrain.models import create_model
from medtrain.models.inflate import inflate_model
from medtrain.models.weights import save_weights
from medtrain.training.transfer import apply_transfer

MODEL = "resnet10_28_half"


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    w = tmp_path / "model.safetensors"
    save_weights(create_model(MODEL, in_chans=1, num_classes=2), w, {"model": MODEL, "in_chans": 1})
    return w


def test_a_2d_source_inflated_for_volumes_says_so_on_its_line(weights):
    target = inflate_model(create_model(MODEL, in_chans=1, num_classes=2))
    plan = apply_transfer(target, Config(model=MODEL, pretrained=str(weights), transfer="linear-probe"))
    assert plan.inflated_2d > 0
    assert f"inflated 2D->3D ({plan.inflated_2d} kernels, I3D)" in plan.summary()
    flat = apply_transfer(create_model(MODEL, in_chans=1, num_classes=2),
                          Config(model=MODEL, pretrained=str(weights), transfer="finetune"))
    assert flat.inflated_2d == 0 and "inflated 2D" not in flat.summary()


def test_a_weights_file_of_another_network_names_the_model_it_records(weights, tmp_path, tiny_npz, capsys):
    with pytest.raises(MedtrainError, match=f"different architecture: file {weights} records the model {MODEL}; "
                                            f"use --model {MODEL} \\(now resnet18_28_half\\)"):
        apply_transfer(create_model("resnet18_28_half", in_chans=1, num_classes=2),
                       Config(model="resnet18_28_half", pretrained=str(weights), transfer="finetune"))
    out = tmp_path / "run"  # as typed: --model auto is the default network, not the file's
    code, _, err = run_cli(capsys, "train", "--data", tiny_npz, "--pretrained", weights, "--epochs", "1",
                           "--flip", "true", "--no-progress", "--bootstrap", "0", "--out", out)
    assert code == 2 and f"use --model {MODEL}" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_a_3d_source_on_2d_data_says_it_cannot_be_used_there(tmp_path):
    w = tmp_path / "med3d.safetensors"
    save_weights(create_model("med3d_resnet10", in_chans=1, num_classes=2), w, {"model": "med3d_resnet10"})
    with pytest.raises(MedtrainError, match=r"is a 3D network \(med3d_resnet10\) and these data are 2D") as e:
        apply_transfer(create_model(MODEL, in_chans=1, num_classes=2),
                       Config(model=MODEL, pretrained=str(w), transfer="finetune"))
    assert "use --model" not in str(e.value)  # a 3D network is not a model for these images
