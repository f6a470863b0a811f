"""An explanation killed while it is written (SIGKILL: no ``finally`` runs) into a folder that holds an earlier one
leaves nothing that the next explanation there does not remove, and never the earlier explanation's overlays beside
the new ``maps.npz``. Its files are moved into the folder one by one, and the earlier overlays had been removed only
after ``maps.npz`` was in place: a kill in between left them unlisted, for good (user walkthrough,
``medtrain explain RUN - --out ex150``). A user's own files, even one named like an overlay, stay.

The kill is a ``Killed`` exception raised in place of a rename or removal in the folder, at each step in turn:
``except Exception`` and the cleanup of a temporary folder beside ``out`` do not stop it, and what lies in ``out``
is what SIGKILL at that point leaves there."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest

import medtrain.reports._plots_saliency as plots_saliency
from medtrain.explain import MAPS_FILE
from medtrain.explain.write import INDEX_FILE, write_explanation

from conftest import blank_explanation, read_rows, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

USERS = {"2024_holiday.png": b"mine", "notes.txt": b"mine"}  #: the first named as an overlay is, listed by none


class Killed(BaseException):
    """SIGKILL: not an error any ``except Exception`` handles."""


@contextlib.contextmanager
def killed_at(step: int | None = None, after_maps: bool = False):
    """Kill the process (raise :class:`Killed`) before its ``step``-th rename or removal of a file (counting from
    0), or right after ``maps.npz`` is renamed into place; once killed, the rest (a ``finally``'s cleanup) runs.
    Yields the list of the steps seen."""
    seen: list[str] = []
    real = {name: getattr(os, name) for name in ("replace", "rename", "unlink", "remove")}

    def wrap(name):
        def mutate(*args, **kwargs):
            if step is not None and len(seen) == step:
                seen.append("killed")
                raise Killed
            seen.append(f"{name} {args[-1] if name in ('replace', 'rename') else args[0]}")
            out = real[name](*args, **kwargs)
            if after_maps and name in ("replace", "rename") and Path(args[1]).name == MAPS_FILE:
                raise Killed
            return out
        return mutate

    try:
        for name in real:
            setattr(os, name, wrap(name))
        yield seen
    finally:
        for name, f in real.items():
            setattr(os, name, f)


def _listed(out: Path) -> set[str]:
    with np.load(out / MAPS_FILE) as z:
        return set(map(str, z["overlays"]))


def _overlays(out: Path) -> set[str]:
    return {p.name for p in out.glob("*.png")} - set(USERS)


def _indexed(out: Path) -> list[str] | None:
    """The overlays ``explanations.csv`` lists, in order; None where there is none."""
    return [r["overlay"] for r in read_rows(out / INDEX_FILE)] if (out / INDEX_FILE).exists() else None


def test_a_kill_at_any_step_leaves_nothing_the_next_explanation_does_not_remove(tmp_path, monkeypatch):
    monkeypatch.setattr(plots_saliency, "saliency_overlay",  # a stand-in: the drawing is not what is tested
                        lambda image, saliency, path, title, ras=False: Path(path).write_bytes(b"png"))
    first = [f"first{i}.png" for i in range(5)]
    killed = ["second0.png", "second1.png"]  # overlays named as two of the first explanation's are not

    def folder(k: int) -> Path:
        out = tmp_path / f"ex{k}"
        write_explanation(blank_explanation(first), out)
        for name, data in USERS.items():
            (out / name).write_bytes(data)
        return out

    counted = folder(-1)
    with killed_at() as seen:  # the steps of writing it, unkilled
        write_explanation(blank_explanation(killed), counted)
    assert seen, "no rename or removal seen: the kill could not be placed"
    for k in range(len(seen) + 1):
        out = folder(k)
        with pytest.raises(Killed) if k < len(seen) else contextlib.nullcontext():
            with killed_at(k):
                write_explanation(blank_explanation(killed), out)
        if _listed(out) == {f"{i:04d}_{n}" for i, n in enumerate(killed)}:  # the new maps: only their overlays
            assert _overlays(out) <= _listed(out), f"killed at step {k}: earlier overlays beside the new maps.npz"
        # the index: none, or whole and of the maps.npz beside it (never the earlier one's beside the new maps)
        assert _indexed(out) in (None, sorted(_listed(out))), f"killed at step {k}: {_indexed(out)}"
        # the next explanation into the folder (another, smaller one) leaves exactly its own files and the user's
        write_explanation(blank_explanation(["third.png"]), out)
        assert _listed(out) == _overlays(out) == {"0000_third.png"}, f"killed at step {k}: {sorted(_overlays(out))}"
        assert sorted(p.name for p in out.iterdir()) == sorted({"0000_third.png", MAPS_FILE, INDEX_FILE, *USERS}), k
        assert _indexed(out) == ["0000_third.png"], k
        assert all((out / name).read_bytes() == data for name, data in USERS.items())


def test_explain_rerun_after_a_kill_as_its_maps_land_leaves_only_its_own_overlays(trained_run, tmp_path, capsys):
    """The walkthrough's case through the command line: killed right after ``maps.npz`` was renamed into place."""
    run, _, _ = trained_run
    out = tmp_path / "ex150"
    assert run_cli(capsys, "explain", run, "--split", "test", "--limit", "4", "--out", out)[0] == 0
    (out / "2024_holiday.png").write_bytes(b"mine")
    with pytest.raises(Killed), killed_at(after_maps=True):
        run_cli(capsys, "explain", run, "--split", "test", "--limit", "2", "--out", out)
    mine = {"0000_0.png", "0001_1.png"}
    assert _listed(out) != mine or _overlays(out) <= mine  # never the earlier overlays beside the new maps
    code, _, _ = run_cli(capsys, "explain", run, "--split", "test", "--limit", "2", "--out", out)
    assert code == 0 and _listed(out) == mine
    assert sorted(p.name for p in out.iterdir()) == sorted(mine | {MAPS_FILE, INDEX_FILE, "2024_holiday.png"})
