"""The ``medtrain`` command line.

Each sub-command lives in its own module of this package and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (called with the parsed namespace, returning an exit code) and, for a
command with ``--out``, ``out_kind`` (``"dir"`` or ``"file"``), checked before the command runs.
User errors (:class:`medtrain.errors.MedtrainError`) and outputs the storage refuses (a full disk, a quota, ``ulimit
-f``, an I/O error, a read-only file system: ``_io.STORAGE_ERRNOS``), standard output's included, become one line on
stderr and exit status 2; Ctrl-C and
SIGTERM (``kill``, ``timeout``, ``docker stop``, a scheduler) one line and exit status 130, after the files being
written are cleaned up (also where Python ignores exceptions: a weakref callback; :mod:`medtrain.cli._interrupts`).
Importing this module imports neither numpy nor torch: :func:`main` sets this up within milliseconds of the start.
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import errno
import importlib
import os
import shlex
import stat
import sys
import warnings

from medtrain.errors import MedtrainError, TrainingInterrupted, suggest
from medtrain.cli._interrupts import interrupts_raised, no_new_imports

# Sub-command modules, in the order `medtrain --help` lists them. A module missing from the
# installed package is skipped, so partial installs still give a working command.
SUBCOMMANDS = ["train", "eval", "predict", "export", "explain", "compare", "tune", "advise", "models", "cost",
               "augment", "cache"]


class _Parser(argparse.ArgumentParser):
    """argparse with the project's error form: one line and exit 2 (argparse printed its usage text first,
    27 lines for ``train --augment`` without a value); ``--help`` still prints the usage."""

    def __init__(self, *args, **kwargs):
        # a prefix of an option is not that option: `--epoch 3` had trained with --epochs 3, `--pre x` with
        # --pretrained x, and a new option sharing a prefix would have changed what an old command meant
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"medtrain: error: {message} (see `{self.prog} --help`)\n")

    def _print_message(self, message, file=None):
        """argparse's, without its ``except OSError: pass``: ``--help``/``--version`` into a full disk or /dev/full
        had printed nothing and exited 0; :func:`main` says so in one line."""
        if message:
            try:
                (file or sys.stderr).write(message)
            except AttributeError:  # no stream at all (sys.stdout is None under pythonw), as argparse has it
                pass

    def _check_value(self, action, value):
        """A value outside ``choices`` names the closest ones (``medtrain trian``: did you mean train?), as
        ``medtrain cost resnt18`` does; argparse listed every choice."""
        if action.choices is None or value in action.choices:
            return
        what = ("command" if self.prog == "medtrain" else f"{self.prog} command") \
            if isinstance(action, argparse._SubParsersAction) else "value"
        raise argparse.ArgumentError(action, str(suggest(str(value), [str(c) for c in action.choices], what)))


def build_parser() -> argparse.ArgumentParser:
    from medtrain import __version__

    parser = _Parser(prog="medtrain", description="Train, compare and analyse CNN classifiers on medical images.")
    parser.add_argument("-V", "--version", action="version", version=f"medtrain {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"medtrain.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"medtrain.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def _utf8_mode() -> None:
    """Run the command in Python's UTF-8 mode where the file-system encoding is ASCII (``LC_ALL=C`` with
    ``PYTHONUTF8=0``, a POSIX locale without PEP 538's coercion): a non-ASCII class folder or path ('normál',
    'runs/ré') had crashed train with UnicodeEncodeError and made eval call an existing folder missing. One
    mechanism for every name and stream, rather than converting names file by file: the process re-executes
    itself as the command line it was started with, with ``PYTHONUTF8=1`` (which overrides ``PYTHONUTF8=0``,
    and which its own child processes, DDP's ranks among them, inherit; a marker variable had left them in ASCII
    mode). Only the medtrain command itself (``medtrain ...``, ``python -m medtrain ...``) re-executes: a caller's
    script that calls ``main()`` would have run twice."""
    import codecs

    if sys.flags.utf8_mode or codecs.lookup(sys.getfilesystemencoding()).name != "ascii":
        return
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    ours = (spec is not None and spec.name in ("medtrain.__main__", "medtrain")) or (
        spec is None and len(sys.orig_argv) > 1 and os.path.basename(sys.orig_argv[1]) == "medtrain")  # the script
    if not ours or os.environ.get("PYTHONUTF8") == "1":  # not the command, or UTF-8 mode refused us: never a loop
        return
    os.environ["PYTHONUTF8"] = "1"
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def main(argv: list[str] | None = None) -> int:
    # first: a SIGTERM while the modules load was the default's silent exit 143 (Ctrl-C is Python's already)
    with interrupts_raised():
        return _command_line(argv)


def _command_line(argv: list[str] | None) -> int:
    """Parse and run the command line; what ends it early (Ctrl-C before the command ran, a closed pipe, a write
    the storage refuses) is one line and its exit status."""
    args = None
    try:
        if argv is None:  # the command line (medtrain ..., python -m medtrain ...), not a caller's list
            _utf8_mode()
        parser = build_parser()
        try:
            args = _parse(parser, argv)
        except SystemExit:  # --help, --version and argparse's errors end in the parser: their output must be out
            _flush_stdout()  # first (a failed flush at exit is silent, and --version > /dev/full exited 0)
            raise
        code = _run(args)
        _flush_stdout()  # here, not at exit: a full disk under `> out.txt` is then one line and exit 2
        return code
    except KeyboardInterrupt:  # Ctrl-C before the command ran (building the parser); in it, `_run` says it
        _say("medtrain: interrupted")
        return 130
    except BrokenPipeError:  # `medtrain models | head`: the reader has what it wanted (a traceback had followed)
        _drop_stdout()  # the flush at exit must not fail again
        return 141  # 128 + SIGPIPE, as a shell tool ended by the closed pipe
    except Exception as e:  # the last guard, for writes no medtrain writer wraps (standard output, a library's log)
        from medtrain._io import storage_error

        err = storage_error(e)
        if err is None:  # not the storage's (a bug, MemoryError): as it is, with its traceback
            raise
        _say(f"medtrain: error: cannot {'read or ' * (err.errno == errno.EIO)}write {_written(err, args)}: "
             f"{err.strerror or os.strerror(err.errno)}{_way_on(args, err.filename)}")
        _drop_stdout()
        return 2


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    args, extra = parser.parse_known_args(argv)
    if extra and isinstance(getattr(args, "inputs", None), list) and not any(e.startswith("-") and e != "-" for e in extra):
        args.inputs += extra  # `explain RUN --out DIR a.png` (or `-`): argparse gives an optional list nothing
    elif extra:  # after an option, and leaves the inputs over
        option = next((e.split("=", 1)[0] for e in extra if e.startswith("--")), None)
        if option is not None:  # an unknown option names the closest ones, as an unknown command does
            own = _command_parser(parser, args)
            known = sorted(s for a in own._actions for s in a.option_strings if s.startswith("--"))
            close = [k for k in known if k.startswith(option)][:3] or difflib.get_close_matches(option, known, 3, 0.7)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            parser.exit(2, f"medtrain: error: unknown option {option}{hint} (see `{own.prog} --help`)\n")
        parser.exit(2, f"medtrain: error: unrecognized arguments: {' '.join(extra)} (see `medtrain {args.command} "
                       f"--help`)\n")
    if isinstance(getattr(args, "out", None), str) and args.out.startswith("~"):  # quoted: no shell expanded it
        args.out = os.path.expanduser(args.out)  # compare's tables, predict's file... had gone to a literal ./~
    return args


def _run(args: argparse.Namespace) -> int:
    shown = warnings.showwarning
    warnings.showwarning = _own_warnings_in_one_line(shown)
    try:
        out, kind = getattr(args, "out", None), getattr(args, "out_kind", None)
        if kind and out is not None and not str(out).strip():  # an unset shell variable: had meant the default
            raise MedtrainError(f"--out is empty ({out!r}); name the {'folder' if kind == 'dir' else 'file'}, or leave "
                                f"--out out for the default")
        if out and kind and _first_process():  # before any work: a wrong --out was a traceback at the end
            from medtrain._io import check_output

            check_output(out, folder=kind == "dir", what="--out ", probe=True)  # (the first process's probe)
        with _extra_processes_interrupted(args):
            return int(args.func(args) or 0)
    except TrainingInterrupted as e:  # Ctrl-C in training: what was kept and how to continue (the way on
        print(f"medtrain: {e.command_line}", file=sys.stderr)  # in Python unsaid)
        return 130
    except MedtrainError as e:
        io = sys.modules.get("medtrain._io")  # (not imported: the error is no failed write)
        way_on = _way_on(args, e.path) if io is not None and isinstance(e, io.WriteFailed) else ""
        print(f"medtrain: error: {e}{way_on}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside the epochs (loading, the flip pilots, the final evaluation and writing)
        with no_new_imports():
            print(f"medtrain: interrupted{_continue_with(args)}", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = shown


def _extra_processes_interrupted(args: argparse.Namespace):
    """``train``'s first process: an extra process of a multi-process run that ends interrupted (Ctrl-C during
    their start-up) ends this one with the interrupt's line and 130, where Lightning had SIGKILLed it (137, no
    line): :func:`medtrain.training.distributed.interrupted_processes_end_the_run`."""
    if getattr(args, "command", None) != "train" or not _may_start_processes(args) or not _first_process():
        return contextlib.nullcontext()
    from medtrain.training.distributed import interrupted_processes_end_the_run

    def say():
        with no_new_imports():
            _say(f"medtrain: interrupted{_continue_with(args)}")
    return interrupted_processes_end_the_run(say)


def _may_start_processes(args: argparse.Namespace) -> bool:
    """Whether ``train``'s settings may start extra processes (``devices`` other than 1: the flag, a resumed run's,
    ``--config``'s; ``auto`` counts, as it is several on a machine with several GPUs): only then is the observer of
    :func:`_extra_processes_interrupted` wrapped, so that a one-process run imports nothing for it before it starts
    (the Ctrl-C handler's hint imports nothing new, see ``no_new_imports``)."""
    devices = getattr(args, "devices", None)
    # as cli.train resolves them: the flag, else a resumed run's saved settings, else --config's
    saved = os.path.join(args.resume, "config.yaml") if getattr(args, "resume", None) is not None else None
    for source in (saved, getattr(args, "config", None)):
        if devices is not None or not source:
            continue
        try:
            from medtrain._yaml import read_yaml_file

            devices = (read_yaml_file(source, "config file") or {}).get("devices")
        except Exception:  # noqa: BLE001  (unreadable: said by train itself; the wrapper costs only imports)
            return True
    return devices is not None and str(devices).strip() != "1"


def _written(e: OSError, args: argparse.Namespace | None) -> str:
    """What a failed write was writing: the file it names, else standard output where it is what fails (a device
    that is no terminal, /dev/full; a file on a full file system), else the command's --out. (A write through
    a file object names no file: nothing tells which one failed.)"""
    if e.filename is not None:
        return str(e.filename)
    try:
        fd = sys.stdout.fileno()
        st = os.fstat(fd)
        if (stat.S_ISCHR(st.st_mode) and not os.isatty(fd)) or (
                stat.S_ISREG(st.st_mode) and e.errno == errno.ENOSPC and os.fstatvfs(fd).f_bavail == 0):
            return "to standard output"
    except (AttributeError, ValueError, OSError):  # io.UnsupportedOperation is both: a replaced stdout
        pass
    out = getattr(args, "out", None)
    return f"{out}" if out else "the output"


def _train_folder(args: argparse.Namespace | None):
    """The run folder of a ``medtrain train`` command as ``cli.train`` resolves it (``--resume``, ``--out``, the
    config's ``out`` or the default), with its settings; ``(None, None)`` for another command or settings that
    cannot be read (the command had not got far). The one resolver of both hints below."""
    if getattr(args, "command", None) != "train":
        return None, None
    from pathlib import Path

    from medtrain import config as config_mod
    from medtrain.cli._options import config_layers
    from medtrain.rundir import out_folder

    try:
        if args.resume is not None:
            return Path(args.resume), None
        cfg = config_mod.resolve(*config_layers(args))
        return out_folder(cfg), cfg  # (an empty --out is refused there: no folder to name)
    except Exception:  # noqa: BLE001  (a hint is all that is at stake)
        return None, None


def _way_on(args: argparse.Namespace | None, path) -> str:
    """After a failed write in ``medtrain train``: the run folder holding it (kept once it has a checkpoint, see
    ``api.train``) resumes; a run whose first epoch did not end leaves nothing, and none is named."""
    if getattr(args, "command", None) != "train":
        return ""
    if getattr(args, "folds", None):  # cross-validation: its finished folds are reused, an interrupted one resumes
        return "; the same command continues once the runs can be written"
    from pathlib import Path

    from medtrain.rundir import is_run

    near = [Path(path), *list(Path(path).parents)[:3]] if path else []  # RUN/logs/version_0/metrics.csv at most
    near.append(_train_folder(args)[0])
    run = next((d for d in near if d is not None and is_run(d)), None)
    if run is None:
        return ""
    return f"; `medtrain train --resume {shlex.quote(str(run))}` continues the run once it can be written"


_RERUN = "; run the same command again to continue"


def _continue_with(args: argparse.Namespace) -> str:
    """After Ctrl-C or SIGTERM outside training's epochs (which say it with :class:`TrainingInterrupted`): how to
    continue. ``tune`` (its study), ``compare`` (finished cells skipped), ``augment search`` (finished candidates
    reused, its study kept) and ``train --folds`` (finished folds reused) continue with the same command; ``train``
    with ``--resume`` where a run folder holds its config but no finished run."""
    command = getattr(args, "command", None)
    if command in ("tune", "compare") or (command == "augment" and getattr(args, "augment_command", "") == "search"):
        return _RERUN
    try:  # (the hint's modules not imported yet: see no_new_imports)
        run, cfg = _train_folder(args)
        if run is None:
            return ""
        from medtrain.rundir import is_finished, is_run
    except ImportError:
        return ""

    if cfg is not None and cfg.folds and cfg.fold is None:  # a cross-validation: started folds resume
        try:
            from medtrain.crossval import fold_dir
        except ImportError:  # not imported yet: no fold started
            return _RERUN

        started = any(is_run(fold_dir(run, k)) for k in range(cfg.folds))
        return f"{_RERUN}: finished folds are reused" if started else _RERUN
    if not is_run(run) or is_finished(run):
        return ""
    return f"; continue with `medtrain train --resume {shlex.quote(str(run))}`"


def _flush_stdout() -> None:
    if sys.stdout is not None:  # None under pythonw
        sys.stdout.flush()


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr)
    except (OSError, ValueError, AttributeError):  # stderr fails too (`2>/dev/full`): the exit status remains
        pass


