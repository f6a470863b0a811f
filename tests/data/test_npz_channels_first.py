"""A MedMNIST-layout .npz of images as PyTorch holds them, ``(N, 1, H, W)`` or ``(N, 3, H, W)``, is read as 2D
images with the pixels of its ``(N, H, W)`` / ``(N, H, W, 3)`` twin: it had been read as volumes of one slice,
trained med3d_resnet10 and diverged. A 4D shape that could be either is refused in one line naming the layouts."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import medtrain
from conftest import fast_config, make_images, run_cli
from medtrain.data import load_npz
from medtrain.errors import MedtrainError
from medtrain.external import evaluate_external


def _save(path, arrays, layout):
    np.savez(path, **{k: layout(v) if k.endswith("images") else v for k, v in arrays.items()})
    return path


@pytest.fixture(scope="module")
def arrays():
    out = {}
    for split, n, seed in (("train", 48, 0), ("val", 16, 1), ("test", 24, 2)):
        out[f"{split}_images"], out[f"{split}_labels"] = make_images(n, seed=seed)
    return out


@pytest.mark.parametrize("store", ["memory", "mmap"])
@pytest.mark.parametrize("channels", [1, 3])
def test_channels_first_images_load_as_their_channels_last_twin(tmp_path, arrays, store, channels):
    if channels == 1:
        twin = _save(tmp_path / "hw.npz", arrays, lambda x: x)
    else:
        twin = _save(tmp_path / "hwc.npz", arrays, lambda x: np.repeat(x[..., None], 3, -1))
    first = _save(tmp_path / "chw.npz", arrays,
                  (lambda x: x[:, None]) if channels == 1 else (lambda x: np.repeat(x[:, None], 3, 1)))
    a = load_npz(twin, store=store, data_dir=tmp_path / "cache")
    b = load_npz(first, store=store, data_dir=tmp_path / "cache")
    assert b.spatial_shape == (16, 16) and b.train.images.shape[1] == channels
    for s in ("train", "val", "test"):
        assert torch.equal(getattr(a, s).images, getattr(b, s).images)
        assert torch.equal(getattr(a, s).labels, getattr(b, s).labels)


def test_colour_channels_first_keeps_each_channel(tmp_path, arrays):
    """(N, 3, H, W) with different channels: channel c of the file is channel c of the images."""
    rgb = {k: (np.stack([v, 255 - v, v // 2], 1) if k.endswith("images") else v) for k, v in arrays.items()}
    np.savez(tmp_path / "chw.npz", **rgb)
    s = load_npz(tmp_path / "chw.npz")
    assert torch.equal(s.train.images, torch.from_numpy(rgb["train_images"]))


@pytest.mark.parametrize("shape", [(8, 28, 28, 4), (8, 4, 28, 28), (8, 3, 28, 3), (8, 1, 16, 1)])
def test_an_ambiguous_4d_shape_is_refused_naming_the_layouts(tmp_path, arrays, shape):
    np.savez(tmp_path / "odd.npz", **{f"{s}_images": np.zeros(shape, np.uint8) for s in ("train", "val", "test")},
             **{f"{s}_labels": np.arange(shape[0]) % 2 for s in ("train", "val", "test")})
    with pytest.raises(MedtrainError) as e:
        load_npz(tmp_path / "odd.npz")
    msg = str(e.value)
    assert "\n" not in msg and "(N, C, H, W)" in msg and "(N, H, W, C)" in msg and "(N, D, H, W)" in msg
    assert str(shape) in msg
    # RGBA (the walker's (N, 28, 28, 4)) names the way: drop the alpha channel
    assert ("images[..., :3]" in msg) == (shape[-1] == 4)


@pytest.mark.parametrize("shape", [(8, 12, 12, 12), (8, 10, 20, 20)])
def test_volumes_stay_volumes(tmp_path, shape):
    np.savez(tmp_path / "vol.npz", **{f"{s}_images": np.zeros(shape, np.uint8) for s in ("train", "val", "test")},
             **{f"{s}_labels": np.arange(shape[0]) % 2 for s in ("train", "val", "test")})
    assert load_npz(tmp_path / "vol.npz").spatial_shape == shape[1:]


def test_a_channels_first_npz_trains_as_2d_and_eval_and_predict_agree(tmp_path, arrays, capsys):
    data = _save(tmp_path / "chw.npz", arrays, lambda x: x[:, None])
    run = tmp_path / "run"
    cfg = fast_config(data, run, epochs=1, bootstrap=0, tta="none", flip="false")
    del cfg["model"]  # chosen for the data: a 2D network, not med3d_resnet10
    res = medtrain.train(cfg, verbose=False)
    assert "3d" not in res["model"] and res["data"]["shape"][-2:] == [16, 16] and len(res["data"]["shape"]) == 3
    p = medtrain.load(run)
    from_file = p.predict(data)  # the .npz's test split, read as training read it
    np.testing.assert_allclose(from_file, p.predict(arrays["test_images"]), atol=1e-6)
    np.testing.assert_allclose(from_file, p.predict(arrays["test_images"][:, None]), atol=1e-6)
    ext = evaluate_external(run, data, verbose=False)
    assert ext["n"] == 24 and ext["auc"] == pytest.approx(res["test"]["auc"], abs=1e-6)
    code, _, err = run_cli(capsys, "eval", run)
    assert code == 0, err
