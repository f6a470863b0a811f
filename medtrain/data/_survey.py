"""What a data set's image files are, from their headers read once before decoding (:func:`survey`): grey or
colour, the images ``--image-size`` squashes, 8-bit files beside deeper ones; and the one wording of a squashed
image that training, predict, explain and eval use; the bit depth a run's images had (:data:`IMAGE_DEPTH`), which
predict and ``eval --data`` hold their image files to (:func:`check_depth`). Split from :mod:`medtrain.data.folder`
(over ~400 lines)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import ImageMode

from medtrain.data._image_open import _header, _open
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


def survey(paths: list[Path], image_size: int | None) -> tuple[bool, list[Warning], list[str]]:
    """A data set's image files by their headers, read once: whether some has colour (then every one is read as
    RGB), what is to be said of them once they are read (the images ``image_size`` squashes, and 8-bit files
    mixed with deeper ones), and each one's mode (its bit depth: :func:`depth_of`). A palette image's pixels are
    decoded to see whether its colour entries are used only while no image has shown colour: then every image is
    read as RGB whatever they hold (a folder of colour palette PNGs had been decoded twice, here and when read)."""
    modes, squashed, colour = [], [], False
    for p in paths:
        mode, (w, h) = _header(p, settle=not colour)
        modes.append(mode)
        colour = colour or is_rgb([mode])
        if image_size and w != h:  # (as stored: EXIF orientation turns an image, it does not square it)
            squashed.append(p)
    said = []
    deeper = [p for p, m in zip(paths, modes) if deep(m)]
    if deeper and len(deeper) < len(paths):  # documented per image (read_image), but a folder of both was unsaid
        said.append(BitDepthsWarning(
            f"{len(paths) - len(deeper)} image(s) of 8 bits per channel and {len(deeper)} of more than 8 bits (16-bit, "
            f"32-bit or float; first: {deeper[0]}) are scaled by two rules: 8-bit values are kept, deeper images are "
            f"stretched between their own 1st and 99th percentiles, so one value means different intensities in the "
            f"two; save them all at one bit depth"))
    if squashed:
        w, h = _open(squashed[0]).size  # as displayed
        said.append(SquashedImagesWarning(squashed_note(
            len(squashed), f"{image_size}x{image_size} square of --image-size {image_size}",
            squashed_one(squashed[0], w, h, image_size)) + "; pad or crop them to squares first to keep their "
                                                           "proportions"))
    return is_rgb(modes), said, modes


def recorded(said: list[Warning]) -> bytes:
    """What :func:`survey` said of a data set, as bytes kept with its memory-mapped store (:func:`said_again`)."""
    return json.dumps([[type(w).__name__, str(w)] for w in said]).encode("utf-8")


def said_again(kept: bytes) -> list[Warning]:
    """The warnings :func:`recorded` kept, as they were said when the store was written: a reused store had
    trained on squashed images, or on 8-bit and 16-bit files scaled by two rules, without a word."""
    kinds = {k.__name__: k for k in (SquashedImagesWarning, BitDepthsWarning)}
    return [kinds.get(kind, UserWarning)(message) for kind, message in json.loads(kept.decode("utf-8"))]


def depth_again(said: list[Warning], first: Path) -> str | None:
    """The bit depth of a data set whose store is reused (:func:`depth_of` of its files' modes), from what was said
    of it (:func:`said_again`: 8-bit files beside deeper ones) and the header of its ``first`` file alone."""
    if any(isinstance(w, BitDepthsWarning) for w in said):
        return MIXED
    return depth_of([_header(first, settle=False)[0]])
