"""Opening one image file with Pillow for :mod:`medtrain.data.folder`: a file that is no regular file, a
decompression bomb, a multi-page TIFF (a stack of slices) and a damaged file are each refused in one line naming
the file; the mode an image is decoded as (:func:`colour_mode`: a palette of greys is grey), its size as displayed and
whether it carries transparency (:func:`_header_facts`, :func:`transparent`)."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from medtrain._io import file_problem
from medtrain.errors import MedtrainError


def _check_file(p: Path) -> None:
    problem = file_problem(p)
    if problem is not None:
        raise MedtrainError(f"cannot read image {p}: {problem}")


def _bomb(p: Path, e: Exception) -> MedtrainError:
    """Pillow's refusal of an image of more pixels than it decodes (a decompression bomb: a small file that
    unpacks to gigabytes), said with the pixel count and the limit."""
    found = re.search(r"\((\d+) pixels\)", str(e))
    count = f"an image of {int(found.group(1)):,} pixels" if found else "the image"
    return MedtrainError(f"cannot read image {p}: {count} exceeds Pillow's decompression-bomb limit of "
                         f"{Image.MAX_IMAGE_PIXELS:,} pixels")


def _check_pages(p: Path, im: Image.Image) -> None:
    """Refuse a TIFF of more than one full-resolution page: a stack of slices (a 16-bit CT or microscopy stack),
    which read as its first page had trained on one slice of each without a word. Reduced-resolution pages
    (NewSubfileType bit 0: thumbnails, pyramid levels), transparency masks (bit 2) and pages Pillow cannot parse are
    not counted. Leaves ``im`` at its first page."""
    if im.format != "TIFF":
        return
    pages, i = 0, 0
    while True:  # (n_frames itself parses every page, and raises at one Pillow cannot read: a 1-bit mask)
        try:
            im.seek(i)
        except (EOFError, SyntaxError, OSError, ValueError, KeyError):  # the end, or a page that is no slice
            break
        pages += not (int(im.tag_v2.get(254, 0) or 0) & 5)  # bit 0 reduced resolution, bit 2 a transparency mask
        i += 1
    im.seek(0)
    if pages > 1:
        raise MedtrainError(f"cannot read image {p}: a multi-page TIFF ({pages} pages) is a stack of slices, not "
                            f"one 2D image; give a volume as NIfTI or a DICOM series folder listed in a CSV, or save "
                            f"each page as its own image")


#: Pillow's raw modes of 16 bits per sample (big-endian, little, native): a 48-bit PNG's ``RGB;16B``. Not BMP's
#: ``BGR;16``, which is 16 bits per *pixel* (5-6-5) and decodes right.
_SAMPLES_16 = re.compile(r";16[BLN]$")


def _deep_samples(im: Image.Image) -> str | None:
    """What ``im`` is where it holds more than 8 bits per sample in a mode Pillow decodes to 8 (``a colour image``,
    ``grey with alpha``), else None: a TIFF's own header says so (BitsPerSample, SamplesPerPixel: its tiles' raw
    modes do not, for colour planes stored apart), another format's raw mode does (a 16-bit grey-and-alpha PNG opens
    as RGBA, its raw mode ``LA;16B``)."""
    if im.format == "TIFF":
        bits, samples = im.tag_v2.get(258, 8), int(im.tag_v2.get(277, 1) or 1)
        deep = samples >= 2 and max(bits if isinstance(bits, tuple) else (bits,)) > 8
        return ("grey with alpha" if samples == 2 else "a colour image") if deep else None
    tile = im.tile[0] if im.tile and im.mode in ("RGB", "RGBA", "RGBX", "LA") else None
    raw = tile and (tile.args if isinstance(tile.args, str) else (tile.args or ("",))[0])
    if not (isinstance(raw, str) and _SAMPLES_16.search(raw)):
        return None
    return "grey with alpha" if raw.startswith("LA") else "a colour image"


def _check_colour_depth(p: Path, im: Image.Image) -> None:
    """Refuse an image of 16 bits per sample with colour or alpha (a 48/64-bit PNG or TIFF: scientific cameras,
    microscopes): Pillow has no such 16-bit mode and decodes it to 8 bits keeping each sample's high byte, so a
    12-bit image in a 16-bit file trained and predicted as a nearly black one (levels 0-15), recorded as 8-bit. A
    16-bit grey image is windowed to 8 bits from its own values (:func:`medtrain.data.folder._to_8bit`); no reader here
    gives the other samples' 16 bits, so the user converts it, knowing how its values are spread."""
    what = _deep_samples(im)
    if what is not None:
        raise MedtrainError(f"cannot read image {p}: {what} of 16 bits per channel, which Pillow reads as the high "
                            f"byte of each sample (12-bit values would come out nearly black); save it with 8 bits "
                            f"per channel, scaled from its own range, or as a 16-bit grey image")


def _open(p: Path) -> Image.Image:
    _check_file(p)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                _check_pages(p, im)
                _check_colour_depth(p, im)
                im.load()
                return ImageOps.exif_transpose(im)  # as displayed: cameras store rotated pixels + an EXIF tag
    except MedtrainError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise _bomb(p, e) from None
    except (OSError, UnidentifiedImageError) as e:
        raise MedtrainError(f"cannot read image {p}: {e}") from None
    except Exception as e:  # noqa: BLE001  (damaged files raise SyntaxError, ValueError, struct.error...)
        raise MedtrainError(f"cannot read image {p}: damaged or unsupported file ({type(e).__name__})") from None


