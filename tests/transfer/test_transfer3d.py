"""The transfer strategies on 3D ResNets (issue 6): the same stages, copies, freezing and probes as in 2D,
from a medtrain 3D run or from MedicalNet's weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medtrain.api import evaluate, train
from medtrain.errors import MedtrainError
from medtrain.models import create_model
from medtrain.models.weights import load_state
from medtrain.models.pretrained import load_source
from medtrain.models.stages import stage_names

# float32: bf16 3D training on this CPU has given non-finite gradients now and then, and a fine-tuning run whose
# few steps were all skipped (training.callbacks.SkipNonFiniteSteps) left layer4 unchanged in one fresh-ci run
BASE = dict(model="med3d_resnet10", epochs=1, batch_size=16, progress=False, bootstrap=0, accelerator="cpu",
            schedule="none", tta="none", precision="32-true", flip="true")  # no flip pilots (test_choices.py)


def _volumes(n: int, seed: int):
    """Learnable two-class 16^3 volumes: class 1 carries a bright cube."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.integers(0, 60, (n, 16, 16, 16)).astype(np.uint8)
    x[y == 1, 4:10, 4:10, 4:10] += 150
    return x, y.reshape(-1, 1).astype(np.uint8)


@pytest.fixture(scope="module")
def volumes(tmp_path_factory):
    root = tmp_path_factory.mktemp("vol")
    for name, off in (("src", 0), ("tgt", 10)):
        arrays = {}
        for split, n, seed in (("train", 32, 0), ("val", 16, 1), ("test", 16, 2)):
            arrays[f"{split}_images"], arrays[f"{split}_labels"] = _volumes(n, seed + off)
        np.savez(root / f"{name}.npz", **arrays)
    # an ensemble of two, as the default volume run is where bf16 is native (members: auto)
    train({**BASE, "data": str(root / "src.npz"), "out": str(root / "A"), "members": 2}, verbose=False)
    return root


