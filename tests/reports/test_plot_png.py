"""How a plot's PNG is written (medtrain.reports.plots.save_png) and embedded (html.png_data_uri): drawn once,
cropped as ``bbox_inches="tight"`` had cropped it, written once as the palette PNG a report embeds as it is."""
from __future__ import annotations

import base64
import io

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from medtrain.reports import _plots_saliency, html, plots, png

HISTORY = [{"epoch": e, "train_loss": 1 / (e + 1), "val_loss": 1.2 / (e + 1)} for e in range(3)]
BINS = {"confidence": [0.2, 0.7], "frequency": [0.3, 0.6], "count": [5, 5]}
PANEL = {"before": BINS, "after": BINS, "ece": 0.1, "ece_scaled": 0.05, "temperature": 1.3}
RNG_SEED = 0


def _figures():
    """Each figure a run writes (and a multi-label run's, laid out by constrained layout), by name."""
    rng = np.random.default_rng(RNG_SEED)
    y, s = rng.integers(0, 2, 40), rng.random(40)
    return {
        "learning_curve": lambda p: plots.learning_curve(HISTORY, 1, 2, p, "t", early_stopped=True),
        "confusion": lambda p: plots.confusion_matrix([[10, 6], [4, 12]], {"0": "normal", "1": "pneumonia"}, p, "t"),
        "reliability": lambda p: plots.reliability_diagram({"validation": PANEL, "test": PANEL}, p, "t"),
        "roc_pr": lambda p: plots.roc_pr(y, s, p, 0.5, "youden", "t"),
        "multilabel_confusion": lambda p: plots.confusion_matrix(np.ones((7, 2, 2), int),
                                                                 {str(i): f"finding {i}" for i in range(7)}, p, "ml"),
        "multilabel_roc_pr": lambda p: plots.roc_pr_labels(rng.integers(0, 2, (40, 3)), rng.random((40, 3)),
                                                           ["a", "b", "c"], p, {"a": {"sensitivity": 0.7, "specificity": 0.6, "ppv": 0.5}},
                                                           "youden", "t"),
    }


#: a plot of many colours, whose palette of 256 moves some of them further: 3 labels' curves and their bands, 1,264
#: colours, measured 7 (10 labels' within 8-20); every other plot has a few hundred and is held to 3 levels
MAX_LEVELS = {"multilabel_roc_pr": 8}


@pytest.mark.parametrize("autolayout", [False, True])
@pytest.mark.parametrize("name", list(_figures()))
def test_a_plot_is_drawn_once_cropped_as_tight_and_written_as_a_palette_png(tmp_path, monkeypatch, name, autolayout):
    # savefig(bbox_inches="tight") drew every figure twice (once to measure the crop): a run's four figures
    # had cost it 0.5 s of its write. A user's rcParams figure.autolayout (True) must not lay a constrained figure
    # out again after its crop was measured (tight layout on top of it had squeezed the panels into wide margins)
    monkeypatch.setitem(matplotlib.rcParams, "figure.autolayout", autolayout)
    drawn, shown = [], {}
    draw = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda fig, renderer: (drawn.append(fig), draw(fig, renderer))[1])

    def tight(fig, path):  # what the plot had been written as, on its own copy of the figure
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=png.DPI, bbox_inches="tight")
        shown["tight"] = np.asarray(Image.open(buf).convert("RGB"), dtype=int)

    monkeypatch.setattr(plots, "_save", tight)
    _figures()[name](tmp_path / "tight.png")
    drawn.clear()
    monkeypatch.setattr(plots, "_save", png.save_png)
    _figures()[name](tmp_path / "p.png")
    assert len(drawn) == 1
    with Image.open(tmp_path / "p.png") as im:
        assert im.mode == "P"  # the small file a report embeds as it is
        written = np.asarray(im.convert("RGB"), dtype=int)
    assert written.shape == shown["tight"].shape  # the same crop, to the pixel
    # the same pixels, to within the palette's few levels (measured: 1-3 for a binary run's four plots)
    assert np.abs(written - shown["tight"]).max() <= MAX_LEVELS.get(name, 3)
    assert np.abs(written - shown["tight"]).mean() < 0.5


def test_a_saliency_overlay_keeps_every_colour(tmp_path):
    # an image under a colour map: a palette of 256 would band it
    rng = np.random.default_rng(0)
    _plots_saliency.saliency_overlay(rng.integers(0, 255, (1, 16, 16), dtype=np.uint8), rng.random((16, 16)), tmp_path / "s.png")
    with Image.open(tmp_path / "s.png") as im:
        assert im.mode == "RGBA" and len(im.getcolors(1 << 20)) > 256


def test_a_report_embeds_a_plot_file_as_it_is_and_an_older_rgba_one_as_a_smaller_palette_png(tmp_path):
    plots.learning_curve(HISTORY, 1, 2, tmp_path / "lc.png", "t")
    uri = html.png_data_uri(tmp_path / "lc.png")
    assert base64.b64decode(uri.split(",", 1)[1]) == (tmp_path / "lc.png").read_bytes()
    # a plot an older medtrain wrote (RGBA, as matplotlib writes it) is re-encoded as a palette PNG, as before
    with Image.open(tmp_path / "lc.png") as im:
        rgba = im.convert("RGBA")
    rgba.save(tmp_path / "old.png")
    data = base64.b64decode(html.png_data_uri(tmp_path / "old.png").split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "P" and im.size == rgba.size
        assert np.abs(np.asarray(im.convert("RGBA"), dtype=int) - np.asarray(rgba, dtype=int)).max() <= 3
    assert len(data) < (tmp_path / "old.png").stat().st_size
    assert html.png_data_uri(tmp_path / "absent.png") is None
