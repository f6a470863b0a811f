"""bench/regularization.py's commands are ones today's ``medtrain compare`` accepts.

Since 6f52437 compare refuses a key both varied and given (``weight_decay is both varied and given as
--weight-decay 1e-4``); the factorial and the crossing gave ``--weight-decay 1e-4 --batch-norm`` beside
``--vary weight_decay=... --vary batch_norm=...``, so every one of their cells was refused and README's
``bash bench/gpu_checks.sh`` ran no factorial. Each command is run through compare's own ``run`` (the CLI's
parse, every check of every cell) and stopped where compare would first look at its folder, before any data is
read or anything written.
"""
from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path

import pytest

import medtrain.compare as compare_mod
from medtrain.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("bench_regularization", ROOT / "bench" / "regularization.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


REG = _load()


class _Checked(BaseException):
    """Raised in place of check_same_grid: compare got past every check of its cells."""


def _compare_args(cmd: list[str]) -> list[str]:
    start = cmd.index("medtrain") + 1
    assert cmd[:3] == ["nice", "-n", "19"] and cmd[start] == "compare", cmd
    return cmd[start:]


def _accepted(args: list[str], tmp_path: Path, monkeypatch) -> None:
    """compare's run(ns) on ``args`` with --out moved under tmp_path, stopped at check_same_grid."""
    args = list(args)
    args[args.index("--out") + 1] = str(tmp_path / "grid")

    def stop(*a, **k):
        raise _Checked

    monkeypatch.setattr(compare_mod, "check_same_grid", stop)
    ns = build_parser().parse_args(args)
    with pytest.raises(_Checked):  # a refusal raises MedtrainError instead, with compare's one line
        ns.func(ns)
    assert not (tmp_path / "grid").exists()


def _built() -> dict[str, list[str]]:
    cmds = {}
    for t in REG.TECHNIQUES:
        cmds[f"main {t}"] = REG.main_cmd(t, "none,val_auc", 3)
        cmds[f"cross {t}"] = REG.cross_cmd(t, 3)
        for es in ("none", "val_auc"):
            cmds[f"factorial {t} {es}"] = REG.factorial_cmd(t, es, 3, "cpu")
    return cmds


BUILT = _built()


@pytest.mark.parametrize("name", [n for n in BUILT if not n.startswith("main")] + ["main none", "main standout"])
def test_built_commands_pass_compare_checks(name, tmp_path, monkeypatch):
    _accepted(_compare_args(BUILT[name]), tmp_path, monkeypatch)


def test_no_key_both_varied_and_given():
    for name, cmd in BUILT.items():
        args = _compare_args(cmd)
        varied = {args[i + 1].split("=", 1)[0] for i, a in enumerate(args) if a == "--vary"}
        given = {a[2:].replace("-", "_").removeprefix("no_") for a in args if a.startswith("--") and a != "--vary"}
        assert not varied & given, (name, varied & given)


def test_factorial_trains_the_study_settings():
    """What the 2026-11-27 factorial trained: lambda in {0, 1e-4, 1e-3} x BN on/off over the shared recipe."""
    args = _compare_args(REG.factorial_cmd("dropout", "val_auc", 3, "gpu"))
    assert args[args.index("--vary") + 1:][:3] == ["weight_decay=0,1e-4,1e-3", "--vary", "batch_norm=true,false"]
    for flag, value in (("--epochs", "15"), ("--batch-size", "32"), ("--patience", "5"), ("--accelerator", "gpu"),
                        ("--early-stop", "val_auc"), ("--dropout", "0.5"), ("--tta", "hflip")):
        assert args[args.index(flag) + 1] == value


def test_commands_output_is_accepted(capsys, tmp_path, monkeypatch):
    assert REG.main(["commands"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 * len(REG.TECHNIQUES) + 2
    for i, line in enumerate(lines[-3:]):  # a main line of the last seeds, and both crossing lines
        _accepted(_compare_args(shlex.split(line)), tmp_path / str(i), monkeypatch)


def test_without_drops_a_flag_and_its_value_only():
    args = ["--epochs", "15", "--weight-decay", "1e-4", "--batch-norm", "--patience", "5", "--no-batch-norm"]
    assert REG.without(args, "weight_decay") == ["--epochs", "15", "--batch-norm", "--patience", "5",
                                                 "--no-batch-norm"]
    assert REG.without(args, "batch_norm") == ["--epochs", "15", "--weight-decay", "1e-4", "--patience", "5"]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
