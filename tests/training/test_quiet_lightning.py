"""A quiet run (``train(..., verbose=False)``) prints nothing of Lightning's: "Restoring states from the checkpoint
path at ..." (a resumed run) and "Detected KeyboardInterrupt, attempting graceful shutdown ..." (Ctrl-C) had
been printed by a quiet train, though its device and precision lines were already held back. A verbose one keeps
them. Measured on :func:`medtrain.training.fit.fit`, which ``train`` calls with its ``verbose``."""
from __future__ import annotations

import logging
import sys

import pytest

from medtrain import config as config_mod
from medtrain.data import load_splits
from medtrain.rundir import CHECKPOINT_DIR, LAST_CHECKPOINT
from medtrain.training.build import resolve_auto
from medtrain.training.fit import fit

from conftest import InterruptAt, fast_config


@pytest.fixture
def lightning_console(capfd, monkeypatch):
    """What Lightning prints on the process's standard error, read by ``capfd``: its console handlers write to the
    ``sys.stderr`` they found at import, under pytest one of its own captures (closed or not this test's), so they
    are pointed at the process's (file descriptor 2, which ``capfd`` reads), as in a shell."""
    for name in {"lightning", *logging.Logger.manager.loggerDict}:
        if name.startswith("lightning"):
            for h in getattr(logging.getLogger(name), "handlers", []):
                if type(h) is logging.StreamHandler:
                    monkeypatch.setattr(h, "stream", sys.__stderr__)
    return capfd


def test_a_quiet_fit_prints_nothing_of_lightnings_on_ctrl_c_and_resume_and_a_verbose_one_says_the_resume(
        tiny_npz, tmp_path, lightning_console):
    run = tmp_path / "run"
    cfg = config_mod.resolve(fast_config(tiny_npz, run, epochs=2))
    splits = load_splits(cfg)
    cfg = resolve_auto(cfg, len(splits.spatial_shape))
    lightning_console.readouterr()
    cut = fit(cfg, splits, run, callbacks=[InterruptAt(1)], verbose=False)  # Ctrl-C in the second epoch
    assert cut.interrupted and (run / CHECKPOINT_DIR / LAST_CHECKPOINT).is_file()
    out, err = lightning_console.readouterr()
    assert "KeyboardInterrupt" not in out + err and out + err == "", out + err
    done = fit(cfg, splits, run, resume=True, verbose=False)
    assert not done.interrupted and done.stop_epoch == 1  # resumed: the second epoch trained
    out, err = lightning_console.readouterr()
    assert "Restoring states" not in out + err and out + err == "", out + err
    fit(cfg, splits, run, resume=True, verbose=True)  # a verbose resume says where it restores from, as before
    out, err = lightning_console.readouterr()
    assert f"Restoring states from the checkpoint path at {run / CHECKPOINT_DIR / LAST_CHECKPOINT}" in out + err


def test_the_flip_pilots_of_a_quiet_run_are_quiet_fits(tiny_npz, tmp_path, lightning_console):
    from medtrain.training.choices import decide_flip

    cfg = config_mod.resolve(fast_config(tiny_npz, tmp_path / "run", epochs=2, flip="auto"))
    splits = load_splits(cfg)
    cfg = resolve_auto(cfg, len(splits.spatial_shape))
    asked = []

    def pilot(*args, **kwargs):
        asked.append(kwargs.get("verbose", True))
        return fit(*args, **kwargs)

    lightning_console.readouterr()
    assert "pilot runs" in decide_flip(cfg, splits, tmp_path / "pilots", pilot, verbose=False)["how"]
    assert asked == [False, False]
    out, err = lightning_console.readouterr()
    assert out + err == "", out + err


def test_a_quiet_train_hands_its_quietness_to_the_fit(tiny_npz, tmp_path, monkeypatch):
    """``medtrain.train(..., verbose=False)`` reaches :func:`fit` as ``verbose=False`` (it had been left at its
    default True, so a quiet resumed train still printed Lightning's "Restoring states ..." line)."""
    import medtrain.api as api

    asked = []

    class Asked(Exception):
        pass

    def spy(*args, **kwargs):  # what train hands the fit is the property: no training needed
        asked.append(kwargs.get("verbose", True))
        raise Asked

    monkeypatch.setattr(api, "fit", spy)
    with pytest.raises(Asked):
        api.train(fast_config(tiny_npz, tmp_path / "run", epochs=1, flip=False), verbose=False)
    assert asked == [False]
