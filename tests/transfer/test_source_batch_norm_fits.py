"""A source's batch norms go where the target has them. ``--pretrained RUN --no-batch-norm`` from a source trained with
batch norm had dropped its 105 BatchNorm tensors without a word while the run line said every stage was "copied"
(metrics.json ``copied_tensors`` 21 of 126; a linear probe's test AUC 0.730 against 0.880 with batch norm, a fine-tune
0.500): the "copied" convolutions, learnt for normalised inputs, computed something else. Refused in one line now,
before anything is written, naming the way out; the reverse direction says the way out too, and the record names the
stages a tensor was loaded into (a user walkthrough)."""
from __future__ import annotations

import pytest
import torch

from conftest import run_cli
from medtrain.config import Config
from medtrain.errors import MedtrainError
from medtrain.models import create_model
from medtrain.models.weights import load_state, save_weights
from medtrain.training import transfer
from medtrain.training.transfer import apply_transfer

MODEL = "resnet18_28_half"


def _norm_tensors(state: dict) -> int:
    norms = {k.rsplit(".", 1)[0] for k in state if k.endswith(".running_mean")}
    return sum(k.rsplit(".", 1)[0] in norms for k in state)


@pytest.mark.parametrize("strategy", ["linear-probe", "finetune"])
def test_a_source_with_batch_norm_is_refused_onto_a_target_without_naming_what_would_be_lost(
        trained_run, tmp_path, capsys, strategy):
    run, data, _ = trained_run  # a resnet18_28_half trained with batch norm
    lost = _norm_tensors(load_state(run / "model.safetensors"))
    out = tmp_path / "target"
    epochs = ["--epochs", "1"] if strategy == "finetune" else []
    code, stdout, err = run_cli(capsys, "train", "--data", data, "--model", MODEL, "--pretrained", run, "--transfer",
                                strategy, "--no-batch-norm", *epochs, "--bootstrap", "0", "--accelerator", "cpu",
                                "--no-progress", "--out", out)
    assert code == 2 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if "error" in ln]
    assert len(lines) == 1, err
    assert f"{lost} tensors of the source" in lines[0] and "batch norm" in lines[0]
    assert "drop --no-batch-norm, or train the source without batch norm" in lines[0]
    assert "copied" not in stdout  # no "copied stem,layer1,..." line: nothing was copied
    assert not out.exists()  # refused before training: nothing half-written


def test_a_source_without_batch_norm_needs_a_target_without_it_and_says_so(tmp_path):
    torch.manual_seed(0)
    src = create_model(MODEL, in_chans=1, num_classes=2, batch_norm=False)
    w = tmp_path / "nobn.safetensors"
    save_weights(src, w, {"model": MODEL, "in_chans": 1, "num_classes": 2})
    cfg = Config(model=MODEL, pretrained=str(w), transfer="linear-probe")
    with pytest.raises(MedtrainError, match=r"its batch norms, and the source was trained without batch norm: add "
                                            r"--no-batch-norm$"):
        apply_transfer(create_model(MODEL, in_chans=1, num_classes=2), cfg)
    # with it, the probe's network is the source's own: every tensor copied (why a probe reads --no-batch-norm)
    target = create_model(MODEL, in_chans=1, num_classes=2, batch_norm=False)
    plan = apply_transfer(target, Config(model=MODEL, pretrained=str(w), transfer="linear-probe", batch_norm=False))
    features = {k for k in src.state_dict() if not k.startswith("fc.")}
    assert plan.copied_tensors == len(features) and plan.copied == plan.stages
    assert all(torch.equal(target.state_dict()[k], src.state_dict()[k]) for k in features)


def test_the_record_names_the_stages_a_tensor_was_loaded_into(tmp_path, monkeypatch):
    torch.manual_seed(0)
    src = create_model(MODEL, in_chans=1, num_classes=2)
    w = tmp_path / "a.safetensors"
    save_weights(src, w, {"model": MODEL, "in_chans": 1, "num_classes": 2})
    real = transfer.adapt_state_dict

    def stem_only(state, model):  # a source of which only the stem's tensors fit
        out, info = real(state, model)
        return {k: v for k, v in out.items() if not k.startswith(("layer", "fc."))}, info

    monkeypatch.setattr(transfer, "adapt_state_dict", stem_only)
    plan = apply_transfer(create_model(MODEL, in_chans=1, num_classes=2),
                          Config(model=MODEL, pretrained=str(w), transfer="finetune"))
    assert plan.copied == ["stem"] and plan.to_dict()["copied"] == ["stem"]
