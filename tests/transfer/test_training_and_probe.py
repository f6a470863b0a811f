"""Transfer through ``medtrain.train``: frozen stages stay fixed, gradual unfreezing, the plan in the run,
and the linear probe's cached CNN codes with C chosen on validation."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from medtrain.api import evaluate, train
from medtrain.models.weights import load_state

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import fast_config, make_images  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A grey source dataset and an RGB target (same task), MedMNIST layout, 16x16."""
    root = tmp_path_factory.mktemp("transfer")
    for name, ch, off in (("grey", 1, 0), ("rgb", 3, 10)):
        arrays = {}
        for split, n, seed in (("train", 96, 0), ("val", 32, 1), ("test", 32, 2)):
            arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, channels=ch, seed=seed + off)
        np.savez(root / f"{name}.npz", **arrays)
    train(fast_config(root / "grey.npz", root / "A", epochs=1), verbose=False)  # the source model A
    return root


def test_frozen_stages_do_not_change_and_the_plan_is_written(data, tmp_path, capsys):
    out = tmp_path / "B"
    m = train(fast_config(data / "rgb.npz", out, epochs=2, transfer="finetune-top:1", pretrained=str(data / "A")),
              verbose=False)
    assert "transfer finetune-top:1 from run" in capsys.readouterr().out  # the one-line summary
    plan = m["transfer"]
    assert plan["frozen"] == ["stem", "layer1", "layer2", "layer3"] and plan["first_conv"] == "1->3 (repeat/3)"
    src, got = load_state(data / "A" / "model.safetensors"), load_state(out / "model.safetensors")
    for k, v in got.items():
        if k.startswith("fc.") or k == "conv1.weight" or k.endswith("num_batches_tracked"):
            continue
        if k.startswith("layer4."):
            if k.endswith("weight") and v.ndim > 1:
                assert not torch.equal(v, src[k]), f"{k} was trained"
        else:  # parameters and batch-norm statistics of frozen stages are unchanged
            assert torch.equal(v, src[k]), k
    assert torch.allclose(got["conv1.weight"], src["conv1.weight"].repeat(1, 3, 1, 1) / 3)
    assert (out / "config.yaml").read_text().count("transfer: finetune-top:1") == 1


def test_gradual_unfreezing_trains_one_more_stage_per_period(data, tmp_path):
    out = tmp_path / "G"
    # the last epoch's weights, so that what each stage did in epochs 1 and 2 is in the saved model
    m = train(fast_config(data / "grey.npz", out, epochs=3, transfer="finetune-top:0", unfreeze_every=1,
                          checkpoint="last", pretrained=str(data / "A")), verbose=False)
    assert [h["trainable_stages"] for h in m["history"]] == [0, 1, 2]
    # the record says what training left frozen, and when each other stage was unfrozen (it had still listed
    # layer3 and layer4 as frozen after both were trained; a user walkthrough)
    assert m["transfer"]["frozen"] == ["stem", "layer1", "layer2"]
    assert m["transfer"]["unfrozen_at"] == {"layer4": 1, "layer3": 2}
    page = (out / "report.html").read_text()  # the report says it too, in its epochs (from 1)
    assert '<th scope="row">unfrozen during training</th><td>layer4 from epoch 2, layer3 from epoch 3</td>' in page
    assert '<th scope="row">frozen</th><td>stem, layer1, layer2</td>' in page
    src, got = load_state(data / "A" / "model.safetensors"), load_state(out / "model.safetensors")
    for stage, trained in (("layer4", True), ("layer3", True), ("layer2", False), ("layer1", False)):
        k = f"{stage}.0.conv1.weight"  # layer4 trainable from epoch 1, layer3 from epoch 2, the rest never
        assert torch.equal(got[k], src[k]) is not trained, f"{stage} {'was' if trained else 'was not'} unfrozen"
    assert torch.equal(got["layer2.0.bn1.running_mean"], src["layer2.0.bn1.running_mean"])  # frozen stats too
    # an unfrozen stage's batch norm learns its statistics again (they stayed frozen, and a resumed run, whose
    # modules start in train mode, then differed from an uninterrupted one; a user walkthrough)
    assert not torch.equal(got["layer3.0.bn1.running_mean"], src["layer3.0.bn1.running_mean"])


