"""``medtrain explain``: saliency maps point at the evidence where the answer is known (a small bright patch
the label depends on), in 2D and 3D; the maps, overlays and bad inputs behave as ``predict``'s do."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import medtrain
from medtrain.cli import main
from bad_inputs import bad_item
from medtrain.runmodel import load_run_module
from medtrain.explain import MAPS_FILE, LogitNet, default_layer, explain
from medtrain.explain._upsample import cell_centre_upsampler

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread is ~5x faster on a busy CPU

PATCH = 3  #: the side of the bright patch that makes an image positive


def patch_data(n: int, size: int, dims: int, seed: int, distractor: bool):
    """Noise images (0..99); label 1 = a bright PATCH-sided square (cube) at a random place. With
    ``distractor`` every image, positive or not, also carries a brighter and larger 6x2 bar elsewhere, so
    a map that merely follows brightness points at the bar, not at the patch."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.integers(0, 100, (n,) + (size,) * dims).astype(np.uint8)
    corners = np.full((n, dims), -1)
    for i in range(n):
        if distractor:
            c = rng.integers(0, size - 6 + 1, dims)
            images[(i,) + tuple(slice(a, a + (6 if j == 0 else 2)) for j, a in enumerate(c))] = 255
        if labels[i]:
            corners[i] = c = rng.integers(0, size - PATCH + 1, dims)
            images[(i,) + tuple(slice(a, a + PATCH) for a in c)] = 255
    return images, labels.reshape(-1, 1).astype(np.uint8), corners


