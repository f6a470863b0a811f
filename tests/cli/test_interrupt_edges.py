"""Ctrl-C and SIGTERM at the edges of a command: where Python ignores exceptions (a weakref callback, as
matplotlib's and SQLAlchemy's while ``tune`` draws its plots), while the command line's modules are imported,
and outside the trainings of the commands that train many runs. Each is one line and exit status 130, and the
line names the way on where there is one."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import make_npz, run_cli  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RERUN = "medtrain: interrupted; run the same command again to continue"


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}


# The child starts with Ctrl-C's default action, as from a terminal: a suite started in the background of a
# non-interactive shell ignores SIGINT, which Python then keeps ignoring (the SIGINT case had "carried on" after 10 s
# of waiting). Set in a small launcher that execs the script (a preexec_fn could deadlock a child forked from this
# multi-threaded process).
DEFAULT_SIGINT = ["-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"]


def _python(script: str, *args, cwd, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *DEFAULT_SIGINT, "-c", textwrap.dedent(script), *map(str, args)],
                          capture_output=True, text=True, env=_env(), cwd=cwd, timeout=timeout)


# ---------------------------------------------------------------- an interrupt where Python ignores exceptions

@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_an_interrupt_inside_a_weakref_callback_ends_the_command(tmp_path, signame):
    # it had been "Exception ignored in: <function ...> KeyboardInterrupt", and the command carried on to exit 0
    p = _python("""
        import os, signal, sys, time, weakref
        import medtrain.cli.eval as eval_cli
        from medtrain.cli import main

        def run(args):
            class Figure:
                pass

            def on_collect(ref):  # the signal arrives, and its handler runs, inside the callback
                os.kill(os.getpid(), getattr(signal, sys.argv[1]))
                end = time.time() + 5
                while time.time() < end:
                    pass

            figure = Figure()
            ref = weakref.ref(figure, on_collect)
            del figure
            end = time.time() + 5
            while time.time() < end:
                time.sleep(0.01)
            print("carried on")
            return 0

        eval_cli.run = run
        hook = sys.unraisablehook
        code = main(["eval", "."])
        print(code, "hook restored" if sys.unraisablehook is hook else "hook left")
        """, signame, cwd=tmp_path)
    assert (p.stdout, p.stderr) == ("130 hook restored\n", "medtrain: interrupted\n")


def test_other_ignored_exceptions_still_reach_the_previous_hook(tmp_path, capsys, monkeypatch):
    import weakref

    import medtrain.cli.eval as eval_cli

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_type))

    def run(args):
        class Figure:
            pass

        def on_collect(ref):
            raise ValueError("a library's bug")

        figure = Figure()
        ref = weakref.ref(figure, on_collect)
        assert ref() is figure
        del figure
        return 0

    monkeypatch.setattr(eval_cli, "run", run)
    assert run_cli(capsys, "eval", tmp_path) == (0, "", "")
    assert seen == [ValueError]


# ---------------------------------------------------------------- while the command line's modules load

OLD_ALL = ["Config", "MedtrainError", "train", "evaluate", "load", "create_model", "list_models", "__version__"]


def test_import_medtrain_loads_its_names_when_first_used(tmp_path):
    p = _python(f"""
        import sys
        import medtrain

        early = [m for m in ("torch", "numpy", "medtrain.config", "medtrain.errors") if m in sys.modules]
        names = {OLD_ALL!r}
        missing = [n for n in names if n not in medtrain.__all__ or n not in dir(medtrain)]
        from medtrain import *  # noqa: F403
        from medtrain.config import Config as C
        from medtrain.errors import MedtrainError as E
        same = medtrain.Config is C and medtrain.MedtrainError is E and medtrain.__version__ == "0.3.0"
        print(early, missing, same, [n for n in names if not hasattr(medtrain, n)])
        """, cwd=tmp_path)
    assert (p.stdout, p.stderr) == ("[] [] True []\n", "")


def test_import_medtrain_cli_loads_neither_numpy_nor_torch(tmp_path):
    # the console script imports medtrain.cli before main() sets up the interrupt handling: that import had
    # taken 0.1 s (numpy, yaml, the settings), where a Ctrl-C was a traceback
    p = _python("""
        import sys
        import medtrain.cli

        print([m for m in ("torch", "numpy", "yaml", "medtrain.config", "medtrain._io") if m in sys.modules])
        """, cwd=tmp_path)
    assert (p.stdout, p.stderr) == ("[]\n", "")


def test_ctrl_c_while_python_m_medtrain_imports_the_command_line(tmp_path):
    # a KeyboardInterrupt traceback from the imports, exit status 1
    p = _python("""
        import runpy, sys

        class CtrlC:
            def find_spec(self, name, path=None, target=None):
                if name == "medtrain.errors":  # the first module medtrain.cli imports of its own
                    raise KeyboardInterrupt

        sys.meta_path.insert(0, CtrlC())
        sys.argv = ["medtrain", "models"]
        runpy.run_module("medtrain", run_name="__main__", alter_sys=True)
        """, cwd=tmp_path)
    assert (p.returncode, p.stdout, p.stderr) == (130, "", "medtrain: interrupted\n")


# ---------------------------------------------------------------- outside the trainings of a many-run command

def _ctrl_c(*a, **k):
    raise KeyboardInterrupt


@pytest.mark.parametrize("where, argv", [
    ("medtrain.tune.load_splits", ["tune", "--epochs", "1", "--trials", "2", "--out", "out"]),
    ("medtrain.compare.load_splits", ["compare", "--epochs", "1", "--vary", "dropout=0,0.3", "--out", "out"]),
    ("medtrain.data.load_splits", ["augment", "search", "--budget-epochs", "1", "--out", "policy.yaml"]),
    ("medtrain.crossval.load_splits", ["train", "--epochs", "1", "--folds", "3", "--out", "out"]),
], ids=["tune", "compare", "augment-search", "train-folds"])
def test_ctrl_c_while_a_many_run_command_loads_its_data_names_the_rerun(tmp_path, capsys, monkeypatch, where, argv):
    # the line had been a bare "medtrain: interrupted"; each continues where it was when run again (tune its
    # study, compare its finished cells, augment search its candidates or study, --folds its finished folds)
    import importlib

    module, name = where.rsplit(".", 1)
    monkeypatch.setattr(importlib.import_module(module), name, _ctrl_c)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *argv, "--data", make_npz(tmp_path / "d.npz"))
    assert (code, err) == (130, RERUN + "\n")
