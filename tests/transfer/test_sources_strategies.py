"""Specifications of transfer sources and strategies (no internet: every source is made here)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from medtrain.config import resolve
from medtrain.errors import MedtrainError
from medtrain.models import create_model
from medtrain.models.weights import save_weights
from medtrain.models.pretrained import adapt_state_dict, load_source
from medtrain.models.stages import model_stages
from medtrain.training.transfer import apply_transfer
from medtrain.models.stages import stage_names

MODEL = "resnet10_28_half"


def make_source(run_dir, in_chans=1, seed=0, data="x.npz"):
    """A source run directory whose every tensor differs from any default initialisation:
    each parameter is re-drawn as N(m, s^2) with its own random m and s."""
    torch.manual_seed(seed)
    model = create_model(MODEL, in_chans=in_chans, num_classes=2)
    with torch.no_grad():
        for p in model.parameters():
            m, s = float(torch.randn(())) * 0.3, 0.05 + float(torch.rand(())) * 0.2
            p.copy_(torch.randn_like(p) * s + m)
        for b_name, b in model.named_buffers():
            if b.dtype.is_floating_point:
                b.copy_(torch.rand_like(b) + 0.5)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_weights(model, run_dir / "model.safetensors", {"model": MODEL, "in_chans": in_chans, "num_classes": 2,
                                                        "mean": [0.5] * in_chans, "std": [0.25] * in_chans})
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"data": data, "dataset": None, "model": MODEL}))
    (run_dir / "metrics.json").write_text("{}")  # a finished run (an unfinished one is no source)
    return model.eval()


def target(tmp_path, in_chans, transfer, **over):
    cfg = resolve({"data": "x.npz", "model": MODEL, "transfer": transfer, "pretrained": str(tmp_path / "A"), **over})
    torch.manual_seed(1)
    return create_model(MODEL, in_chans=in_chans, num_classes=3), cfg


def adapted(tmp_path, model):
    state, _ = adapt_state_dict(load_source(tmp_path / "A").state, model)
    return state


# --- sources


def test_run_directory_source_has_weights_and_metadata(tmp_path):
    make_source(tmp_path / "A")
    src = load_source(tmp_path / "A")
    assert src.model == MODEL and src.meta["in_chans"] == 1 and src.run_dir == tmp_path / "A"
    assert "conv1.weight" in src.state


def test_torch_checkpoint_only_with_weights_only(tmp_path):
    a = make_source(tmp_path / "A")
    torch.save({"state_dict": a.state_dict()}, tmp_path / "w.pt")
    src = load_source(tmp_path / "w.pt")
    assert torch.equal(src.state["conv1.weight"], a.conv1.weight)
    torch.save({"evil": np.random.default_rng(0)}, tmp_path / "bad.pt")  # needs arbitrary unpickling
    with pytest.raises(MedtrainError, match="weights-only"):
        load_source(tmp_path / "bad.pt")


def test_missing_source_is_one_line_error(tmp_path):
    with pytest.raises(MedtrainError) as e:
        load_source(tmp_path / "nope")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("src_c,dst_c", [(1, 3), (3, 1)])
def test_channel_adaptation_keeps_the_response_to_a_grey_image(tmp_path, src_c, dst_c):
    a = make_source(tmp_path / "A", in_chans=src_c)
    b = create_model(MODEL, in_chans=dst_c, num_classes=5)
    b.load_state_dict(adapted(tmp_path, b), strict=False)
    b.eval()
    grey = torch.rand(4, 1, 16, 16)
    xa, xb = grey.repeat(1, src_c, 1, 1), grey.repeat(1, dst_c, 1, 1)
    with torch.no_grad():
        fa, fb = a.forward_features(xa), b.forward_features(xb)
    assert torch.allclose(fa, fb, atol=1e-4, rtol=1e-4)


def test_new_head_for_a_different_number_of_classes(tmp_path):
    make_source(tmp_path / "A")
    b, cfg = target(tmp_path, 1, "finetune")
    plan = apply_transfer(b, cfg)
    assert b.fc.out_features == 3 and plan.head.startswith("new fc")


def test_hub_path_loads_a_local_file_through_timm(tmp_path):
    import timm

    ref = timm.create_model("resnet10t", pretrained=False)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(tmp_path / "in1k.safetensors"))
    src = load_source("timm:resnet10t.c3_in1k", pretrained_cfg_overlay=dict(file=str(tmp_path / "in1k.safetensors")))
    assert src.origin == "timm:resnet10t.c3_in1k" and src.meta["in_chans"] == 3
    assert torch.equal(src.state["conv1.0.weight"], ref.state_dict()["conv1.0.weight"])


def test_torchvision_hub_path_reads_the_torch_hub_cache(tmp_path, monkeypatch):
    import torchvision

    ref = torchvision.models.resnet18()
    url = torchvision.models.get_model_weights("resnet18").DEFAULT.url
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))  # what TORCH_HOME would choose
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(ref.state_dict(), tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[1])  # a cached download
    src = load_source("torchvision:resnet18")
    assert src.origin == "torchvision:resnet18" and src.model == "resnet18" and src.meta["in_chans"] == 3
    assert torch.equal(src.state["conv1.weight"], ref.state_dict()["conv1.weight"])


def test_torchvision_offline_without_cache_is_one_clear_line(tmp_path, monkeypatch):
    import urllib.error

    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "empty-hub"))

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(MedtrainError) as e:
        load_source("torchvision:resnet18")
    msg = str(e.value)
    assert "\n" not in msg and "no network and no cached copy" in msg and "URLError" in msg


def test_offline_hub_without_cache_is_one_clear_line(tmp_path, monkeypatch):
    import huggingface_hub.constants as hf

    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", True)  # no network here anyway; offline mode skips the retries
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(MedtrainError) as e:
        load_source("timm:resnet10t.c3_in1k")
    msg = str(e.value)
    assert "\n" not in msg and "no network and no cached copy" in msg and "--pretrained PATH" in msg


def test_an_unreachable_hub_serves_its_cache_at_once_and_fails_fast_without_one(tmp_path, monkeypatch):
    """Offline, the hub client retried each file 5 times (~55 s, ~20 log lines) before the one-line error."""
    import socket
    import time

    import huggingface_hub.constants as hf
    import timm
    from safetensors.torch import save_file

    def no_dns(*a, **k):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path / "hub"))
    start = time.perf_counter()
    with pytest.raises(MedtrainError, match="no network and no cached copy"):
        load_source("timm:resnet10t.c3_in1k")
    assert time.perf_counter() - start < 10 and hf.HF_HUB_OFFLINE is False  # the user's setting is restored
    ref = timm.create_model("resnet10t", pretrained=False)
    snapshot = tmp_path / "hub" / "models--timm--resnet10t.c3_in1k" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(snapshot / "model.safetensors"))
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("a" * 40)  # what a past download leaves in the cache
    src = load_source("timm:resnet10t.c3_in1k")
    assert torch.equal(src.state["conv1.0.weight"], ref.state_dict()["conv1.0.weight"])


# --- strategies


def test_stages_stem_is_zero_and_head_is_separate():
    m = create_model(MODEL, in_chans=1, num_classes=2)
    st = model_stages(m)
    assert st["conv1.weight"] == 0 and st["bn1.weight"] == 0
    assert st["layer1.0.conv1.weight"] == 1 and st["layer4.0.conv2.weight"] == 4
    assert st["fc.weight"] == "head"
    assert stage_names(m) == ["stem", "layer1", "layer2", "layer3", "layer4"]


@pytest.mark.parametrize("k", [1, 2, 4])
def test_partial_copies_exactly_the_lowest_k_stages(tmp_path, k):
    make_source(tmp_path / "A")
    b, cfg = target(tmp_path, 3, f"partial:{k}")
    src = adapted(tmp_path, b)
    plan = apply_transfer(b, cfg)
    assert plan.copied == ["stem", "layer1", "layer2", "layer3", "layer4"][:k]
    stages = model_stages(b)
    for name, p in b.named_parameters():
        same = name in src and torch.equal(p.detach(), src[name])
        assert same == (stages[name] != "head" and stages[name] < k), name
    # the copied stages' batch-norm statistics come along, the others keep their fresh values
    assert torch.equal(b.bn1.running_mean, src["bn1.running_mean"])
    assert not torch.equal(b.layer4[0].bn1.running_mean, src["layer4.0.bn1.running_mean"])


def test_scale_matches_mean_and_std_per_layer_but_copies_nothing(tmp_path):
    make_source(tmp_path / "A")
    b, cfg = target(tmp_path, 3, "scale")
    src = adapted(tmp_path, b)
    plan = apply_transfer(b, cfg)
    assert plan.copied == [] and plan.redrawn == stage_names(b)
    stages = model_stages(b)
    checked = 0
    for name, p in b.named_parameters():
        if stages[name] == "head" or p.numel() < 512:
            continue
        w, s = p.detach().flatten(), src[name].flatten()
        n = w.numel()
        assert abs(w.mean() - s.mean()) < 5 * s.std() / n ** 0.5 + 1e-6, name  # within sampling error
        assert abs(w.std() / s.std() - 1) < 5 / (2 * n) ** 0.5 + 0.01, name
        corr = torch.corrcoef(torch.stack([w, s]))[0, 1]
        assert abs(corr) < 5 / n ** 0.5 + 0.02, name  # independent draws, not the source's weights
        checked += 1
    assert checked >= 10


def test_finetune_lr_multipliers_reach_the_optimiser_and_onecycle(tmp_path):
    from medtrain.training.optim import build_optimizer, build_scheduler

    make_source(tmp_path / "A")
    b, cfg = target(tmp_path, 1, "finetune", backbone_lr_mult=0.1, layer_decay=0.5)
    plan = apply_transfer(b, cfg)
    assert plan.lr_mult["layer4"] == pytest.approx(0.05) and plan.lr_mult["stem"] == pytest.approx(0.1 * 0.5 ** 5)
    opt = build_optimizer(b, "adamw", 1e-2, 1e-4, lr_mult=plan.param_lr_mult, deferred=plan.deferred)
    by_param = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert by_param[id(b.fc.weight)] == pytest.approx(1e-2)
    assert by_param[id(b.layer4[0].conv1.weight)] == pytest.approx(1e-2 * 0.05)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-2)  # group 0 (logged as "lr") keeps the base rate
    sched = build_scheduler(opt, "onecycle", 2, 5, 1e-2)["scheduler"]
    peaks = [g["max_lr"] for g in opt.param_groups]
    assert max(peaks) == pytest.approx(1e-2) and min(peaks) == pytest.approx(1e-2 * 0.1 * 0.5 ** 5)
    assert sched is not None


def test_config_validation_of_transfer_keys():
    with pytest.raises(MedtrainError, match="needs --pretrained"):
        resolve({"data": "x.npz", "transfer": "finetune"})
    with pytest.raises(MedtrainError, match="did you mean"):
        resolve({"data": "x.npz", "transfer": "fintune", "pretrained": "A"})
    with pytest.raises(MedtrainError, match="finetune-top:K"):
        resolve({"data": "x.npz", "transfer": "finetune-top", "pretrained": "A"})
    with pytest.raises(MedtrainError, match="unfreeze_every"):
        resolve({"data": "x.npz", "transfer": "finetune", "pretrained": "A", "unfreeze_every": 2})
    with pytest.raises(MedtrainError, match="probe classifier"):
        resolve({"data": "x.npz", "transfer": "linear-probe", "pretrained": "A", "probe_classifier": "knn"})
    c = resolve({"data": "x.npz", "transfer": "finetune", "pretrained": "A", "layer_decay": "0.7"})
    assert c.layer_decay == 0.7


def test_partial_k_out_of_range(tmp_path):
    make_source(tmp_path / "A")
    b, cfg = target(tmp_path, 1, "partial:9")
    with pytest.raises(MedtrainError, match="1 <= K <= 5"):
        apply_transfer(b, cfg)


def test_wrong_model_for_the_source_names_the_right_one(tmp_path):
    make_source(tmp_path / "A")
    cfg = resolve({"data": "x.npz", "model": "resnet18_28", "transfer": "finetune", "pretrained": str(tmp_path / "A")})
    with pytest.raises(MedtrainError, match=f"--model {MODEL}"):
        apply_transfer(create_model("resnet18_28", in_chans=1, num_classes=2), cfg)
