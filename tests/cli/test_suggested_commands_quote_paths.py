"""A command medtrain suggests (the closing line's next step, the way on for a run whose weights are gone, ``--resume``
of an interrupted run) names its paths so that a shell reads them back as one argument each: a run folder with a space
in its name (``my runs/r1``) had been suggested as ``medtrain eval my runs/r1``, which the shell splits in two."""
from __future__ import annotations

import re
import shlex

import pytest

from conftest import make_npz, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = ["--model", "resnet10_28_half", "--epochs", 1, "--batch-size", 32, "--bootstrap", 0, "--schedule", "none",
        "--accelerator", "cpu", "--flip", "true", "--precision", "32-true", "--tta", "none", "--class-weights",
        "false", "--no-progress"]


def _suggested(text: str, command: str) -> list[str]:
    """The words of the first backticked (or line-ending) ``medtrain COMMAND ...`` in ``text``, split as a shell would."""
    found = re.search(rf"`(medtrain {command} [^`]*)`", text) or re.search(rf"(medtrain {command} .*)$", text, re.M)
    assert found, text
    return shlex.split(found.group(1))


@pytest.fixture(scope="module")
def spaced_run(tmp_path_factory):
    """A finished run in a folder whose path holds spaces, its data and the output of the command that trained it."""
    import contextlib
    import io

    from medtrain.cli import main

    root = tmp_path_factory.mktemp("quote") / "my runs"
    root.mkdir()
    data = make_npz(root / "tiny data.npz", sizes=(64, 16, 16))
    run = root / "r 1"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main([str(a) for a in ["train", "--data", data, *FAST, "--out", run]]) == 0
    return run, data, printed.getvalue()


def test_closing_line_and_the_way_on_for_missing_weights_name_a_spaced_run_folder_as_one_word(spaced_run, tmp_path,
                                                                                               capsys):
    import shutil

    run, data, out = spaced_run
    # the closing line: "next: medtrain eval|predict|export|explain RUN"
    next_words = shlex.split(out.strip().splitlines()[-1].split("next: ", 1)[1])
    assert next_words == ["medtrain", "eval|predict|export|explain", str(run)]
    copy = tmp_path / "copy of r 1"
    shutil.copytree(run, copy)
    (copy / "model.safetensors").unlink()
    code, out, err = run_cli(capsys, "train", "--data", data, *FAST, "--out", copy)
    assert code == 2
    words = _suggested(err, "train")
    assert words[words.index("--config") + 1] == str(copy / "config.yaml")


def test_resume_of_an_interrupted_run_names_a_spaced_folder_as_one_word(spaced_run, tmp_path, capsys):
    """eval of a run folder that did not finish (no metrics.json, no weights) names ``--resume RUN``, one word."""
    import shutil

    run, _, _ = spaced_run
    stopped = tmp_path / "stopped run"
    shutil.copytree(run, stopped)
    for name in ("metrics.json", "model.safetensors"):
        (stopped / name).unlink(missing_ok=True)
    code, _, err = run_cli(capsys, "eval", stopped)
    assert code == 2
    words = _suggested(err, "train")
    assert words[words.index("--resume") + 1] == str(stopped), err


def test_the_advisors_command_names_a_spaced_source_and_target_as_one_word_each(tmp_path):
    from medtrain.transfer.advisor import Advice

    target = tmp_path / "my data" / "x.npz"
    advice = Advice(source=str(tmp_path / "source run"), target=str(target), n_train=100, num_classes=2,
                    per_class=50.0, min_per_class=40, size="small", domain_acc=0.6, proxy_a_distance=0.4, fd=1.0,
                    fd_floor=0.5, fd_relative=2.0, similarity="similar", quadrant="small-similar",
                    recommend={"transfer": "linear-probe"})
    words = shlex.split(advice.command)
    assert words[words.index("--data") + 1] == str(target)
    assert words[words.index("--pretrained") + 1] == str(tmp_path / "source run")