def train_patch_run(root, size: int, dims: int, sizes, epochs: int, distractor: bool):
    arrays, corners = {}, None
    for split, n, seed in zip(("train", "val", "test"), sizes, (0, 1, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"], c = patch_data(n, size, dims, seed, distractor)
        corners = c if split == "test" else corners
    np.savez(root / "patch.npz", **arrays)
    run = root / "run"
    # no flip pilots (a patch has no side) and the class-balanced loss's own rule: the choices made on validation
    # (tests/training/test_choices.py) are not what these maps test, and auto's rule scores validation 3 more times
    metrics = medtrain.train(dict(data=str(root / "patch.npz"), model="resnet10_28_half", epochs=epochs, batch_size=32,
                                  lr=3e-3, schedule="none", tta="none", bootstrap=0, progress=False, out=str(run),
                                  accelerator="cpu", flip="true", class_weights="true"), verbose=False)
    return run, arrays, corners, metrics


def hit_rate(maps: np.ndarray, corners: np.ndarray) -> float:
    """The share of maps whose maximum lies within 3 pixels (Chebyshev) of the patch."""
    hits = []
    for m, c in zip(maps, corners):
        peak = np.unravel_index(np.argmax(m), m.shape)
        hits.append(max(max(c[a] - peak[a], peak[a] - (c[a] + PATCH - 1), 0) for a in range(m.ndim)) <= 3)
    return float(np.mean(hits))


@pytest.mark.slow  # trains a 28 px network long enough to tell the patch from the bar: 20-40 s
def test_gradcam_finds_the_patch_in_2d_images(tmp_path):
    run, arrays, corners, metrics = train_patch_run(tmp_path, 28, 2, (384, 96, 64), epochs=4, distractor=True)
    assert metrics["test"]["auc"] > 0.95  # the network learned the patch (an undertrained one points at the bar)
    pos = np.flatnonzero(corners[:, 0] >= 0)
    images = [arrays["test_images"][i] for i in pos]
    loaded = medtrain.load(run).run
    assert default_layer(loaded) == "layer3"  # 7x7 at 28 px; layer4 is 4x4 (cells of 7 px)
    for method in ("gradcam", "gradcam++"):
        res = explain(run, images, method=method, target="1")
        assert res.maps.shape == (len(pos), 28, 28) and res.layer == "layer3"
        assert hit_rate(res.maps, corners[pos]) >= 0.8, method
    occ = explain(run, images[:8], method="occlusion", target="1")  # 169 forward passes per image: 8 images
    assert occ.layer is None and hit_rate(occ.maps, corners[pos[:8]]) >= 0.8


@pytest.mark.slow  # trains a 3D network on 16-voxel volumes: 15-25 s
def test_gradcam_finds_the_patch_in_volumes(tmp_path):
    """Without the distractor (telling bar from patch takes a 3D network minutes on 2 CPU cores), so this
    checks what 3D adds: the axes' order, trilinear upsampling, the default layer, the written maps."""
    run, arrays, corners, _ = train_patch_run(tmp_path, 16, 3, (64, 16, 32), epochs=1, distractor=False)
    pos = np.flatnonzero(corners[:, 0] >= 0)
    volumes = [arrays["test_images"][i] for i in pos]
    res = explain(run, volumes, target=1)
    assert res.layer == "layer2" and res.maps.shape == (len(pos), 16, 16, 16)  # 8x8x8; layer3 is 4x4x4
    assert hit_rate(res.maps, corners[pos]) >= 0.8
    # written: three of them (an overlay of a volume's slices is ~1 s of drawing; all 15 had been half the test)
    out = tmp_path / "maps"
    written = explain(run, volumes[:3], target=1, out=out)
    np.testing.assert_allclose(written.maps, res.maps[:3], atol=1e-6)  # whatever else is in the batch
    saved = np.load(out / MAPS_FILE)
    np.testing.assert_array_equal(saved["maps"], written.maps)
    assert saved["maps"].shape == (3, 16, 16, 16) and len(list(out.glob("*.png"))) == 3


# --------------------------------------------------------------------------- command line, on the shared run


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_writes_overlays_and_maps_of_the_run_test_split(trained_run, tmp_path, capsys):
    run, _, arrays = trained_run
    out = tmp_path / "ex"
    code, printed, _ = _cli(capsys, "explain", run, "--split", "test", "--limit", "3", "--out", out)
    assert code == 0 and "3 input(s)" in printed
    saved = np.load(out / MAPS_FILE)
    maps = saved["maps"]
    assert maps.shape == (3, 16, 16) and maps.dtype == np.float32
    # each map scaled to [0, 1]: its peak is 1, or it is all 0 where Grad-CAM finds no evidence for the class
    peaks = maps.reshape(3, -1).max(1)
    assert maps.min() == 0 and peaks.max() == pytest.approx(1) and all(p == pytest.approx(1) or p == 0 for p in peaks)
    assert list(saved["inputs"]) == ["0", "1", "2"]
    probs = medtrain.load(run).predict(arrays["test_images"][:3])
    assert list(saved["target"]) == probs.argmax(1).tolist()  # the predicted class by default
    assert sorted(p.name for p in out.glob("*.png")) == ["0000_0.png", "0001_1.png", "0002_2.png"]
    # explaining fewer inputs into the same folder leaves only this explanation's overlays (a user's own file stays)
    (out / "notes.png").write_bytes(b"mine")
    code, _, _ = _cli(capsys, "explain", run, "--split", "test", "--limit", "1", "--out", out)
    assert code == 0 and len(np.load(out / MAPS_FILE)["maps"]) == 1
    assert sorted(p.name for p in out.glob("*.png")) == ["0000_0.png", "notes.png"]


def test_explained_class_and_p_are_those_medtrain_predict_reports(trained_run):
    """An overlay's class and probability agree with ``medtrain predict`` for the same image: its test-time
    flips and calibration temperature included, not the network's plain forward pass."""
    run, _, arrays = trained_run
    images = arrays["test_images"]
    predictor = medtrain.load(run)
    probs = predictor.predict(images)
    res = explain(run, images)
    np.testing.assert_allclose(res.probs, probs, atol=1e-6)
    assert [res.labels[k] for k in res.targets] == predictor.decide(probs)
    # the plain forward pass reports other probabilities for this run (hflip TTA, a fitted temperature)
    plain = torch.softmax(LogitNet(load_run_module(run))(torch.from_numpy(images[:, None]).float() / 255).detach(), 1)
    assert predictor.temperature is not None and not np.allclose(plain.numpy(), probs, atol=1e-3)


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_an_ensemble_map_is_scaled_to_0_1_like_a_single_network_map(method):
    """Two networks' maps are averaged, then scaled again: the mean of two [0, 1] maps peaked at 0.59-0.93
    (found in a user walkthrough of a 3D run with the default two networks)."""
    from medtrain.runmodel import untrained_run_model

    run = untrained_run_model("resnet10_28_half", members=2, input_size=28)
    x = np.random.default_rng(0).integers(0, 256, (4, 1, 28, 28)).astype(np.uint8)
    maps = explain(run, x, method=method).maps.reshape(4, -1)
    assert maps.max(1) == pytest.approx(1.0) and (maps.min(1) == 0).all()


def test_target_by_name_or_index_and_layer_override(trained_run, tmp_path):
    run, _, arrays = trained_run
    labels = medtrain.load(run).labels
    by_name = explain(run, [arrays["test_images"][0]], target=labels[1], layer="layer2")
    by_index = explain(run, [arrays["test_images"][0]], target=1, layer="layer2")
    assert by_name.targets.tolist() == [1] and by_name.layer == "layer2"
    np.testing.assert_array_equal(by_name.maps, by_index.maps)
    other = explain(run, arrays["test_images"][:1], target=0, layer="layer2")  # a batch array, too
    assert not np.allclose(other.maps, by_name.maps)  # the map depends on the class it explains


@pytest.mark.parametrize("case", ["not_a_run", "rgb", "volume", "corrupt", "target", "layer", "flat_layer"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(trained_run, tmp_path, capsys, case):
    run, _, arrays = trained_run
    bad = tmp_path / "bad"
    bad.mkdir()
    target, item, extra = run, bad / "ok.png", []
    Image.fromarray(arrays["test_images"][0]).save(item)
    if case == "not_a_run":
        target = tmp_path
    elif case in ("rgb", "volume", "corrupt"):
        item = bad_item(case, arrays["test_images"][0], bad)
    elif case == "target":
        extra = ["--target", "pneumonia"]
    elif case == "layer":
        extra = ["--layer", "layer9"]
    else:  # a module without a spatial map (the classifier): it had been a traceback with exit 1
        extra = ["--layer", "fc"]
    out = tmp_path / "ex"
    code, _, err = _cli(capsys, "explain", target, item, "--out", out, *extra)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("medtrain: error:")
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["bad"]  # nothing, not even a temp folder
    assert {"not_a_run": "not a finished run", "rgb": "channel", "volume": "dimensionality", "corrupt": "cannot read",
            "target": "unknown target class 'pneumonia'", "layer": "no such module",
            "flat_layer": "--layer fc has no spatial map"}[case] in err


def test_skip_bad_lists_and_skips(trained_run, tmp_path, capsys):
    run, _, arrays = trained_run
    d = tmp_path / "d"
    d.mkdir()
    for i in range(3):
        Image.fromarray(arrays["test_images"][i]).save(d / f"{i:03d}.png")
    (d / "001.png").write_bytes(b"garbage")
    code, printed, err = _cli(capsys, "explain", run, d, "--skip-bad", "--out", tmp_path / "ex")
    assert code == 0 and "2 input(s)" in printed and "001.png" in err
    names = list(np.load(tmp_path / "ex" / MAPS_FILE)["inputs"])
    assert [n[-7:] for n in names] == ["000.png", "002.png"]


def test_explain_takes_what_predict_takes_one_image_alone_and_a_pil_image(trained_run):
    """explain had its own reading of Python inputs: a bare (H, W) image was a batch of H rows there too."""
    run, _, arrays = trained_run
    image = arrays["test_images"][3]
    both = explain(run, [image, image])
    for alone in (explain(run, image), explain(run, Image.fromarray(image))):
        assert alone.names == ["image 0"]
        np.testing.assert_allclose(alone.maps[0], both.maps[0], atol=1e-6)
        np.testing.assert_allclose(alone.probs[0], medtrain.load(run).predict(image)[0], atol=1e-6)


def test_inputs_after_the_options_are_explained_as_before_them(trained_run, tmp_path, capsys):
    """`explain RUN --out DIR a.png` was refused ('unrecognized arguments: a.png'): argparse gives an optional
    INPUT list nothing once an option has come between."""
    run, _, arrays = trained_run
    Image.fromarray(arrays["test_images"][0]).save(tmp_path / "a.png")
    code, printed, _ = _cli(capsys, "explain", run, "--out", tmp_path / "ex", tmp_path / "a.png")
    assert code == 0 and printed.startswith("1 input(s) explained")
    with pytest.raises(SystemExit):
        main(["explain", str(run), "--out", str(tmp_path / "ex2"), str(tmp_path / "a.png"), "--bogus"])
    err = capsys.readouterr().err
    assert "unknown option --bogus" in err and err.rstrip().count("\n") == 0


def test_inputs_of_another_aspect_ratio_are_one_notice_as_in_predict(trained_run, tmp_path, capsys):
    # explain had printed each ResizedWarning raw: two lines of Python warning per image
    run, _, _ = trained_run
    for i in range(3):
        Image.fromarray(np.zeros((16, 24), np.uint8)).save(tmp_path / f"wide{i}.png")
    assert main(["explain", str(run), *(str(tmp_path / f"wide{i}.png") for i in range(3)),
                 "--out", str(tmp_path / "ex")]) == 0
    err = capsys.readouterr().err
    assert "3 input(s) of another aspect ratio were squashed" in err and err.count("\n") == 1


def _paper_gradcam_pp(net: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor, target: torch.Tensor):
    """Chattopadhay et al. (WACV 2018) eq. 19 with Y = exp(S), by autograd: alpha = g^2 / (2 g^2 + g^3 sum_ab A_ab),
    weights sum_ij alpha relu(g), map relu(sum_k w_k A_k), upsampled with each cell on its receptive-field centre
    (as every Grad-CAM map is: medtrain.explain._upsample) and min-max scaled."""
    seen = []
    handle = layer.register_forward_hook(lambda m, i, o: seen.append(o))
    logits = net(x)
    handle.remove()
    acts = seen[0]
    g = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), acts)[0]
    total = acts.sum((2, 3), keepdim=True)
    denom = 2 * g ** 2 + total * g ** 3
    alpha = g ** 2 / torch.where(denom != 0, denom, torch.ones_like(denom))
    w = (alpha * torch.relu(g)).sum((2, 3), keepdim=True)
    name = next(n for n, m in net.named_modules() if m is layer)
    up = cell_centre_upsampler(net, name, x.shape[1:])(x.shape[2:])
    cam = up(torch.relu((w * acts).sum(1, keepdim=True)))[:, 0].detach()
    flat = cam.reshape(len(cam), -1)
    lo, hi = flat.min(1).values[:, None, None], flat.max(1).values[:, None, None]
    return ((cam - lo) / (hi - lo)).numpy()


def test_gradcam_plus_plus_is_the_papers_eq_19():
    # MONAI 1.6's GradCAMpp puts sum_ab(A_ab g_ab^3) in the denominator where the paper has g_ij^3 sum_ab A_ab,
    # and adds 1e-7 (more than 2 g^2 at typical gradients): its maps were up to 0.28-0.56 off the paper's
    from medtrain.runmodel import untrained_run_model

    run = untrained_run_model("resnet10_28_half", num_classes=3, input_size=28)
    x = np.random.default_rng(0).integers(0, 256, (6, 1, 28, 28)).astype(np.uint8)
    res = explain(run, x, method="gradcam++", layer="layer3")
    net = LogitNet(run).eval()
    expected = _paper_gradcam_pp(net, net.model.layer3, torch.from_numpy(x).float() / 255,
                                 torch.from_numpy(res.targets))
    np.testing.assert_allclose(res.maps, expected, atol=1e-4)


def test_explain_works_under_a_callers_float64_default_dtype_and_leaves_it(trained_run, tmp_path):
    # a notebook's torch.set_default_dtype(torch.float64) failed Grad-CAM: "expected scalar type Double but
    # found Float"; the maps are those of the float32 default
    run, _, arrays = trained_run
    images = arrays["test_images"][:3, None]  # (N, C, H, W)
    expected = {m: explain(run, images, method=m) for m in ("gradcam", "gradcam++")}
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        for method, want in expected.items():
            got = explain(run, images, method=method, out=tmp_path / method)
            assert torch.get_default_dtype() == torch.float64  # the caller's, restored
            np.testing.assert_allclose(got.maps, want.maps, atol=1e-6)
            np.testing.assert_allclose(got.probs, want.probs, atol=1e-6)
            assert len(got.maps) == 3 and (tmp_path / method / MAPS_FILE).is_file()
    finally:
        torch.set_default_dtype(previous)
