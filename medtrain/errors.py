"""User-facing errors.

Anything a user can cause (a bad flag, a missing file, malformed data) raises :class:`MedtrainError`.
The command line prints its message as one line and exits with status 2; Python callers get the
exception. Programming errors stay ordinary exceptions with tracebacks.
"""
from __future__ import annotations

import difflib
from typing import Iterable, Mapping


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
    """The weights became NaN/inf (or the outputs overflowed to NaN) before any epoch was validated: nothing to keep or resume (the checkpoints
    hold the diverged weights), so the run directory is removed and other settings are needed."""


#: More choices than this are not listed in an error (the model zoo's ~60 names had filled the terminal).
LISTED = 20


def _misspelt_alias(name: str, choices: list[str], aliases: Mapping[str, str]) -> str | None:
    """The choice of the alias ``name`` misspells (``learning_rat``: ``lr``), where one alias of ``aliases`` of four
    letters or more is that close (difflib ratio >= 0.85) and no choice is closer; a short alias (``wd``, ``bs``) is
    offered only when typed exactly. (A close alias had lost to the settings' own names: ``learning_rat`` was
    offered erasing_p, operating_point.)"""
    close = difflib.get_close_matches(name, [a for a in aliases if len(a) >= 4], n=1, cutoff=0.85)
    if not close:
        return None
    ratio = difflib.SequenceMatcher(None, name, close[0]).ratio()
    if any(difflib.SequenceMatcher(None, name, c).ratio() >= ratio for c in choices):
        return None
    return aliases[close[0]]


def suggest(name: str, choices: Iterable[str], what: str, listed_by: str | None = None,
            aliases: Mapping[str, str] | None = None) -> MedtrainError:
    """Build an 'unknown X' error that names the closest valid choices; with none close, every choice where
    there are at most :data:`LISTED`, else how many and ``listed_by`` (where they are listed). ``aliases``: other
    names of the choices, lower case (the settings' :data:`medtrain.config.settings.ALIASES`, passed where a setting
    is named); a name among them (or a close misspelling of one) whose choice is among ``choices`` is offered that
    choice alone. None (the default): names are matched against ``choices`` alone."""
    choices = sorted(choices)
    aliases = aliases or {}
    alias = aliases.get(str(name).lower()) or _misspelt_alias(str(name).lower(), choices, aliases)
    close = [alias] if alias in choices else difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    if close:
        hint = f"; did you mean {', '.join(close)}?"
    elif len(choices) <= LISTED or not listed_by:
        hint = f"; choose from: {', '.join(choices)}"
    else:
        hint = f"; none of the {len(choices)} is close ({listed_by})"
    return MedtrainError(f"unknown {what} '{name}'{hint}")
