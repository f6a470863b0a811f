"""What a data set's image files are, from their headers read once before decoding (:func:`survey`): grey or
colour, the images ``--image-size`` squashes or enlarges, 8-bit files beside deeper ones, grey ones read as RGB,
those that carry transparency (their pixels checked once decoded), as a run records them (:data:`FACTS`); and the
one wording of a squashed image that training, predict, explain and eval use; the bit depth a run's images had
(:data:`IMAGE_DEPTH`), which predict and ``eval --data`` hold their image files to (:func:`check_depth`). Split
from :mod:`medtrain.data.folder` (over ~400 lines)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import ImageMode

from medtrain.data._image_open import _header, _header_facts, _open, transparent
from medtrain.errors import MedtrainError


def is_rgb(modes) -> bool:
    """Whether some of ``modes`` has colour (then every image of the set is read as RGB)."""
    return any(ImageMode.getmode(m).basemode != "L" for m in modes)  # grey: 1, L, LA, I, I;16*, F


class SquashedImagesWarning(UserWarning):
    """Images of another aspect ratio squashed to ``--image-size``'s square: said in one line per load."""


def squashed_one(name, width: int, height: int, size: int) -> str:
    """One image of ``width`` x ``height`` squashed to the ``size`` square, as :func:`squashed_note` names it."""
    return f"{name}: {width}x{height} squashed to {size}x{size}"


def squashed_note(count: int, square: str, first: str) -> str:
    """The one line's wording for ``count`` images of another aspect ratio squashed to ``square`` (``first``: the
    first, :func:`squashed_one`): training's ``--image-size`` (:func:`survey`), as predict, explain and eval say it
    of their inputs. Training had squashed a 300x200 image to 128x128 without a word (a user walkthrough)."""
    return f"{count} input(s) of another aspect ratio were squashed to the {square} (first: {first})"


class BitDepthsWarning(UserWarning):
    """A data set of 8-bit files and files of more bits, whose intensities are scaled by two rules: said once."""


def deep(mode: str) -> bool:
    """Whether an image of ``mode`` has more than 8 bits per channel (I;16*, I, F): :func:`medtrain.data.folder._to_8bit` windows it."""
    return np.dtype(ImageMode.getmode(mode).typestr).itemsize > 1


#: The key of a run's training images' bit depth (in ``Splits.extra``, and in ``metrics.json``'s ``provenance``):
#: :data:`EIGHT_BIT`, :data:`DEEPER`, :data:`MIXED`, or None (DICOM, NIfTI: windowed by the run's own rule)
IMAGE_DEPTH = "image_depth"
EIGHT_BIT = "8-bit"  #: every image of 8 bits per channel, its values kept as they are (PNG, JPEG; .npz arrays)
DEEPER = "more than 8 bits"  #: every image deeper (16-bit, 32-bit, float), each stretched to its own percentiles
MIXED = "mixed"  #: both (:class:`BitDepthsWarning`): no one rule to hold other images to


def depth_rule(mode: str) -> str:
    """The intensity rule of an image of ``mode``: :data:`DEEPER` (windowed to its own 1st..99th percentiles) or
    :data:`EIGHT_BIT` (its values as they are)."""
    return DEEPER if deep(mode) else EIGHT_BIT


def depth_of(modes) -> str | None:
    """The bit depth of a set of images of ``modes``, as a run records it (:data:`IMAGE_DEPTH`); None for none."""
    rules = {depth_rule(m) for m in modes}
    return MIXED if len(rules) > 1 else next(iter(rules), None)


def image_depth(splits) -> str | None:
    """The bit depth of a data set's images, as a run records it: what the folder or CSV loader found of its image
    files (:data:`IMAGE_DEPTH` in ``extra``), :data:`EIGHT_BIT` for 2D images from an .npz (MedMNIST, arrays: uint8
    values as they are), None for the rest (volumes and DICOM images, windowed by the run's own rule as predict
    windows its inputs)."""
    if IMAGE_DEPTH in splits.extra:
        return splits.extra[IMAGE_DEPTH]
    return EIGHT_BIT if len(splits.spatial_shape) == 2 and str(splits.source).lower().endswith(".npz") else None


def depth_name(mode: str) -> str:
    """An image's bits per channel in words: ``1-bit``, ``8-bit``, ``16-bit``, ``32-bit``, ``32-bit float``."""
    if mode == "1":
        return "1-bit"
    t = np.dtype(ImageMode.getmode(mode).typestr)
    return f"{t.itemsize * 8}-bit" + (" float" if t.kind == "f" else "")


