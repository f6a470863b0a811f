"""An older run's own command given again where a check of a new run's settings added since refuses them (``--flip
false`` with a flipping TTA, refused since 2026-12): the refusal had not named ``--resume RUN``, which takes the run's
saved settings and continues it, or returns it finished (found by a bad-input walk)."""
from __future__ import annotations

import pytest

from conftest import make_npz, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = ["--model", "resnet10_28_half", "--epochs", 1, "--batch-size", 32, "--bootstrap", 0, "--schedule", "none",
        "--accelerator", "cpu", "--precision", "32-true", "--class-weights", "false", "--no-progress"]


@pytest.fixture
def older(tmp_path, capsys):
    """A run as an older medtrain saved it with ``flip: false`` and ``tta: hflip`` (trained with flip true, its
    config.yaml then edited: today's medtrain refuses to start it), and that run's own command."""
    data = make_npz(tmp_path / "tiny.npz", sizes=(64, 16, 16))
    run = tmp_path / "old"
    code, _, err = run_cli(capsys, "train", "--data", data, *FAST, "--flip", "true", "--tta", "hflip", "--out", run)
    assert code == 0, err
    config = run / "config.yaml"
    text = config.read_text()
    assert "\nflip: 'true'\n" in text or '\nflip: "true"\n' in text or "\nflip: true\n" in text, text
    config.write_text(text.replace("\nflip: 'true'\n", "\nflip: 'false'\n").replace('\nflip: "true"\n', '\nflip: "false"\n')
                      .replace("\nflip: true\n", "\nflip: 'false'\n"))
    return run, ["train", "--data", data, *FAST, "--flip", "false", "--tta", "hflip", "--out", run]


@pytest.mark.parametrize("state", ["finished", "interrupted"])
def test_the_refused_command_of_an_older_run_names_its_resume(older, capsys, state):
    run, command = older
    if state == "interrupted":  # its checkpoint kept, nothing written at the end
        for name in ("metrics.json", "model.safetensors"):
            (run / name).unlink()
    code, _, err = run_cli(capsys, *command)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "flip false turns flips off in training" in err  # the check's own line, kept
    assert f"`medtrain train --resume {run}`" in err
    assert ("returns it" if state == "finished" else "continues it") in err
    code, out, err = run_cli(capsys, "train", "--resume", run)  # the way named works
    assert code == 0, err
    assert (run / "metrics.json").is_file() and (run / "model.safetensors").is_file()


def test_a_run_of_other_settings_is_not_offered_to_resume(older, capsys):
    run, command = older
    code, _, err = run_cli(capsys, *[("2" if a == 1 else a) for a in command])  # --epochs 2: not the run's
    assert code == 2 and "flip false turns flips off in training" in err and "--resume" not in err, err