def test_3d_resnets_list_stem_and_four_stages_and_give_intermediates():
    m = create_model("med3d_resnet10", in_chans=1, num_classes=2).eval()
    assert stage_names(m) == ["stem", "layer1", "layer2", "layer3", "layer4"]
    x = torch.randn(2, 1, 32, 32, 32)
    feats = m.forward_intermediates(x, indices=[0, 2, 4])
    assert [f.shape[1] for f in feats] == [m.feature_info[i]["num_chs"] for i in (0, 2, 4)]
    assert [32 // f.shape[-1] for f in feats] == [m.feature_info[i]["reduction"] for i in (0, 2, 4)]
    assert torch.allclose(m.forward_head(m.forward_features(x)), m(x))


def test_finetune_top_freezes_the_lower_3d_stages(volumes, tmp_path):
    out = tmp_path / "top1"
    m = train({**BASE, "data": str(volumes / "tgt.npz"), "out": str(out), "transfer": "finetune-top:1",
               "pretrained": str(volumes / "A"), "epochs": 2}, verbose=False)
    assert m["transfer"]["frozen"] == ["stem", "layer1", "layer2", "layer3"]
    src, got = load_source(volumes / "A").state, load_state(out / "model.safetensors")
    assert torch.equal(got["layer3.0.conv1.weight"], src["layer3.0.conv1.weight"])
    assert torch.equal(got["bn1.running_mean"], src["bn1.running_mean"])  # frozen BN statistics too
    assert not torch.equal(got["layer4.0.conv1.weight"], src["layer4.0.conv1.weight"])


def test_partial_copies_exactly_the_lowest_3d_stages(volumes, tmp_path):
    from medtrain import config as config_mod
    from medtrain.training.transfer import apply_transfer

    cfg = config_mod.resolve({**BASE, "data": str(volumes / "tgt.npz"), "transfer": "partial:2",
                              "pretrained": str(volumes / "A")})
    b = create_model("med3d_resnet10", in_chans=1, num_classes=2)
    plan = apply_transfer(b, cfg)
    assert plan.copied == ["stem", "layer1"] and plan.random == ["layer2", "layer3", "layer4"]
    src = load_source(volumes / "A").state
    assert torch.equal(b.layer1[0].conv1.weight, src["layer1.0.conv1.weight"])
    assert not torch.equal(b.layer2[0].conv1.weight, src["layer2.0.conv1.weight"])


def test_an_ensemble_source_gives_its_member_best_on_validation(volumes):
    """A is an ensemble of two networks; transfer takes one of them."""
    import json

    whole = load_state(volumes / "A" / "model.safetensors")
    assert {k.split(".")[1] for k in whole if k.startswith("members.")} == {"0", "1"}
    aucs = json.loads((volumes / "A" / "metrics.json").read_text())["members_val_auc"]["members"]
    best = max(range(2), key=lambda i: aucs[i])
    src = load_source(volumes / "A")
    assert src.origin.endswith(f"(member {best} of an ensemble of 2)")
    assert set(src.state) == {k[len("members.0."):] for k in whole if k.startswith("members.0.")}
    assert torch.equal(src.state["conv1.weight"], whole[f"members.{best}.conv1.weight"])


def test_a_3d_linear_probe_on_an_earlier_stage_runs_and_evaluates(volumes, tmp_path):
    out = tmp_path / "probe"
    m = train({**BASE, "data": str(volumes / "tgt.npz"), "out": str(out), "transfer": "linear-probe",
               "probe_layer": "layer3", "pretrained": str(volumes / "A")}, verbose=False)
    assert m["probe"]["layer"] == "layer3" and m["probe"]["feature_dim"] == 256
    assert evaluate(out, verbose=False)["auc"] == pytest.approx(m["test"]["auc"], abs=1e-6)


def test_medicalnet_weights_are_a_transfer_source(volumes, tmp_path, monkeypatch):
    from medtrain.models import med3d

    torch.manual_seed(0)
    ref = med3d.build_resnet3d(10, 1, 2, small_input=False)
    sd = {f"module.{k}": v for k, v in ref.state_dict().items() if not k.startswith("fc.")}
    sd["module.conv_seg.0.weight"] = torch.zeros(2, 512, 1, 1, 1)  # MedicalNet's segmentation head
    (tmp_path / "weights").mkdir()
    torch.save({"state_dict": sd}, tmp_path / "weights" / "resnet_10.pth")  # as if downloaded before
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path))
    monkeypatch.setattr(med3d, "_download", lambda url, dest: pytest.fail("must use the cached file"))
    src = load_source("medicalnet:10")
    assert src.model == "med3d_resnet10" and "conv1.weight" in src.state
    m = train({**BASE, "data": str(volumes / "tgt.npz"), "out": str(tmp_path / "mn"), "transfer": "finetune-top:0",
               "pretrained": "medicalnet:10"}, verbose=False)
    assert m["transfer"]["source"] == "medicalnet:10" and m["transfer"]["copied_tensors"] > 0
    got = load_state(tmp_path / "mn" / "model.safetensors")
    assert torch.equal(got["conv1.weight"], ref.state_dict()["conv1.weight"])  # every stage frozen
    # the same checkpoint as a plain file: the "module." prefix of nn.DataParallel is dropped
    assert torch.equal(load_source(tmp_path / "weights" / "resnet_10.pth").state["conv1.weight"],
                       ref.state_dict()["conv1.weight"])


def test_medicalnet_source_needs_a_known_depth():
    with pytest.raises(MedtrainError, match="depth in 10, 18"):
        load_source("medicalnet:11")


@pytest.mark.parametrize("model", ["auto", "resnet10_28_half"])
def test_a_3d_source_for_2d_images_is_refused_saying_why_whatever_the_model(volumes, tiny_npz, tmp_path, model):
    """With ``--model auto`` the 3D source's network had been built for 2D images ("3D ResNets take (B, C, D, H, W)
    volumes"); with a 2D ``--model``, the line said "use --model med3d_resnet10", which led back to that (a walk)."""
    cfg = {**BASE, "model": model, "data": str(tiny_npz), "out": str(tmp_path / "x"), "pretrained": str(volumes / "A")}
    with pytest.raises(MedtrainError, match=r"^pretrained: run .*A \(member \d of an ensemble of 2\) is a 3D network "
                                            r"\(med3d_resnet10\) and these data are 2D; a 2D source can be inflated to "
                                            r"3D, not the reverse$"):
        train(cfg, verbose=False)
    assert not (tmp_path / "x").exists()
