"""The paths of a command line's ``-``, read from standard input (``find scans -name '*.png' | medtrain predict RUN
-``): ``predict`` and ``explain`` take them as the same paths given on the command line. Moved out of
:mod:`medtrain.predict_inputs`, which reads the inputs themselves."""
from __future__ import annotations

import sys
from typing import TextIO

from medtrain.errors import MedtrainError


STDIN = "-"  #: the input that means "the paths on standard input, one a line", as Unix tools read ``-``


def with_stdin_paths(inputs: list, command: str = "predict", stdin: TextIO | None = None) -> list:
    """A command line's inputs with ``-`` replaced, in place, by the paths on standard input, one a line
    (``find scans -name '*.png' | medtrain predict RUN -``); each is then read as the same path given on the
    command line (relative to the current folder; a folder, CSV or .npz too). A file named ``-`` is ``./-``.

    Lines are split on ``\\n`` alone and kept whole, spaces included (``str.splitlines`` also splits on form
    feeds and other characters a file name may hold; ``xargs`` splits on blanks); a ``\\r`` at a line's end
    (a list written on Windows) is dropped, as a byte-order mark at the start is, and blank lines are skipped. Refused in one line: ``-`` twice
    (standard input is read once), a terminal on standard input (waiting for typed paths reads as a hang),
    NUL-separated paths (``find -print0``) and no path at all (an empty ``find`` had run the command on
    nothing, or ``explain`` on the run's own split)."""
    if STDIN not in inputs:
        return list(inputs)
    if inputs.count(STDIN) > 1:
        raise MedtrainError("- is given twice; standard input holds one list of paths (a file named - is ./-)")
    stdin = sys.stdin if stdin is None else stdin
    example = f"find DIR -name '*.png' | medtrain {command} RUN -"
    if stdin is None or stdin.closed:  # `<&-`: Python then has no sys.stdin
        raise MedtrainError(f"- reads the input paths from standard input, which is closed; pipe them in, one a "
                            f"line ({example})")
    if stdin.isatty():
        raise MedtrainError(f"- reads the input paths from standard input, which is a terminal here; pipe them "
                            f"in, one a line ({example})")
    try:
        text = stdin.read()
    except UnicodeDecodeError:  # the command line reads it in UTF-8 mode (undecodable bytes kept): a caller's stream
        raise MedtrainError("standard input is not text (UTF-8): - reads one path a line") from None
    if "\0" in text:
        raise MedtrainError("standard input holds NUL bytes (find -print0?): - reads one path a line")
    # a byte-order mark at the start (a list saved by Windows Notepad) is no part of the first path, which had then
    # been "no such file or folder" for a file that exists (a CSV with one was read fine)
    paths = [line.removesuffix("\r") for line in text.removeprefix("\ufeff").split("\n")]
    paths = [p for p in paths if p.strip()]
    if not paths:
        raise MedtrainError("no input paths on standard input (- reads one path a line)")
    at = inputs.index(STDIN)
    return [*inputs[:at], *paths, *inputs[at + 1:]]