def _grey_entries(entries: np.ndarray) -> bool:
    """Whether the palette entries ``(N, 3+)`` (R, G, B[, A]) are all grey: R == G == B."""
    return bool((entries[:, 0] == entries[:, 1]).all() and (entries[:, 1] == entries[:, 2]).all())


def _stored_palette(im: Image.Image) -> np.ndarray | None:
    """A palette image's entries ``(N, 3+)`` as its file's header gave them, without decoding its pixels; None
    where the format keeps them in another layout until decoded (BMP's BGRX, TIFF's colour maps)."""
    pal = im.palette
    if pal is None or pal.rawmode is not None or pal.mode not in ("RGB", "RGBA"):
        return None
    entries = np.frombuffer(bytes(pal.palette), np.uint8)
    return entries[:len(entries) // len(pal.mode) * len(pal.mode)].reshape(-1, len(pal.mode))


def colour_mode(im: Image.Image, settle: bool = True) -> str:
    """The mode ``im`` is decoded by, for grey or colour: its own, but a palette image (``P``, ``PA``) whose
    entries used are all grey (R == G == B) is grey (``L``, ``LA``): PNG optimisers write grey images so, and one
    such file had made a whole grey folder RGB. Reads the palette from the header where it can, and the pixels
    (which entries are used) only where some entry is not grey and ``settle``: without it such an image is taken
    for the colour one it may be (its own mode), undecoded (:func:`medtrain.data._survey.survey`, once a set is
    known to be colour: its images are all read as RGB then, however this one's pixels turn out)."""
    if im.mode not in ("P", "PA"):
        return im.mode
    entries = _stored_palette(im)
    if entries is None or not _grey_entries(entries):
        if not settle:
            return im.mode
        im.load()
        entries = np.asarray(im.getpalette("RGB") or [], np.uint8).reshape(-1, 3)
        indices = np.asarray(im)
        used = np.flatnonzero(np.bincount((indices[..., 0] if indices.ndim == 3 else indices).ravel(), minlength=256))
        if len(entries) == 0 or used.max(initial=0) >= len(entries) or not _grey_entries(entries[used]):
            return im.mode
    return "L" if im.mode == "P" else "LA"


def _header(p: Path, settle: bool = True) -> tuple[str, tuple]:
    """The mode an image file is decoded by (:func:`colour_mode`, ``settle`` passed on) and its size as stored,
    from its header (decoding only a palette image with a colour entry, to see whether one is used)."""
    mode, size, _, _ = _header_facts(p, settle)
    return mode, size


#: the modes of an alpha band (PA: a palette image's own alpha; RGBa, La: premultiplied)
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def _header_facts(p: Path, settle: bool = True) -> tuple[str, tuple, tuple, bool]:
    """:func:`_header`'s mode and size as stored, with the size as displayed (turned by an EXIF orientation the
    header gives) and whether the image may carry transparency (an alpha band, or a transparent colour or palette
    entries: ``transparency``), which only its pixels tell (:func:`transparent`)."""
    _check_file(p)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # refused by _open: not warned first
            with Image.open(p) as im:
                _check_pages(p, im)  # refused before any image is decoded
                _check_colour_depth(p, im)
                alpha = im.mode in ALPHA_MODES or "transparency" in im.info
                return colour_mode(im, settle), im.size, _displayed(im), alpha
    except MedtrainError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise _bomb(p, e) from None
    except Exception as e:  # noqa: BLE001  (as in _open: damaged files raise many kinds)
        raise MedtrainError(f"cannot read image {p}: damaged or unsupported file ({type(e).__name__})") from None


def _displayed(im: Image.Image) -> tuple:
    """An opened image's size as displayed, as :func:`_open` turns it: swapped where its EXIF orientation (5 to 8)
    turns it a quarter. Read from the header only: a PNG whose EXIF follows its pixels (Pillow would decode them
    to reach it) is taken as stored."""
    try:
        turned = (im.format != "PNG" or "exif" in im.info) and im.getexif().get(0x0112) in (5, 6, 7, 8)
    except Exception:  # noqa: BLE001  (a damaged EXIF block: the image is read unturned, as exif_transpose does)
        turned = False
    return im.size[::-1] if turned else im.size


def transparent(im: Image.Image) -> bool:
    """Whether a decoded image has a pixel of alpha below 255: in its alpha band (RGBA, LA, PA), or of its
    transparent colour or palette entries (``transparency``). Such pixels are read as the colour stored under
    them, alpha dropped (``convert("RGB")``/``("L")``): :func:`medtrain.data._survey.survey` says so."""
    bands = im.getbands()
    if "A" in bands or "a" in bands:
        return im.getchannel("A" if "A" in bands else "a").getextrema()[0] < 255
    if "transparency" not in im.info:
        return False
    try:
        return im.convert("RGBA").getchannel("A").getextrema()[0] < 255
    except (ValueError, OSError):  # a mode Pillow cannot turn to RGBA with its transparency: as its header says
        return True
