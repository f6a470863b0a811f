"""``--pretrained`` weights of the same network trained at another input size (a user walk, netzoo F2).

A ViT is built at the run's size (timm's ``img_size``): ImageNet's 224 px ViT weights, or a ViT run at 64 px, load
into a ViT at another size with the position embedding resampled to the target's patch grid by timm's own
``resample_abs_pos_embed`` (the class/distillation tokens kept), said in one line. A zoo ResNet's stem depends on
the size (medtrain's 3x3 small-input stem at 64 px or less): weights from the other side of 64 px are refused naming
the stem and the sizes that load them. Both had been refused as "the source is a different architecture", which is
kept for networks that are different.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import timm
import torch
from safetensors.torch import save_file
from timm.layers import resample_abs_pos_embed

from conftest import make_images, run_cli
from medtrain.errors import MedtrainError
from medtrain.models import create_model
from medtrain.models.pretrained import adapt_state_dict, load_source

VIT = "vit_tiny_patch16_224"


def _saved(name: str, path, **kwargs):
    """timm's ``name`` (built without download) saved as a safetensors file with exactly its state dict's keys
    and shapes, as ``timm.create_model(name, pretrained=True)`` gives them."""
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, **kwargs)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def _adapt(state: dict, target) -> tuple[dict, dict, list]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out, info = adapt_state_dict(state, target)
    return out, info, [str(w.message) for w in caught if type(w.message).__name__ ==
                       "PositionEmbeddingResampledWarning"]


@pytest.mark.parametrize("name, side, prefix, grid", [(VIT, 32, 1, 2), (VIT, 64, 1, 4),
                                                       ("deit_tiny_distilled_patch16_224", 64, 2, 4)])
def test_imagenet_shaped_vit_weights_load_at_another_size_with_the_position_embedding_resampled(
        tmp_path, name, side, prefix, grid):
    src = load_source(_saved(name, tmp_path / "w.safetensors")).state
    target = create_model(name, in_chans=3, num_classes=3, input_size=side)
    out, info, said = _adapt(src, target)
    expected = resample_abs_pos_embed(src["pos_embed"], new_size=[grid, grid], num_prefix_tokens=prefix)
    assert out["pos_embed"].shape == (1, prefix + grid * grid, 192)
    assert torch.equal(out["pos_embed"], expected)  # timm's own resampling, the class (and distillation) token kept
    assert torch.equal(out["pos_embed"][:, :prefix], src["pos_embed"][:, :prefix])
    others = [k for k in out if k != "pos_embed"]
    assert len(others) > 100 and all(torch.equal(out[k], src[k]) for k in others)  # every other weight as it was
    assert not any(k.startswith(("head.", "head_dist.")) for k in out)  # new heads (DeiT's distillation head too)
    assert f"14x14 -> {grid}x{grid} patches (224x224 -> {side}x{side} px)" in info["pos_embed"]
    assert len(said) == 1 and info["pos_embed"] in said[0] and "\n" not in said[0]
    target.load_state_dict(out, strict=False)
    assert target(torch.zeros(2, 3, side, side)).shape == (2, 3)


def test_a_vit_run_at_one_size_seeds_a_vit_at_another(tmp_path):
    """A 64 px ViT's weights into a 32 px one (a run's own model.safetensors has the same keys)."""
    src = timm.create_model(VIT, pretrained=False, img_size=64, num_classes=2).state_dict()
    out, info, said = _adapt(src, create_model(VIT, num_classes=2, input_size=32))
    assert torch.equal(out["pos_embed"], resample_abs_pos_embed(src["pos_embed"], new_size=[2, 2]))
    assert "4x4 -> 2x2 patches (64x64 -> 32x32 px)" in info["pos_embed"] and len(said) == 1


def test_one_epoch_trains_from_224_px_vit_weights_at_32_px(tmp_path, capsys):
    data = _rgb_npz(tmp_path, (24, 12, 12))
    weights = _saved(VIT, tmp_path / "vit224.safetensors")
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--data", data, "--pretrained", weights, "--model", VIT, "--epochs", "1",
                           "--batch-size", "12", "--flip", "true", "--bootstrap", "0", "--no-progress", "--out", out)
    assert code == 0, err
    said = [line for line in err.splitlines() if "position embedding resampled" in line]
    assert said == ["medtrain: warning: pretrained: the source's position embedding resampled to the target's patch "
                    "grid, 14x14 -> 2x2 patches (224x224 -> 32x32 px), bicubic, the class token kept (timm's "
                    "resample_abs_pos_embed)"]
    transfer = json.loads((out / "metrics.json").read_text())["transfer"]
    assert transfer["strategy"] == "finetune" and transfer["copied_tensors"] > 100


def test_a_resnet_stem_from_the_other_side_of_64_px_is_refused_naming_the_stem_and_the_sizes():
    imagenet = timm.create_model("resnet18", pretrained=False).state_dict()  # 7x7 conv1, as ImageNet's
    with pytest.raises(MedtrainError) as e:
        adapt_state_dict(imagenet, create_model("resnet18", num_classes=3, input_size=64))
    msg = str(e.value)
    assert "different architecture" not in msg and "\n" not in msg
    assert ("the source has resnet18's standard 7x7 stem (trained at more than 64 px), the target medtrain's "
            "small-input 3x3 stem (built at 64 px or less), the same network at another input size; its weights "
            "load at more than 64 px (--image-size 65 or more" in msg)
    small = create_model("resnet18", num_classes=3, input_size=64).state_dict()  # a resnet18 run at 64 px
    with pytest.raises(MedtrainError) as e:
        adapt_state_dict(small, create_model("resnet18", num_classes=3, input_size=96))
    assert ("the source has medtrain's small-input 3x3 stem (trained at 64 px or less), the target resnet18's "
            "standard 7x7 stem (built at more than 64 px)" in str(e.value))
    assert "load at 64 px or less (--image-size 64 or less" in str(e.value)
    adapt_state_dict(small, create_model("resnet18", num_classes=3, input_size=48))  # same side of 64 px: loads


def test_the_stem_refusal_on_the_command_line_is_one_line_exit_2(tmp_path, capsys):
    weights = _saved("resnet18", tmp_path / "r18_224.safetensors")
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--data", _rgb_npz(tmp_path), "--pretrained", weights, "--model",
                           "resnet18", "--epochs", "1", "--flip", "true", "--bootstrap", "0", "--no-progress",
                           "--out", out)
    errors = [line for line in err.splitlines() if line.startswith("medtrain: error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err and not out.exists()
    assert "standard 7x7 stem" in errors[0] and "different architecture" not in errors[0]


def _rgb_npz(tmp_path, sizes=(16, 8, 8)):
    """Learnable RGB images of 32 px (train/val/test of ``sizes``) in MedMNIST layout."""
    arrays = {}
    for split, n, seed in zip(("train", "val", "test"), sizes, (0, 1, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, size=32, channels=3, seed=seed)
    np.savez(tmp_path / "rgb32.npz", **arrays)
    return tmp_path / "rgb32.npz"


@pytest.mark.parametrize("source, target, side", [
    ("resnet34", "resnet18", 64),  # stems differ, and the source is deeper: not resnet18 at another size
    ("resnet18", "resnet18_28", 96),  # medtrain's MedMNIST ResNet has the 3x3 stem at every size
    ("vit_small_patch16_224", VIT, 64),  # another width: no resampling makes it fit
])
def test_a_genuinely_different_network_is_still_a_different_architecture(source, target, side):
    state = timm.create_model(source, pretrained=False).state_dict()
    with pytest.raises(MedtrainError, match="the source is a different architecture$"):
        adapt_state_dict(state, create_model(target, num_classes=3, input_size=side))