def check_depth(name, mode: str, trained: str | None) -> None:
    """Refuse, in one line naming ``name`` and both depths, an image of ``mode`` whose intensities are read by another
    rule than the run's training images (``trained``: :data:`EIGHT_BIT` or :data:`DEEPER`; :data:`MIXED` or None,
    a run that recorded none, checks nothing). A 16-bit PNG given to a run trained on 8-bit PNGs (or MedMNIST) had
    been stretched between its own percentiles, and predicted without a word."""
    if trained not in (EIGHT_BIT, DEEPER) or depth_rule(mode) == trained:
        return
    kind = depth_name(mode)
    kind = f"{'an' if kind.startswith('8') else 'a'} {kind}"
    if trained == EIGHT_BIT:
        raise MedtrainError(f"{name} is {kind} image, but the run was trained on 8-bit images: it would be stretched "
                            f"between its own 1st and 99th percentiles where theirs were read as they are, intensities "
                            f"the network never learned; give it at 8 bits, as the training images were")
    raise MedtrainError(f"{name} is {kind} image, but the run was trained on images of more than 8 bits per channel: "
                        f"its values would be read as they are where theirs were each stretched between their own 1st "
                        f"and 99th percentiles, intensities the network never learned; give it at the training "
                        f"images' bit depth")


class EnlargedImagesWarning(UserWarning):
    """Images enlarged more than :data:`ENLARGED_OVER` times along a side to ``--image-size``: said in one line per
    load."""


class GreyAsColourWarning(UserWarning):
    """Grey images among colour ones, read as RGB (their one channel copied to three): said in one line per load."""


class TransparentImagesWarning(UserWarning):
    """Images with transparent pixels, read as the colour stored under them (alpha dropped): one line per load."""


#: An image is said to be enlarged where ``--image-size`` is more than this many times one of its sides. Up to 2x,
#: bilinear resizing puts at most one interpolated pixel between two of the image's own: the usual slack between
#: a data set's sizes and a network's input (28 px MedMNIST at 56), and finer than the network's first stride-2
#: stage resolves. Beyond it, most pixels along that side are interpolated, and the network learns the image's
#: own pixel grid blown up into smooth ramps (16x16 tiles at 128 px: 64 pixels for each one stored): a
#: preprocessing choice a user should know was made.
ENLARGED_OVER = 2
#: The resize rule of ``--image-size`` (:func:`medtrain.data.folder.resize_square`), as :data:`FACTS` records it
RESIZE_RULE = "PIL bilinear, aspect squashed"
#: The key of what :func:`survey` found of a data set's image files (in ``Splits.extra``, for ``metrics.json``'s
#: ``data``): ``image_size``, ``resize`` (:data:`RESIZE_RULE`, None without ``--image-size``), the smallest and
#: largest images (``sizes``, as displayed, by pixel count), and how many were ``squashed``, ``enlarged``
#: (:data:`ENLARGED_OVER`), grey images read as RGB (``grey_as_rgb``), and carried transparency (``transparent``)
FACTS = "images"


def enlarged_one(name, width: int, height: int, size: int) -> str:
    """One image of ``width`` x ``height`` enlarged to the ``size`` square: its name, both sizes and the factor."""
    return f"{name}: {width}x{height} enlarged to {size}x{size}, {size / min(width, height):.3g}x"


@dataclass
class Survey:
    """What :func:`survey` found of a data set's image files: whether some has colour (``rgb``: every image is read
    as RGB), each one's mode (``modes``: its bit depth, :func:`depth_of`), what is to be said of them once read
    (``said``), what a run records of them (``facts``: :data:`FACTS`), and the files whose header allows
    transparency (``maybe_transparent``), whose pixels tell (:meth:`transparent`)."""
    rgb: bool
    modes: list
    said: list
    facts: dict
    maybe_transparent: list = field(default_factory=list)

    def transparent(self, found: list) -> None:
        """Said and recorded: ``found``, the files of :attr:`maybe_transparent` with a pixel of alpha < 255. Their
        pixels are not composited (existing runs' images stay as they were): the colour under alpha is used."""
        self.facts["transparent"] = len(found)
        if found:
            self.said.append(TransparentImagesWarning(
                f"{len(found)} image(s) carry transparency (pixels of alpha < 255; first: {found[0]}): alpha is "
                f"dropped and the colour stored under it is used as is, even where fully transparent; composite "
                f"them onto a background first if that colour is not meant to be seen"))

    def check_transparent(self) -> Survey:
        """:meth:`transparent` of :attr:`maybe_transparent`, each decoded here (a store's images are said of
        before they are decoded): only files with an alpha band or transparent entries are. Returns itself."""
        self.transparent([p for p in self.maybe_transparent if transparent(_open(p))])
        return self


