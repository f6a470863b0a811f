"""Grad-CAM on a vision transformer (walk 'netzoo'): a ViT's stages (``blocks.*``) output token sequences, not
spatial maps. ``explain`` of a ViT run had said "no convolutional layer to compute Grad-CAM at" (false: its patch
embedding ``patch_embed.proj`` is a convolution, and Grad-CAM there works), and the ``--layer`` refusal had
recommended ``blocks.0``, ``blocks.1``, ..., each refused with the same line: a loop. Every layer a refusal
recommends works, and for a ViT it names ``--layer patch_embed.proj`` (its cells) and ``--method occlusion``."""
from __future__ import annotations

import re

import numpy as np
import pytest

import medtrain
from conftest import fast_config, make_images, run_cli
from medtrain.errors import MedtrainError
from medtrain.explain import check_layer, default_layer
from medtrain.runmodel import load_run_module as load_run

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def vit_run(tmp_path_factory):
    """A 1-epoch vit_tiny_patch16_224 run on 32 px grey images (its 16 px patches: a 2x2 grid)."""
    root = tmp_path_factory.mktemp("vit")
    arrays = {}
    for split, n, seed in (("train", 24, 0), ("val", 8, 1), ("test", 8, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, size=32, seed=seed)
    np.savez(root / "tiny.npz", **arrays)
    medtrain.train(fast_config(root / "tiny.npz", root / "run", model="vit_tiny_patch16_224", epochs=1,
                               bootstrap=0, flip="false", batch_size=8), verbose=False)
    return root / "run"


def _refusal(fn, *args) -> str:
    with pytest.raises(MedtrainError) as e:
        fn(*args)
    return str(e.value)


def _recommended(msg: str) -> list[str]:
    return re.findall(r"--layer ([\w.]+) \(", msg) + re.findall(r"spatial map: ([\w., ]+)$", msg)


def test_the_default_refusal_names_the_patch_embedding_and_occlusion_and_both_work(vit_run, tmp_path, capsys):
    run = load_run(vit_run)
    msg = _refusal(default_layer, run)
    assert "no convolutional layer" not in msg  # patch_embed.proj is one
    assert "--layer patch_embed.proj (a 2x2 map at 32x32 px: cells of 16x16 px)" in msg
    assert "--method occlusion" in msg
    assert check_layer(run, "patch_embed.proj") == "patch_embed.proj"  # what it recommends is taken
    code, _, err = run_cli(capsys, "explain", vit_run, "--limit", "2", "--layer", "patch_embed.proj",
                           "--out", tmp_path / "cam")
    assert code == 0, err
    assert np.load(tmp_path / "cam" / "maps.npz")["maps"].shape == (2, 32, 32)
    code, _, err = run_cli(capsys, "explain", vit_run, "--limit", "2", "--method", "occlusion",
                           "--out", tmp_path / "occ")
    assert code == 0, err


@pytest.mark.parametrize("layer", ["blocks.0", "blocks.11", "norm", "no_such_layer"])
def test_a_refused_layer_recommends_only_layers_that_are_taken(vit_run, layer):
    run = load_run(vit_run)
    msg = _refusal(check_layer, run, layer)
    recommended = [n.strip() for part in _recommended(msg) for n in part.split(",")]
    assert recommended == ["patch_embed.proj"], msg  # not blocks.0..blocks.7, each refused in turn
    for name in recommended:
        assert check_layer(run, name) == name
    assert "--method occlusion" in msg


def test_a_cnn_refusal_lists_only_stages_with_a_map(trained_run):
    run = load_run(trained_run[0])
    msg = _refusal(check_layer, run, "global_pool")  # resnet18_28_half's pooled vector
    stages = [n.strip() for n in msg.rsplit("spatial map: ", 1)[1].split(",")]
    assert stages and all(check_layer(run, n) == n for n in stages), msg
    assert default_layer(run) in stages
