"""Labels named in a script no installed font draws (积液, 结节): one line saying which characters the figures show as
boxes and where the names are, in place of matplotlib's warning per glyph and figure (32 raw warnings for one run)."""
from __future__ import annotations

import warnings

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from medtrain.reports import png  # noqa: E402


def _figure(title: str):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.set_title(title)
    ax.plot([0, 1], [0, 1], label=title)
    ax.legend()
    return fig


def test_glyphs_no_font_has_are_said_once_each_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(png, "_SAID_GLYPHS", set())
    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
        if font_manager.findfont("DejaVu Sans") and "积" in "".join(
                chr(c) for c in font_manager.get_font(font_manager.findfont("DejaVu Sans")).get_charmap()):
            pytest.skip("this machine's DejaVu Sans draws them: nothing to say")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            png.save_png(_figure("积液 effusion"), tmp_path / "a.png")
            png.save_png(_figure("积液"), tmp_path / "b.png")  # the same characters: said before
            png.save_png(_figure("结节"), tmp_path / "c.png")
    said = [str(w.message) for w in caught]
    assert not any(m.startswith("Glyph ") for m in said)  # matplotlib's own, one per glyph, are gone
    assert [m.split(" (in")[0] for m in said if issubclass(caught[said.index(m)].category,
                                                          png.MissingGlyphWarning)] == [
        "no font matplotlib uses draws 积液", "no font matplotlib uses draws 结节"]
    assert (tmp_path / "a.png").exists() and (tmp_path / "c.png").exists()


def test_other_warnings_raised_while_drawing_still_reach_the_caller(tmp_path, monkeypatch):
    fig = _figure("plain")
    real = png._save_png

    def noisy(*a, **k):
        warnings.warn("something else", RuntimeWarning)
        return real(*a, **k)

    monkeypatch.setattr(png, "_save_png", noisy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png.save_png(fig, tmp_path / "p.png")
    assert [(w.category, str(w.message)) for w in caught] == [(RuntimeWarning, "something else")]
    # and the caller's own filters still decide (a first version re-issued them, past an "ignore" by module)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=__name__)
        png.save_png(fig, tmp_path / "q.png")
    assert caught == []


def test_augment_show_s_grid_says_them_the_same_way(tmp_path, monkeypatch):
    # the grid was written by its own savefig: one raw warning per glyph
    import torch

    from medtrain.augment.grid import render_grid

    monkeypatch.setattr(png, "_SAID_GLYPHS", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        render_grid(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), None, 1, tmp_path / "g.png", title="积液 grid")
    said = [str(w.message) for w in caught]
    assert not any(m.startswith("Glyph ") for m in said)
    assert [m.split(" (in")[0] for m in said] == ["no font matplotlib uses draws 积液"]
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
