"""The inputs ``predict``, ``explain`` and ``eval --data`` squash to the model's square, and the grey ones they give a
colour model, counted and said in one line each per call (:func:`squashes_once`), in the commands as on stderr and
in Python as one warning shown on every call (:func:`warn_every_time`). Apart from :mod:`medtrain.predict_inputs`,
which reads the inputs, to keep both small."""
from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator, Optional

from medtrain.data.folder import squashed_note, squashed_one
from medtrain.runmodel import RunModel


class ResizedWarning(UserWarning):
    """Inputs of another aspect ratio than the model's square input, squashed to it (as ``--image-size``
    resizes a folder's or CSV's training images): counted and said in one line by :func:`squashes_once`."""


class GreyForColourWarning(UserWarning):
    """Grey inputs given to a model trained on colour images, read as colour with three equal channels: counted and
    said in one line by :func:`squashes_once`."""


_SQUASHED: ContextVar[Optional[list]] = ContextVar("medtrain_squashed_inputs", default=None)  # (per thread)
_GREYED: ContextVar[Optional[list]] = ContextVar("medtrain_grey_inputs_of_a_colour_model", default=None)


@contextmanager
def squashes_once(run: RunModel | None = None, say: Callable[[str], None] | None = None) -> Iterator[None]:
    """Count the inputs squashed to the model's square inside the block and, if it ends without an error, say
    them in one line (:func:`squash_line`) through ``say`` (the commands: a line on stderr), by default as one
    :class:`ResizedWarning` shown on every call (:func:`warn_every_time`): ``predict`` had warned once per image,
    and a second identical call said nothing (Python's default filter shows a text once per code line). A block
    inside another says nothing of its own; outside any, each input is warned of alone."""
    if _SQUASHED.get() is not None:
        yield
        return
    seen, grey = [], []
    token, token_grey = _SQUASHED.set(seen), _GREYED.set(grey)
    try:
        yield
    finally:
        _SQUASHED.reset(token)
        _GREYED.reset(token_grey)
    for line, kind in ([(squash_line(len(seen), seen[0], run), ResizedWarning)] if seen else []) + (
            [(grey_line(grey), GreyForColourWarning)] if grey else []):
        say(line) if say is not None else warn_every_time(kind(line))


def grey_line(names: list) -> str:
    """The line for grey inputs (``names``) read as colour for a colour model: training says the same of grey images
    among colour ones; predict had scored a grey picture given to a dermoscopy model without a word (a walk)."""
    first = f" ({names[0]}{', ...' if len(names) > 1 else ''})"
    return (f"{len(names)} grey image(s){first} given to a model trained on colour images: read as colour with three "
            f"equal channels, which the network may not have seen in training, so their scores may not mean what its "
            f"scores of colour images do")


def _greyed(name) -> None:
    """One grey input read as colour for a colour model, for the :func:`squashes_once` around (else warned alone)."""
    seen = _GREYED.get()
    seen.append(str(name)) if seen is not None else warnings.warn(GreyForColourWarning(grey_line([str(name)])))


def _squashed(name, width: int, height: int, size: int) -> None:
    """One input of ``width`` x ``height`` squashed to the ``size`` square, for the :func:`squashes_once` around."""
    seen, one = _SQUASHED.get(), squashed_one(name, width, height, size)
    seen.append(one) if seen is not None else warnings.warn(ResizedWarning(one))


def squash_line(count: int, first: str, run: RunModel | None = None) -> str:
    """The line for ``count`` inputs squashed to the model's square (``first``: the first, :func:`squashed_one`) and
    how ``run``'s training images came to it: resized by ``--image-size``, or read at their own size (it had said
    "as training resizes its images" of a run on native 224-px squares); without ``run``, nothing of them."""
    if run is None:
        return squashed_note(count, "model's square size", first)
    from medtrain.data import at_their_size

    size, image_size = run.input_shape[-1], getattr(run.cfg, "image_size", None)
    how = (f", as training resized its images (--image-size {image_size})"
           if image_size is not None and at_their_size(run.cfg) is None else
           "; the run's own images were not resized: training read them at their size")
    return squashed_note(count, f"model's {size}x{size} square", first) + how


def warn_every_time(warning: Warning) -> None:
    """Issue ``warning`` at the caller's line outside medtrain (a notebook cell's, not medtrain's source line) with a
    registry of its own, so that Python's default filter shows it each time; the caller's filters still decide
    (``ignore``, ``error``, ``once``), and none is added or changed."""
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_globals.get("__name__", "").partition(".")[0] in ("medtrain",
                                                                                                "contextlib"):
        frame = frame.f_back
    warnings.warn_explicit(warning, type(warning), frame.f_code.co_filename, frame.f_lineno,
                           module=frame.f_globals.get("__name__", "<string>"), registry={},
                           module_globals=frame.f_globals)
