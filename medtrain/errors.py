"""User-facing errors.

Anything a user can cause (a bad flag, a missing file, malformed data) raises :class:`MedtrainError`.
The command line prints its message as one line and exits with status 2; Python callers get the
exception. Programming errors stay ordinary exceptions with tracebacks.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class MedtrainError(Exception):
    """An error caused by the user's input, reported as a single line."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by the user (Ctrl-C, SIGTERM); the run directory is kept for ``--resume``.
    ``progress`` says how far it got ("after epoch 3"), for a caller that words the way on itself. Its message is
    the command line's way on, then ``python``'s (how to continue from Python); ``command_line`` is the former
    alone, which ``medtrain`` prints.

    A :class:`KeyboardInterrupt`, as the Ctrl-C it reports, not a :class:`MedtrainError`: a notebook's sweep,
    ``for lr in ...: try: train(...) except Exception: ...``, had caught it as a failed run and gone on to the
    next one, so Ctrl-C could not stop the loop."""

    def __init__(self, message: str, progress: str = "", python: str = ""):
        super().__init__(f"{message}; {python}" if python else message)
        self.progress, self.command_line = progress, message


class TrainingDiverged(MedtrainError):
    """The weights became NaN/inf before any epoch was validated: nothing to keep or resume (the checkpoints
    hold the diverged weights), so the run directory is removed and other settings are needed."""


#: More choices than this are not listed in an error (the model zoo's ~60 names had filled the terminal).
LISTED = 20


def suggest(name: str, choices: Iterable[str], what: str, listed_by: str | None = None) -> MedtrainError:
    """Build an 'unknown X' error that names the closest valid choices; with none close, every choice where
    there are at most :data:`LISTED`, else how many and ``listed_by`` (where they are listed)."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    if close:
        hint = f"; did you mean {', '.join(close)}?"
    elif len(choices) <= LISTED or not listed_by:
        hint = f"; choose from: {', '.join(choices)}"
    else:
        hint = f"; none of the {len(choices)} is close ({listed_by})"
    return MedtrainError(f"unknown {what} '{name}'{hint}")
