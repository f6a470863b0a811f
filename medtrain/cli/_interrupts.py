"""Ctrl-C and SIGTERM during a command: both raise KeyboardInterrupt (so the ``finally`` blocks of the writes in
progress remove their temporary files), also where Python ignores exceptions (a weakref callback, a ``__del__``);
and the handler's hint imports nothing new (:func:`no_new_imports`). Only the standard library is imported
here: :func:`medtrain.cli.main` enters :func:`interrupts_raised` first, within milliseconds of the start."""
from __future__ import annotations

import _thread
import contextlib
import signal
import sys
import time


@contextlib.contextmanager
def interrupts_raised():
    """One command's interrupt handling: SIGTERM handled as Ctrl-C (:func:`_sigterm_as_ctrl_c`) and a
    KeyboardInterrupt Python ignored raised again (:func:`_interrupts_not_ignored`); on the way out the previous
    SIGTERM handler and ``sys.unraisablehook`` are back, and a re-raise still on its way is dropped."""
    previous = _sigterm_as_ctrl_c()  # first: a SIGTERM while the modules load was the default's silent exit 143
    hook = sys.unraisablehook
    sys.unraisablehook = _interrupts_not_ignored(hook)
    _rearm["active"] = True
    try:
        yield
    finally:
        _rearm["active"] = False  # an interrupt re-raised by the hook belongs to this command only
        sys.unraisablehook = hook
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class _NoImports:
    """A finder, first in ``sys.meta_path``, that refuses every module not imported yet (one already in
    ``sys.modules`` never reaches a finder)."""

    def find_spec(self, name, path=None, target=None):
        raise ImportError(f"{name} is not imported yet (Ctrl-C)", name=name)


@contextlib.contextmanager
def no_new_imports():
    """The Ctrl-C handler's hint uses only modules that finished importing: a Ctrl-C in the first seconds lands
    inside torch's import (``medtrain.cli._first_process``), and importing torch again from the handler re-ran its half-done
    extension's registrations: a segfault, ``SystemError: bad call flags`` or ``partially initialized module
    'torch'`` after "medtrain: interrupted", where one line and exit 130 were due. Refusing every new import (not
    a list of the modules the hint needs, which config validation's lazy imports would outgrow) leaves the hint
    out where its modules are not there yet; no run folder has been written then."""
    blocker = _NoImports()
    sys.meta_path.insert(0, blocker)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


# active: main runs a command; busy: the hook runs; pending: a re-raise is on its way
_rearm = {"active": False, "busy": False, "pending": False}


def _interrupts_not_ignored(previous):
    """A ``sys.unraisablehook`` that raises again, silently, a KeyboardInterrupt Python ignored: Ctrl-C or SIGTERM
    in a weakref callback or a ``__del__`` (matplotlib's, SQLAlchemy's, while ``tune`` draws its plots) had been
    "Exception ignored in: ... KeyboardInterrupt" and the command went on to exit 0. Other exceptions go to
    ``previous``. The signal's handler is run again (``_thread.interrupt_main``) from a thread, once the hook has
    returned: run from the hook, it raised at the hook's next call, inside the hook, ignored once more."""
    def hook(unraisable):
        kind = unraisable.exc_type
        if not (isinstance(kind, type) and issubclass(kind, KeyboardInterrupt)) or not (signum := _signal()):
            return previous(unraisable)
        if _rearm["pending"]:  # one re-raise is on its way already
            return None
        _rearm["pending"] = _rearm["busy"] = True
        _thread.start_new_thread(_rearm_when_hook_returned, (signum,))  # (no lock of threading's taken)
        _rearm["busy"] = False  # the last statement: no check for signals between it and the return
    return hook


def _rearm_when_hook_returned(signum: int) -> None:
    while _rearm["busy"]:  # the main thread cannot take this before the hook returned: it holds the GIL
        time.sleep(0.0005)
    _rearm["pending"] = False
    if _rearm["active"]:
        _thread.interrupt_main(signum)


def _signal() -> int:
    """The signal whose handler raises KeyboardInterrupt (Python's Ctrl-C, our SIGTERM), else one with a handler."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    ours = [s for s, h in handlers.items() if h in (signal.default_int_handler, _raise_interrupt)]
    return next(iter(ours or [s for s, h in handlers.items() if callable(h)]), 0)


def _sigterm_as_ctrl_c():
    """SIGTERM handled as Ctrl-C, so the temporary files of a write in progress (``_io.atomic_path``,
    ``atomic_dir``, a store being built) are removed by their ``finally`` blocks; SIGTERM's default ends the
    process at once and had left them behind. Lightning adds its own handler while it trains and calls this one
    after it. Returns the handler it replaced (None where none can be set: not the main thread)."""
    try:
        return signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:
        return None

