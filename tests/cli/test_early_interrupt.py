"""Ctrl-C in the first seconds of ``medtrain train``, while the parser is built and torch is being imported:
one line ``medtrain: interrupted`` and exit status 130, as later on. The handler had imported torch once more in
the middle of its interrupted import (for the resume hint): a segfault, ``SystemError: bad call flags`` or
``partially initialized module 'torch'`` after the line, and exit status 139, 134 or 1."""
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import make_npz  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}


# The child is started with Ctrl-C's default action, as from a terminal: a test suite started in the background of a
# non-interactive shell ignores SIGINT, Python then keeps ignoring it, and every command here trained to its end
# (exit 0, 25-45 s each) instead of being interrupted. Set in a small launcher that execs the command (a
# preexec_fn could deadlock a child forked from this multi-threaded process).
DEFAULT_SIGINT = ["-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"]


# Ctrl-C when ``-X importtime`` says that module finished importing (the moment, not a guessed delay: a loaded
# machine takes 3 s where another takes 1): medtrain.cli._options (the parser is being built: the sub-commands'
# modules are imported), torch's extension (loaded: torch's Python half runs), torch.nn and torch.functional
# (deep in torch's import, which `_run` starts before the command).
def signal_when_imported(tmp_path, args: list, module: str, sig) -> tuple[int, str]:
    """Run ``python -m medtrain ARGS``, send ``sig`` once ``module`` has been imported; (exit status, what it said
    on stderr without the import times)."""
    p = subprocess.Popen([sys.executable, *DEFAULT_SIGINT, "-X", "importtime", "-m", "medtrain", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=tmp_path)
    lines = []
    try:
        for line in p.stderr:
            lines.append(line)
            if re.search(rf"\|\s*{re.escape(module)}$", line.rstrip()):
                p.send_signal(sig)
                break
        else:
            pytest.fail(f"{module} was never imported:\n{''.join(lines)}")
        _, rest = p.communicate(timeout=60)
    finally:
        p.kill() if p.poll() is None else None
    said = [line for line in [*lines, *rest.splitlines(True)] if not line.startswith("import time:")]
    return p.returncode, "".join(said)


@pytest.mark.parametrize("module", ["medtrain.cli._options", "torch._C", "torch.nn", "torch.functional"])
def test_ctrl_c_while_train_starts_is_one_line_and_exit_130(tmp_path, module):
    data = make_npz(tmp_path / "d.npz")
    args = ["train", "--data", str(data), "--epochs", "1", "--no-progress", "--out", str(tmp_path / "run")]
    assert signal_when_imported(tmp_path, args, module, signal.SIGINT) == (130, "medtrain: interrupted\n")


def test_sigterm_while_the_parser_is_built_is_one_line_and_exit_130(tmp_path):
    # SIGTERM's handler had been set when the command started, after the parser: before, it ended the process
    # at once, with exit status 143 and no word
    said = signal_when_imported(tmp_path, ["models"], "medtrain.cli._options", signal.SIGTERM)
    assert said == (130, "medtrain: interrupted\n")


def test_the_ctrl_c_handler_imports_nothing_new(tmp_path):
    # deterministic: the handler runs where torch is not imported (as after an interrupted import of it); it had
    # imported medtrain.rundir, and with it torch, for the resume hint
    data = make_npz(tmp_path / "d.npz")
    script = textwrap.dedent(f"""
        import sys
        from medtrain.cli import _parse, _run, build_parser

        args = _parse(build_parser(), ["train", "--data", {str(data)!r}, "--out", {str(tmp_path / "run")!r}])
        args.out_kind = None  # (the --out check asks torch which process this is)

        def interrupted(args):
            raise KeyboardInterrupt

        args.func = interrupted
        before = sorted(sys.modules)
        assert "torch" not in before, "the parser imported torch"
        code = _run(args)
        print(code, sorted(set(sys.modules) - set(before)))
        """)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_env(), cwd=tmp_path,
                       timeout=120)
    assert (p.returncode, p.stdout, p.stderr) == (0, "130 []\n", "medtrain: interrupted\n")