def survey(paths: list[Path], image_size: int | None, data_set: bool = True) -> Survey:
    """A data set's image files by their headers, read once: whether some has colour (then every one is read as
    RGB), what is to be said of them once they are read (8-bit files mixed with deeper ones, the images
    ``image_size`` squashes or enlarges more than :data:`ENLARGED_OVER` times, grey images read as RGB), and each
    one's mode (its bit depth: :func:`depth_of`). A palette image's pixels are decoded to see whether its colour
    entries are used only while no image has shown colour: then every image is read as RGB whatever they hold (a
    folder of colour palette PNGs had been decoded twice, here and when read); one taken for colour so is not
    counted among the grey ones. Which files carry transparency is known once their pixels are: the caller checks
    :attr:`Survey.maybe_transparent` (:meth:`Survey.transparent`). ``data_set`` False: one file read for predict,
    of which nothing is said."""
    modes, squashed, enlarged, sizes, maybe, colour = [], [], [], [], [], False
    for p in paths:
        mode, (w, h), shown, alpha = _header_facts(p, settle=not colour)
        modes.append(mode)
        sizes.append(shown)
        colour = colour or is_rgb([mode])
        if image_size and w != h:  # (as stored: EXIF orientation turns an image, it does not square it)
            squashed.append((p, shown))
        if image_size and image_size > ENLARGED_OVER * min(w, h):
            enlarged.append((p, shown))
        if alpha:
            maybe.append(p)
    said = []
    deeper = [p for p, m in zip(paths, modes) if deep(m)]
    if deeper and len(deeper) < len(paths):  # documented per image (read_image), but a folder of both was unsaid
        said.append(BitDepthsWarning(
            f"{len(paths) - len(deeper)} image(s) of 8 bits per channel and {len(deeper)} of more than 8 bits (16-bit, "
            f"32-bit or float; first: {deeper[0]}) are scaled by two rules: 8-bit values are kept, deeper images are "
            f"stretched between their own 1st and 99th percentiles, so one value means different intensities in the "
            f"two; save them all at one bit depth"))
    square = f"{image_size}x{image_size} square of --image-size {image_size}"
    if squashed:
        (p, (w, h)) = squashed[0]  # as displayed
        said.append(SquashedImagesWarning(squashed_note(len(squashed), square, squashed_one(p, w, h, image_size))
                                          + "; pad or crop them to squares first to keep their proportions"))
    if enlarged:  # 16x16 tiles trained at 128 px had been blown up 8x without a word (a user walkthrough)
        (p, (w, h)), (low, high) = enlarged[0], _range([s for _, s in enlarged])
        said.append(EnlargedImagesWarning(
            f"{len(enlarged)} image(s) were enlarged more than {ENLARGED_OVER}x along a side to the {square} ("
            f"{f'all {_size(low)}' if low == high else f'sizes {_size(low)} to {_size(high)}'}; first: "
            f"{enlarged_one(p, w, h, image_size)}): most of their pixels are "
            f"interpolated; a smaller --image-size keeps them nearer their own resolution"))
    grey = [p for p, m in zip(paths, modes) if not is_rgb([m])] if is_rgb(modes) else []
    if grey:  # copied to 3 channels without a word (a user walkthrough: 8-bit grey files in an RGB folder)
        said.append(GreyAsColourWarning(
            f"{len(grey)} grey image(s) among colour ones are read as RGB, their one channel copied to R, G and B "
            f"(first: {grey[0]})"))
    facts = {"image_size": image_size, "resize": RESIZE_RULE if image_size else None,
             "sizes": dict(zip(("smallest", "largest"), map(list, _range(sizes)))) if sizes else None,
             "squashed": len(squashed), "enlarged": len(enlarged), "enlarged_over": ENLARGED_OVER,
             "grey_as_rgb": len(grey), "transparent": 0}
    return Survey(is_rgb(modes), modes, said if data_set else [], facts, maybe if data_set else [])


def _range(sizes: list) -> tuple:
    """The smallest and the largest of ``(width, height)`` sizes, by pixel count (then width)."""
    key = lambda s: (s[0] * s[1], s[0])  # noqa: E731
    return min(sizes, key=key), max(sizes, key=key)


def _size(s) -> str:
    return f"{s[0]}x{s[1]}"


#: the warnings :func:`survey` says, by name (:func:`said_again`)
SAID = (SquashedImagesWarning, BitDepthsWarning, EnlargedImagesWarning, GreyAsColourWarning, TransparentImagesWarning)


def recorded(said: list[Warning], facts: dict | None = None) -> bytes:
    """What :func:`survey` said of a data set, and its ``facts`` (:data:`FACTS`), as bytes kept with its
    memory-mapped store (:func:`said_again`, :func:`facts_again`)."""
    kept = [[type(w).__name__, str(w)] for w in said]
    return json.dumps(kept + ([[FACTS, facts]] if facts is not None else [])).encode("utf-8")


def said_again(kept: bytes) -> list[Warning]:
    """The warnings :func:`recorded` kept, as they were said when the store was written: a reused store had
    trained on squashed images, or on 8-bit and 16-bit files scaled by two rules, without a word."""
    kinds = {k.__name__: k for k in SAID}
    return [kinds.get(kind, UserWarning)(message) for kind, message in json.loads(kept.decode("utf-8"))
            if kind != FACTS]


def facts_again(kept: bytes) -> dict | None:
    """The facts :func:`recorded` kept; None for a store written before they were (surveyed again)."""
    return next((facts for kind, facts in json.loads(kept.decode("utf-8")) if kind == FACTS), None)


def depth_again(said: list[Warning], first: Path) -> str | None:
    """The bit depth of a data set whose store is reused (:func:`depth_of` of its files' modes), from what was said
    of it (:func:`said_again`: 8-bit files beside deeper ones) and the header of its ``first`` file alone."""
    if any(isinstance(w, BitDepthsWarning) for w in said):
        return MIXED
    return depth_of([_header(first, settle=False)[0]])
