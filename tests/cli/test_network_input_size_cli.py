"""`medtrain train` with an --image-size its network cannot take: refused in one line, exit 2, before any data are
read and with nothing written (it had died with a ~100-line traceback inside the first flip pilot, after decoding the
whole data set); `cost` gives the same line; a ViT trains at a size other than its own and its run predicts; the
small-input stem's cost is said; `models --measure` shows its repetitions (a user walkthrough, own images)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import fast_config, make_images, png_csv, run_cli


@pytest.fixture
def folder(tmp_path):
    images, labels = make_images(24, size=16, channels=3)
    return png_csv(tmp_path / "data", images, labels, classes=["benign", "malignant"], path="{label}/{i}.png",
                   name=None)


def _no_data_read(monkeypatch):
    import medtrain.api

    def read(*a, **k):
        raise AssertionError("the data were read")
    monkeypatch.setattr(medtrain.api, "load_splits", read)


@pytest.mark.parametrize("model,size,says", [
    ("convnext_atto", 16, "it takes 32 px or more"),
    ("vit_tiny_patch16_224", 40, "its 16x16 px patches do not tile it"),
])
def test_a_size_the_network_cannot_take_is_refused_before_the_data_are_read(capsys, monkeypatch, tmp_path, folder,
                                                                            model, size, says):
    _no_data_read(monkeypatch)
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--data", folder, "--image-size", size, "--model", model, "--epochs", 1,
                           "--bootstrap", 0, "--no-progress", "--out", out)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"medtrain: error: {model} cannot run on {size} px inputs") and says in err
    assert not out.exists()


def test_cost_refuses_with_the_same_line_as_train(capsys, tmp_path, folder):
    _, _, trained = run_cli(capsys, "train", "--data", folder, "--image-size", 16, "--model", "convnext_atto",
                            "--no-progress", "--out", tmp_path / "run")
    code, _, costed = run_cli(capsys, "cost", "convnext_atto", "--input", 16)
    assert code == 2 and costed == trained


def test_a_vit_trains_at_another_size_and_its_run_predicts(capsys, tmp_path):
    import medtrain

    arrays = {}
    for split, n, seed in (("train", 24, 0), ("val", 8, 1), ("test", 8, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, size=32, seed=seed)
    np.savez(tmp_path / "tiny32.npz", **arrays)
    run = tmp_path / "vit"
    medtrain.train(fast_config(tmp_path / "tiny32.npz", run, model="vit_tiny_patch16_224", epochs=1, bootstrap=0,
                               batch_size=8), verbose=False)
    code, out, err = run_cli(capsys, "predict", run, tmp_path / "tiny32.npz", "--out", "-")
    assert code == 0, err
    rows = out.strip().splitlines()
    assert rows[0].startswith("input,prediction") and len(rows) == 1 + 8  # a row per image of the .npz's test split


def test_the_small_input_stem_is_said_once_when_a_run_gets_it(capsys, monkeypatch, tmp_path, folder):
    import medtrain.api

    said = []
    monkeypatch.setattr(medtrain.api, "_train_in", lambda *a, **k: said.append("trained") or {})  # no training
    with pytest.warns(Warning) as caught:
        medtrain.api.train(fast_config(folder, tmp_path / "run", model="resnet18", image_size=64, epochs=1),
                           verbose=False)
    stems = [w for w in caught if type(w.message).__name__ == "SmallInputStemWarning"]
    assert said == ["trained"] and len(stems) == 1
    assert "GMACs per image against" in str(stems[0].message)


def test_models_measure_times_each_network_at_least_three_times_at_any_budget(capsys):
    code, out, err = run_cli(capsys, "models", "--measure", "--names", "mobilenetv1_025", "--budget", "0.001",
                             "--json")
    assert code == 0, err
    assert json.loads(out)[0]["reps"] >= 3
    code, table, _ = run_cli(capsys, "models", "--measure", "--names", "mobilenetv1_025", "--budget", "0.001")
    head, _, row = table.splitlines()[:3]
    assert head.split("|")[-2].strip() == "Reps" and int(row.split("|")[-2]) >= 3
