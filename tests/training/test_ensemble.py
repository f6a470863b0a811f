"""``--members N``: a deep ensemble trained in one run. Each member learns as if trained alone, the saved
model averages their logits, and everything that uses a run (eval, predict, export, explain, the decision
rule) handles it as one network."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

import medtrain
from medtrain.runmodel import load_run_module
from medtrain.errors import MedtrainError
from medtrain.models.ensemble import Ensemble
from medtrain.models.heads import final_linear
from conftest import fast_config, make_npz


def test_the_ensemble_is_the_mean_of_its_members_logits_and_its_head_shifts_them():
    torch.manual_seed(0)
    a, b = nn.Linear(4, 3), nn.Linear(4, 3)
    ens = Ensemble([a, b], num_classes=3)
    x = torch.randn(5, 4)
    assert torch.allclose(ens(x), (a(x) + b(x)) / 2, atol=1e-6)
    assert final_linear(ens, 3) is ens.head and not any(p.requires_grad for p in ens.head.parameters())
    with torch.no_grad():
        final_linear(ens, 3).bias += torch.tensor([1.0, 0.0, -1.0])
    assert torch.allclose(ens(x), (a(x) + b(x)) / 2 + torch.tensor([1.0, 0.0, -1.0]), atol=1e-6)
    with pytest.raises(ValueError, match="at least 2 members"):
        Ensemble([a], 3)


def test_each_member_is_trained_as_if_alone():
    """The training step's gradients reach each member exactly as training that member alone would."""
    from types import SimpleNamespace

    from medtrain.training.module import Classifier

    torch.manual_seed(0)
    nets = [nn.Sequential(nn.Flatten(), nn.Linear(16, 2)) for _ in range(2)]
    alone = [copy.deepcopy(n) for n in nets]
    x = torch.randint(0, 255, (8, 1, 4, 4), dtype=torch.uint8)
    y = torch.tensor([0, 1] * 4)

    def step(model):
        mod = Classifier(model, "binary-class", 2, torch.zeros(1), torch.ones(1), {"seed": 0})
        mod._trainer = SimpleNamespace(optimizers=[torch.optim.SGD(model.parameters(), lr=0.1)])
        mod.log = lambda *a, **k: None
        return mod.training_step((x, y), 0)

    loss = step(Ensemble(nets, 2))
    loss.backward()
    solo_losses = [step(n) for n in alone]
    for solo_loss in solo_losses:
        solo_loss.backward()
    assert float(loss.detach()) == pytest.approx(sum(float(v.detach()) for v in solo_losses), abs=1e-6)
    for net, solo in zip(nets, alone):
        for p, q in zip(net.parameters(), solo.parameters()):
            assert torch.allclose(p.grad, q.grad, atol=1e-6)


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory):
    """A 3-epoch run of an ensemble of 2, what it printed and its data; shared by the tests that train one (each had
    trained its own)."""
    import contextlib
    import io

    root = tmp_path_factory.mktemp("ensemble")
    data = make_npz(root / "d.npz", noisy_test=2)
    out = root / "run"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        m = medtrain.train(fast_config(data, out, epochs=3, members=2))
    return out, m, printed.getvalue(), data


def test_an_ensemble_run_learns_records_its_members_and_is_used_like_any_run(ensemble_run):
    out, m, printed, data = ensemble_run
    ens = m["members_val_auc"]
    assert len(ens["members"]) == 2 and min(ens["members"]) > 0.9 and ens["ensemble"] > 0.9  # each learns it
    assert "ensemble of 2: val AUC" in printed
    report = (out / "report.html").read_text()
    assert "Ensemble of 2 networks" in report and f"the ensemble {ens['ensemble']:.3f}" in report
    run = load_run_module(out)
    assert isinstance(run.module.model, Ensemble) and len(run.module.model.members) == 2
    first, second = (next(m.parameters()) for m in run.module.model.members)
    assert not torch.allclose(first, second)  # two initialisations, two networks
    again = medtrain.evaluate(out, verbose=False)  # (its eval_test.json is read by no other test)
    assert m["test"]["auc"] < 1 and again["auc"] == pytest.approx(m["test"]["auc"], abs=1e-6)
    images = np.load(data)["test_images"][:6]
    probs = medtrain.load(out).predict(images)
    assert probs.shape == (6, 2) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_an_ensemble_exports_and_explains_as_the_mean_of_its_members_maps(ensemble_run, tmp_path):
    import dataclasses

    from medtrain.explain import explain
    from medtrain.export import export_run

    out, _, _, data = ensemble_run
    export_run(out, out=tmp_path / "m.onnx")  # raises when onnxruntime disagrees with PyTorch
    assert (tmp_path / "m.onnx").stat().st_size > 0
    images = np.load(data)["test_images"][:4][:, None]
    maps = explain(out, images)
    assert np.isfinite(maps.maps).all() and maps.maps.max() > 0
    run = load_run_module(out)
    ens = run.module.model
    alone = copy.deepcopy(run.module)
    alone.model = ens.members[0]
    one = dataclasses.replace(run, module=alone)
    assert maps.layer == explain(one, images).layer == "layer2"  # a member's layer, chosen as for one network
    # two identical members: the ensemble's map of a class is the one member's own (the class given: the
    # decision shift in the ensemble's head may change the predicted one)
    ens.members[1].load_state_dict(ens.members[0].state_dict())
    both, single = explain(run, images, target=1).maps, explain(one, images, target=1).maps
    assert single.max() > 0 and np.allclose(both, single, atol=1e-5)


def test_members_need_training_from_scratch(tmp_path):
    data = make_npz(tmp_path / "d.npz")
    with pytest.raises(MedtrainError, match="an ensemble trains without a source"):
        medtrain.train(fast_config(data, tmp_path / "r", members=2, transfer="finetune", pretrained=str(tmp_path)))
    with pytest.raises(MedtrainError, match=r"an ensemble trains without a source; a run with --pretrained .* \(transfer scratch\) trains one"):
        medtrain.train(fast_config(data, tmp_path / "r", members=2, transfer="scratch", pretrained=str(tmp_path)))
    with pytest.raises(MedtrainError, match=r"members must be 1 to 32 \(networks trained and averaged\), got 0"):
        medtrain.train(fast_config(data, tmp_path / "r", members=0))
    assert not (tmp_path / "r").exists()
