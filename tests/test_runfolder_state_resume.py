"""An older run's own command given again where a check of a new run's settings added since refuses them (``--flip
false`` with a flipping TTA, refused since 2026-12): the refusal had not named ``--resume RUN``, which takes the run's
saved settings and continues it, or returns it finished (found by a bad-input walk)."""
from __future__ import annotations

import pytest

import medtrain
from medtrain.augment.policies import randaugment_policy, save_policy
from medtrain.errors import MedtrainError
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
    if state == "interrupted":  # nothing written at the end
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


@pytest.mark.parametrize("state", ["finished", "interrupted"])
def test_train_from_python_refused_for_an_older_run_s_settings_names_its_resume(older, state):
    """As the CLI's line: ``train()`` of the settings refused by a check added since names ``train(resume=RUN)``."""
    run, command = older
    if state == "interrupted":
        for name in ("metrics.json", "model.safetensors"):
            (run / name).unlink()
    data = command[command.index("--data") + 1]
    settings = dict(data=str(data), model="resnet10_28_half", epochs=1, batch_size=32, bootstrap=0, schedule="none",
                    accelerator="cpu", precision="32-true", class_weights="false", progress=False, flip="false",
                    tta="hflip", out=str(run))  # the command's settings, as a notebook types them
    with pytest.raises(MedtrainError) as e:
        medtrain.train(settings, verbose=False)
    line = str(e.value)
    assert "flip false turns flips off in training" in line and "\n" not in line, line
    assert f"train(resume={str(run)!r})" in line and "medtrain train" not in line, line
    assert ("returns it" if state == "finished" else "continues it") in line, line
    assert medtrain.train(resume=str(run), verbose=False).run_dir == run  # the way named works
    settings["epochs"] = 2  # a run of other settings is not offered
    with pytest.raises(MedtrainError) as e:
        medtrain.train(settings, verbose=False)
    assert "flip false turns flips off" in str(e.value) and "resume" not in str(e.value)


def test_a_run_whose_policy_file_changed_is_not_offered_to_resume(tmp_path, capsys):
    """resume_named compares as the same command again does (check_reusable), a policy file's digest too: it had
    offered ``--resume`` for an interrupted run whose policy was edited since, which ``--resume`` then refuses."""
    data = make_npz(tmp_path / "tiny.npz", sizes=(64, 16, 16))
    policy, run = tmp_path / "ra.yaml", tmp_path / "old"
    save_policy(randaugment_policy(2, 5), policy)
    augment = ["--augment", f"shift,{policy}"]
    code, _, err = run_cli(capsys, "train", "--data", data, *FAST, *augment, "--flip", "true", "--tta", "hflip",
                           "--out", run)
    assert code == 0, err
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("\nflip: 'true'\n", "\nflip: 'false'\n")
                      .replace('\nflip: "true"\n', '\nflip: "false"\n').replace("\nflip: true\n", "\nflip: 'false'\n"))
    for name in ("metrics.json", "model.safetensors"):  # interrupted
        (run / name).unlink()
    command = ["train", "--data", data, *FAST, *augment, "--flip", "false", "--tta", "hflip", "--out", run]
    code, _, err = run_cli(capsys, *command)
    assert code == 2 and f"--resume {run}" in err, err  # the policy as it trained: offered
    save_policy(randaugment_policy(1, 5), policy)  # edited since
    code, _, err = run_cli(capsys, "train", "--resume", run)
    assert code == 2 and "changed since" in err, err  # what --resume does with it
    code, _, err = run_cli(capsys, *command)
    assert code == 2 and "flip false turns flips off" in err and "--resume" not in err, err