def test_linear_probe_caches_codes_and_chooses_c_on_validation(data, tmp_path, monkeypatch):
    from medtrain.training import probe

    calls = []
    real = probe.pooled_features
    monkeypatch.setattr(probe, "pooled_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    out = tmp_path / "P"
    m = train(fast_config(data / "rgb.npz", out, transfer="linear-probe", pretrained=str(data / "A")), verbose=False)
    assert len(calls) == 2 and (out / "features.npz").is_file()  # train and val, once each
    assert m["history"] == [] and m["best_epoch"] == 0 and m["stop_epoch"] == 0
    assert set(m["test"]) >= {"acc", "auc", "acc_ci", "auc_ci"} and m["wall_s"] > 0
    p = m["probe"]
    assert p["C"] == max(probe.CS, key=lambda c: (p["val_by_C"][f"{c:g}"], -c))  # best on val, ties: smaller C
    assert p["feature_dim"] == 256 and p["layer"] == "layer4"
    assert not (out / "checkpoints").exists()  # no Lightning loop
    (out / "metrics.json").unlink()
    again = train(None, resume=out, verbose=False)
    assert len(calls) == 2  # the second run read the cached codes
    assert again["test"]["auc"] == pytest.approx(m["test"]["auc"])
    assert json.loads((out / "metrics.json").read_text())["transfer"]["frozen"][-1] == "layer4"


def test_probe_on_an_earlier_stage_with_a_linear_svm(data, tmp_path):
    m = train(fast_config(data / "grey.npz", tmp_path / "S", transfer="linear-probe", probe_layer="layer2",
                          probe_classifier="svm", pretrained=str(data / "A")), verbose=False)
    assert m["probe"]["layer"] == "layer2" and m["probe"]["feature_dim"] == 64  # half-width layer2
    assert m["test"]["auc"] > 0.9  # layer2 codes of A separate the bright squares linearly
    again = evaluate(tmp_path / "S", verbose=False)  # the saved probe network scores the same
    assert again["auc"] == pytest.approx(m["test"]["auc"], abs=1e-6) and again["acc"] == pytest.approx(m["test"]["acc"], abs=1e-6)


@pytest.mark.parametrize("kind", ["logreg", "svm"])
@pytest.mark.parametrize("task,k", [("binary-class", 2), ("multi-class", 4), ("multi-label, binary-class", 3)])
def test_the_folded_linear_layer_gives_the_classifiers_scores(kind, task, k):
    from medtrain.metrics import scores_from_logits
    from medtrain.training.probe import _scores, fit_linear, linear_weights

    rng = np.random.default_rng(0)
    codes = {s: rng.normal(3.0, 2.0, (n, 8)).astype(np.float32) for s, n in (("train", 80), ("val", 40))}
    if task.startswith("multi-label"):
        labels = {s: (c[:, :k] > 3.0).astype(int) for s, c in codes.items()}
    else:
        labels = {s: np.digitize(c[:, 0], np.quantile(codes["train"][:, 0], np.linspace(0, 1, k + 1)[1:-1]))
                  for s, c in codes.items()}
    clf, scaler, _, _ = fit_linear(codes, labels, task, kind, Cs=(0.1, 1.0))
    w, b = linear_weights(clf, scaler, task)
    ours = scores_from_logits(torch.from_numpy(codes["val"]) @ w.T + b, task).numpy()
    theirs = _scores(clf, scaler.transform(codes["val"]), kind, task)
    assert ours.shape == theirs.shape and np.allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("layer", [None, "layer2"])
def test_a_probe_run_saves_a_model_that_eval_scores_identically(data, tmp_path, layer):
    from medtrain.api import evaluate

    out = tmp_path / f"E{layer}"
    m = train(fast_config(data / "rgb.npz", out, transfer="linear-probe", probe_layer=layer, tta="hflip",
                          pretrained=str(data / "A")), verbose=False)
    assert (out / "model.safetensors").is_file()
    again = evaluate(out, split="test", verbose=False)
    assert again["auc"] == pytest.approx(m["test"]["auc"], abs=1e-6)
    assert again["acc"] == pytest.approx(m["test"]["acc"], abs=1e-6)


def test_bad_probe_layer_names_the_stages(data, tmp_path):
    from medtrain.errors import MedtrainError

    with pytest.raises(MedtrainError, match="stem, layer1"):
        train(fast_config(data / "grey.npz", tmp_path / "X", transfer="linear-probe", probe_layer="layer9",
                          pretrained=str(data / "A")), verbose=False)
