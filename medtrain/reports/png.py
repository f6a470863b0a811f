"""How medtrain's plots are written as PNGs (:func:`save_png`; this module imports no matplotlib, which only the
figure handed to it brings): a plot's RGB pixels as a 256-colour palette PNG, written so once when the plot is
saved, and embedded in a report as the file holds it (:func:`medtrain.reports.html.png_data_uri`).

Plots have few colours (their lines, text and its anti-aliased edges): a palette keeps a run's four plots to within
1-3 levels of the 8-bit RGB drawn (a 30-class matrix's shades, or 10 labels' curves, within 8-20; Pillow's
maximum-coverage quantizer, which takes half the time of median cut, used before, which had moved a few edge pixels
by up to 64 levels) at about a third of the RGBA file's size. Each plot had been written as RGBA by matplotlib, then
opened, quantized and re-encoded for its report (0.02-0.07 s a figure, four per run), so a run had also kept files
three times larger than what its report showed."""
from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

from PIL import Image

from medtrain._io import atomic_path

#: colours of a plot's palette (PNG's most)
COLOURS = 256
#: zlib's level for a palette PNG: Pillow's default; 9 (``optimize``) made the files 8% smaller at 10x the time
COMPRESS_LEVEL = 6


def palette(image: Image.Image) -> Image.Image:
    """``image`` (any mode; a plot's alpha, which is opaque, dropped) as a :data:`COLOURS`-colour palette image."""
    return image.convert("RGB").quantize(COLOURS, method=Image.Quantize.MAXCOVERAGE)


def palette_png(image: Image.Image) -> bytes:
    """The bytes of ``image`` as a palette PNG (:func:`palette`)."""
    buf = io.BytesIO()
    palette(image).save(buf, format="PNG", compress_level=COMPRESS_LEVEL)
    return buf.getvalue()


def is_palette_png(data: bytes) -> bool:
    """Whether ``data`` is a PNG of palette colours (one written by :func:`palette_png`: a report embeds it as it
    is). Only its header is read."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.format == "PNG" and im.mode == "P"
    except (OSError, ValueError, Image.DecompressionBombError):
        return False


#: the resolution plots are written at (a report shows them at this size)
DPI = 120


class MissingGlyphWarning(UserWarning):
    """Characters of a figure's text (a label named in Chinese) that no font matplotlib uses can draw: drawn as boxes.
    Said once per process for the characters not said before, in place of matplotlib's one warning per glyph and
    figure (32 raw warnings for one run of two CJK labels)."""


_GLYPH = re.compile(r"^Glyph (\d+) .*missing from font")
_SAID_GLYPHS: set = set()  # the characters said missing so far in this process


def _say_missing_glyphs(chars: list[str]) -> None:
    """Say in one line the characters of ``chars`` not said before in this process."""
    new = [c for c in dict.fromkeys(chars) if c not in _SAID_GLYPHS]
    if new:
        _SAID_GLYPHS.update(new)
        warnings.warn(MissingGlyphWarning(
            f"no font matplotlib uses draws {''.join(new)} (in a label's, class's or file's name): the figures show "
            f"boxes there; the report's tables and the CSVs give the names (a font that has them, e.g. Noto Sans CJK, "
            f"listed after 'DejaVu Sans' in matplotlib's font.family, draws them)"), stacklevel=3)


def save_png(fig, path, dpi: int = DPI, tight: bool = True, palette: bool = True) -> None:
    """:func:`_save_png`, matplotlib's warnings of glyphs no font has said in one line (:class:`MissingGlyphWarning`).
    Only those are taken from the warnings' way: every other warning is filtered and shown as the caller's filters
    say (module, once per place), through the display it had."""
    chars: list[str] = []
    with warnings.catch_warnings():
        warnings.filterwarnings("always", message=_GLYPH.pattern[1:], category=UserWarning)  # each reaches `show`
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            found = _GLYPH.match(str(message))
            if found is None:
                shown(message, category, filename, lineno, file, line)
            else:
                chars.append(chr(int(found.group(1))))

        warnings.showwarning = show
        _save_png(fig, path, dpi, tight, palette)
    _say_missing_glyphs(chars)


def _save_png(fig, path, dpi: int = DPI, tight: bool = True, palette: bool = True) -> None:
    """Write ``fig`` as a PNG at ``dpi``: cropped to what it draws (as ``bbox_inches="tight"`` had, pixel for
    pixel) where ``tight``, and as a palette PNG (:func:`palette_png`, which a report embeds as it is) where
    ``palette``; else with every colour it draws, as matplotlib writes a PNG (a saliency map over an image:
    thousands of colours, which a palette would band).

    The crop is measured before the figure is drawn, and the figure drawn once: ``savefig(bbox_inches="tight")``
    draws it twice (once to measure), and so does a figure with a layout engine (its layout is applied here, once,
    as that first draw had applied it)."""
    import matplotlib  # (this module itself is matplotlib-free: a report embeds what it writes)

    fig.set_dpi(dpi)
    box = None
    if tight:
        renderer = fig.canvas.get_renderer()
        engine = fig.get_layout_engine()
        if engine is not None and fig.axes:
            engine.execute(fig)
            # laid out: savefig would otherwise draw it once more to lay it out. With no engine matplotlib installs
            # the rcParams' own (a user's figure.autolayout: tight layout, run by savefig on top of this layout
            # after the crop was measured: panels squeezed into wide blank margins), so none is asked of them
            with matplotlib.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
                fig.set_layout_engine(None)
        box = fig.get_tightbbox(renderer).padded(matplotlib.rcParams["savefig.pad_inches"])
    if not palette:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, bbox_inches=box)
        return
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches=box, pil_kwargs={"compress_level": 0})  # decoded next
    with Image.open(buf) as im:
        data = palette_png(im)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
