"""``medtrain explain`` says what its maps can and cannot be trusted for: Grad-CAM++ fails the sanity checks of
Adebayo et al. (NeurIPS 2018) on these global-pooling networks, and says so; a volume's overlay shows the slices
through the map's peak (an off-centre finding had never appeared in it); ``maps.npz`` holds what each overlay
shows (the images, the probability, the peak)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import medtrain
from conftest import run_cli
from medtrain.explain import MAPS_FILE, GradCAMppWarning, explain, write_explanation

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread is ~5x faster on a busy CPU


def _warning_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("medtrain: warning:")]


def test_gradcam_pp_warns_in_one_line_pointing_to_gradcam_or_occlusion(trained_run, tmp_path, capsys):
    # a walkthrough: gradcam++ maps of targets 0 and 1 rank-correlated +0.83 (gradcam -0.23), +0.89 with the output
    # layer re-initialised, and neither --help nor the run said a word of it
    run, _, _ = trained_run
    code, _, err = run_cli(capsys, "explain", run, "--method", "gradcam++", "--limit", "2", "--out", tmp_path / "pp")
    lines = _warning_lines(err)
    assert code == 0 and len(lines) == 1, err
    assert "gradcam++" in lines[0] and "+0.83" in lines[0] and "use gradcam or occlusion" in lines[0]
    for method in ("gradcam", "occlusion"):  # the methods that pass the checks: no word
        code, _, err = run_cli(capsys, "explain", run, "--method", method, "--limit", "1", "--out", tmp_path / method)
        assert code == 0 and not _warning_lines(err), (method, err)


def test_gradcam_pp_warns_a_python_caller_at_the_callers_line(trained_run):
    from medtrain.explain import explain_items
    from medtrain.predict_inputs import Item
    from medtrain.runmodel import load_run_module

    run, _, arrays = trained_run
    image = arrays["test_images"][0]
    with pytest.warns(GradCAMppWarning, match="use gradcam or occlusion") as caught:
        explain(run, image, method="gradcam++")
    assert [w.filename for w in caught if w.category is GradCAMppWarning] == [__file__]  # once, here
    with pytest.warns(GradCAMppWarning) as caught:
        explain_items(load_run_module(run), [Item("x", lambda: image)], method="gradcam++")
    assert [w.filename for w in caught if w.category is GradCAMppWarning] == [__file__]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        explain(run, image, method="gradcam")
    assert not [w for w in caught if w.category is GradCAMppWarning]


def test_help_of_method_says_gradcam_pp_does_not_tell_classes_apart(capsys):
    from medtrain.cli import main

    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "gradcam++ warns, with the measurements, that its maps hardly depend on the class" in text and "use gradcam or occlusion" in text
    assert "at the model's input resolution" in text and "at the input's resolution" not in text
    assert "multi-label: its label of highest probability, even where none is above 0.5" in text


def _rank_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Each pair of maps' Spearman rank correlation; 0 where a map is constant (all zeros: no evidence for its
    class), which shares no structure with the other."""
    from scipy.stats import rankdata

    out = []
    for x, y in zip(a.reshape(len(a), -1), b.reshape(len(b), -1)):
        rx, ry = rankdata(x), rankdata(y)
        out.append(0.0 if rx.std() == 0 or ry.std() == 0 else float(np.corrcoef(rx, ry)[0, 1]))
    return np.asarray(out)


@pytest.mark.filterwarnings("ignore::medtrain.explain.GradCAMppWarning")
def test_gradcam_pp_maps_of_two_classes_are_alike_where_gradcams_are_not(trained_run):
    """The claim the warning makes, on the tests' 1-epoch run (16 px, a bright square decides the class): asked
    for the other class, Grad-CAM++ draws much the same map (measured: mean rank correlation 0.66 over these 16
    test images, at least 0.37; 0.68 over all 40), Grad-CAM finds no evidence (all-zero maps for class 0: 0)."""
    run, _, arrays = trained_run
    x = arrays["test_images"][:16, None]
    corr = {m: _rank_correlations(explain(run, x, method=m, target=0).maps, explain(run, x, method=m, target=1).maps)
            for m in ("gradcam", "gradcam++")}
    assert corr["gradcam++"].mean() > 0.4 and corr["gradcam++"].mean() > corr["gradcam"].mean() + 0.3, corr


# --------------------------------------------------------------------------- volume overlays and maps.npz


def _peaked(shape, peak) -> np.ndarray:
    """A map in [0, 1] falling off from ``peak`` (exactly 1 there only)."""
    grid = np.indices(shape)
    d2 = sum((g - p) ** 2 for g, p in zip(grid, peak))
    return np.exp(-d2 / 8.0).astype(np.float32)


def _explanation(images: np.ndarray, maps: np.ndarray, probs: np.ndarray):
    from medtrain.explain import Explanation

    return Explanation(names=[f"v{i}" for i in range(len(maps))], maps=maps, targets=probs.argmax(1),
                       probs=probs, images=images, labels=["normal", "lesion"], method="gradcam", layer="layer2")


