"""A scratch control asked for beside a source trains from scratch: ``medtrain train --pretrained A --transfer
scratch`` and compare's ``--pretrained A --vary transfer=scratch,finetune`` had fine-tuned the scratch cell (its
config.yaml said finetune, its weights equal to the finetune cell's, Δ +0.000), since ``Config(pretrained=...)``
fine-tunes (dd27c02) and each of them handed ``train`` a resolved Config whose transfer was the default."""
from __future__ import annotations

import torch
import yaml

from conftest import fast_config
from medtrain.api import train
from medtrain.cli import main
from medtrain.models.weights import load_state


def _transfer(run) -> str:
    return yaml.safe_load((run / "config.yaml").read_text())["transfer"]


def test_a_scratch_control_beside_a_source_trains_from_scratch(tiny_npz, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    src = tmp_path / "src"
    train(fast_config(tiny_npz, src, epochs=1, bootstrap=0), verbose=False)
    fast = ["--model", "resnet10_28_half", "--epochs", "1", "--bootstrap", "0", "--flip", "true", "--schedule",
            "none", "--precision", "32-true", "--accelerator", "cpu", "--no-progress"]
    assert main(["train", "--data", str(tiny_npz), "--pretrained", str(src), "--transfer", "scratch", *fast,
                 "--out", str(tmp_path / "cli")]) == 0
    assert _transfer(tmp_path / "cli") == "scratch"
    out = tmp_path / "cmp"
    assert main(["compare", "--data", str(tiny_npz), "--pretrained", str(src), "--vary", "transfer=scratch,finetune",
                 *fast, "--out", str(out)]) == 0
    assert _transfer(out / "transfer=scratch" / "seed0") == "scratch"
    assert _transfer(out / "transfer=finetune" / "seed0") == "finetune"
    # and its weights are its own: a scratch cell had been the finetune cell's weights, bit for bit
    first = "conv1.weight"
    a, b = (load_state(out / f"transfer={t}" / "seed0" / "model.safetensors") for t in ("scratch", "finetune"))
    s = load_state(src / "model.safetensors")
    assert not torch.allclose(a[first], b[first]) and not torch.allclose(a[first], s[first], atol=1e-3)