def _drop_stdout() -> None:
    """Standard output that failed is pointed at /dev/null, so that the flush at exit does not fail once more
    (``Exception ignored ... OSError`` and exit 120). Output already written stays."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError, AttributeError):
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):  # a replaced stdout without a descriptor
            pass


def _command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the command line's (sub-)command: ``augment show``'s, not ``augment``'s."""
    while True:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        chosen = getattr(args, sub.dest, None) if sub is not None else None
        if chosen not in (sub.choices if sub is not None else {}):
            return parser
        parser = sub.choices[chosen]


def _own_warnings_in_one_line(shown):
    """medtrain's own warnings (a patient split far from its fractions, labels that read like a missing value)
    as one line ``medtrain: warning: ...``; Python's form had added the file, line and a line of source code.
    Other libraries' warnings keep their form."""
    said = set()  # the data are read more than once by some commands (train, then its pilots): said once

    def show(message, category, filename, lineno, file=None, line=None):
        if category.__module__.split(".")[0] == "medtrain":
            if str(message) not in said:
                said.add(str(message))
                print(f"medtrain: warning: {message}", file=file or sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)
    return show


def _first_process() -> bool:
    """False in the extra processes a multi-device run starts (they re-run this command line)."""
    from medtrain.training.distributed import launch_rank

    return launch_rank() == 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