def _drawn(monkeypatch) -> list:
    """The figures the overlays draw, in order (each still saved)."""
    from medtrain.reports import plots

    figures, save = [], plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path, **kw: (figures.append(fig), save(fig, path, **kw)))
    return figures


@pytest.mark.parametrize("ras", [False, True])
def test_a_volume_overlay_shows_the_slices_through_the_maps_peak(tmp_path, monkeypatch, ras):
    # the central slices had been drawn whatever the map: a walkthrough's off-centre lesion crossed none of them in
    # 68% of positive test volumes, and the map's peak (inside the lesion in 5 of 5) was never in the PNG
    from medtrain.reports._plots_saliency import saliency_overlay

    peak = (3, 12, 10)  # off-centre on every axis (the central slices are 8, 8, 8)
    volume = np.zeros((1, 16, 16, 16), np.uint8)
    volume[0][peak] = 255  # the finding: one bright voxel, at the map's peak
    figures = _drawn(monkeypatch)
    saliency_overlay(volume, _peaked((16, 16, 16), peak), tmp_path / "v.png", "v", ras=ras)
    fig = figures[0]
    panels = [ax for ax in fig.axes if ax.images][:6]  # 2 rows x 3 views (the colour bar last)
    for j in range(3):
        image, overlay = panels[j].images[0].get_array(), panels[3 + j].images[-1].get_array()
        assert overlay.max() == pytest.approx(1.0), j  # the slice holds the map's maximum
        assert image.max() == 255, j  # and the finding
        assert f"slice {peak[j]}" in panels[j].get_title()
    assert "peak, voxel (z, y, x) (3, 12, 10)" in fig._suptitle.get_text() and (tmp_path / "v.png").stat().st_size > 0
    # an all-zero map (no evidence) has no peak: the central slices, said so
    saliency_overlay(volume, np.zeros((16, 16, 16)), tmp_path / "z.png", "z", ras=ras)
    panels = [ax for ax in figures[1].axes if ax.images][:3]
    assert [ax.get_title().rsplit(" ", 1)[-1] for ax in panels] == ["8", "8", "8"]
    assert "central slices" in figures[1]._suptitle.get_text()


def test_maps_npz_holds_each_maps_peak_image_and_probability(tmp_path, monkeypatch):
    """What each overlay shows is in maps.npz: the image the map lines up with (after resizing), the probability in
    its title, the voxel its slices go through (-1 for an all-zero map)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 1, 16, 16, 16)).astype(np.uint8)
    maps = np.stack([_peaked((16, 16, 16), (3, 12, 10)), np.zeros((16, 16, 16), np.float32)])
    probs = np.array([[0.2, 0.8], [0.9, 0.1]], np.float32)
    figures = _drawn(monkeypatch)
    write_explanation(_explanation(images, maps, probs), tmp_path / "ex")
    saved = np.load(tmp_path / "ex" / MAPS_FILE)
    assert saved["peak"].tolist() == [[3, 12, 10], [-1, -1, -1]]
    assert "peak, voxel (z, y, x) (3, 12, 10)" in figures[0]._suptitle.get_text()  # the overlay's slices: the recorded peak
    np.testing.assert_array_equal(saved["images"], images)
    assert saved["images"].shape[:1] + saved["images"].shape[2:] == saved["maps"].shape
    np.testing.assert_allclose(saved["probability"], [0.8, 0.9])
    assert saved["probability"].shape == saved["maps"].shape[:1]
    assert "(p = 0.800)" in figures[0]._suptitle.get_text() and "(p = 0.900)" in figures[1]._suptitle.get_text()


def test_maps_npz_of_2d_images_from_the_cli(trained_run, tmp_path, capsys):
    """The same keys for 2D images through the command line: the images are those explained, at the model's input
    resolution (16 px here), each peak is where its map is 1."""
    run, _, arrays = trained_run
    out = tmp_path / "ex"
    code, _, _ = run_cli(capsys, "explain", run, "--limit", "3", "--out", out)
    saved = np.load(out / MAPS_FILE)
    assert code == 0 and saved["images"].shape == (3, 1, 16, 16) and saved["maps"].shape == (3, 16, 16)
    np.testing.assert_array_equal(saved["images"][:, 0], arrays["test_images"][:3])
    for m, p in zip(saved["maps"], saved["peak"]):
        assert (m[tuple(p)] == m.max() == 1) if m.max() > 0 else tuple(p) == (-1, -1)
    probs = medtrain.load(run).predict(arrays["test_images"][:3])
    np.testing.assert_allclose(saved["probability"], probs[np.arange(3), saved["target"]], atol=1e-6)
    # a 32 px PNG: its map and its saved image are the model's 16 px, the image the one the map lines up with
    from PIL import Image

    Image.fromarray(np.kron(arrays["test_images"][0], np.ones((2, 2), np.uint8))).save(tmp_path / "big.png")
    code, _, _ = run_cli(capsys, "explain", run, tmp_path / "big.png", "--out", out)
    saved = np.load(out / MAPS_FILE)
    assert code == 0 and saved["images"].shape == (1, 1, 16, 16) and saved["maps"].shape == (1, 16, 16)
