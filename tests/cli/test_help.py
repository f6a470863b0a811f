"""What `--help`, `--version` and a mistyped command line tell a user: every statement true, every default said
(found by a walkthrough that had only the help texts to go by)."""
from __future__ import annotations

import argparse
import re

import pytest

import medtrain
from medtrain.cli import build_parser, main


def _subparsers(parser: argparse.ArgumentParser, prefix: str = ""):
    """(``"train"``, its parser), (``"augment show"``, ...): every command a user can run."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
                    yield from _subparsers(sub, f"{prefix}{name} ")
                else:
                    yield f"{prefix}{name}", sub


COMMANDS = dict(_subparsers(build_parser()))


def _option(command: str, flag: str) -> argparse.Action:
    return next(a for a in COMMANDS[command]._actions if flag in a.option_strings)


def _help(command: str, flag: str) -> str:
    return " ".join(_option(command, flag).help.split())


def _refused(capsys, argv) -> str:
    """The one error line of a command line argparse refuses (exit status 2)."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and err.startswith("medtrain: error: "), err
    return err


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_prints_the_package_version(capsys, flag):
    with pytest.raises(SystemExit) as e:
        main([flag])
    assert e.value.code == 0 and capsys.readouterr().out == f"medtrain {medtrain.__version__}\n"


def test_explain_without_arguments_asks_for_the_run_alone(capsys):
    """INPUT is optional (`medtrain explain RUN` explains the run's own test split): the error had named it too."""
    err = _refused(capsys, ["explain"])
    assert "required: RUN (" in err and "INPUT" not in err


def test_compare_does_not_offer_the_seed_it_refuses(capsys):
    text = COMMANDS["compare"].format_help()
    assert "--seed V" not in text  # neither in the usage nor in the list of settings
    assert "(default 1)" in _help("compare", "--seeds")
    assert main(["compare", "--data", "x.npz", "--seed", "3"]) == 2  # still refused, in its own words
    assert "--seed 3: compare runs seeds 0..N-1 of --seeds N" in capsys.readouterr().err


@pytest.mark.parametrize("command, default", [
    ("train", "runs/<dataset"), ("compare", "(default runs/compare)"), ("tune", "(default runs/tune)")])
def test_each_commands_out_help_names_its_default(command, default):
    assert default in _help(command, "--out")


def test_trains_default_out_is_the_folder_the_help_describes():
    from medtrain.config import resolve
    from medtrain.rundir import default_run_dir

    assert str(default_run_dir(resolve({"dataset": "breastmnist"}))) == "runs/breastmnist-auto-s0"
    assert "e.g. runs/breastmnist-auto-s0" in _help("train", "--out")
    assert str(default_run_dir(resolve({"data": "/d/own.csv", "folds": 5}))) == "runs/own-auto-s0-cv5"
    assert "ending -cvK" in _help("train", "--out")


@pytest.mark.parametrize("command", ["compare", "tune"])
def test_out_of_a_grid_or_a_study_is_not_called_a_run_directory(command):
    assert not _help(command, "--out").startswith("run directory")


def test_every_setting_flag_says_what_it_does_beyond_its_default():
    settings = next(g for g in COMMANDS["train"]._action_groups if g.title.startswith("settings"))
    bare = [a.option_strings[0] for a in settings._group_actions
            if not re.sub(r"\(default[^)]*\)", "", a.help or "").strip()]
    assert bare == []


@pytest.mark.parametrize("flag", ["--early-stop", "--layer-decay"])
def test_settings_that_are_off_by_default_say_so(flag):
    assert "(default: off" in _help("train", flag)


def test_seed_help_says_it_also_deals_the_split_of_own_data():
    assert "split" in _help("train", "--seed")


def test_every_option_with_a_default_states_it():
    """eval --split, predict --split, explain --method, export --format, advise --max-images, models --epochs...
    had used a default the help did not name."""
    missing = [f"{cmd} {a.option_strings[0]}" for cmd, p in COMMANDS.items() for a in p._actions
               if a.option_strings and a.help not in (None, argparse.SUPPRESS) and a.default not in
               (None, False, [], argparse.SUPPRESS) and "default" not in a.help]
    assert missing == []


@pytest.mark.parametrize("command, flag, default", [
    ("models", "--epochs", "5"), ("models", "--plot", "models_accuracy.png"),
    ("augment show", "--dataset", "pneumoniamnist"), ("augment search", "--dataset", "pneumoniamnist"),
    ("augment search", "--accelerator", "auto")])
def test_options_resolved_later_state_their_default_too(command, flag, default):
    assert re.search(rf"default.*{re.escape(default)}", _help(command, flag))


def test_augment_search_help_tells_its_own_seed_and_work_dir():
    from pathlib import Path

    assert "draws" not in _help("augment search", "--seed") and "trainings" in _help("augment search", "--seed")
    # the rule of run_search: beside --out, named after its stem
    out = Path("pol/ra.yaml")
    assert f"--out {out} -> {out.parent / f'{out.stem}-search'}" in _help("augment search", "--work-dir")


def test_predicts_batch_size_help_compares_with_no_option_eval_lacks():
    eval_flags = {s for a in COMMANDS["eval"]._actions for s in a.option_strings}
    assert "--batch-size" in eval_flags or "eval" not in _help("predict", "--batch-size")


@pytest.mark.parametrize("fmt, out, words", [("onnx", "m.pt", "an ONNX file is named *.onnx"),
                                             ("torchscript", "m.onnx", "a TorchScript file is named *.pt")])
def test_export_names_the_file_kind_in_plain_words(capsys, fmt, out, words):
    assert main(["export", "no_run", "--format", fmt, "--out", out]) == 2
    assert words in capsys.readouterr().err


@pytest.mark.parametrize("argv, hint", [(["trian"], "did you mean train?"),
                                        (["augment", "shwo"], "did you mean show?"),
                                        (["eval", "run", "--split", "vall"], "did you mean val?")])
def test_a_misspelled_choice_names_the_nearest(capsys, argv, hint):
    err = _refused(capsys, argv)
    assert hint in err and "choose from" not in err


@pytest.mark.parametrize("argv, hint", [(["train", "--epoch", "3"], "unknown option --epoch; did you mean --epochs?"),
                                        (["train", "--pre", "x"], "did you mean --precision, --pretrained?"),
                                        (["predict", "run", "a.png", "--no-tt"], "did you mean --no-tta?"),
                                        (["train", "--zzzz", "1"], "unknown option --zzzz (see"),
                                        (["augment", "show", "--augment", "flip", "--out", "x.png", "--draw", "2"],
                                         "did you mean --draws? (see `medtrain augment show --help`)")])
def test_a_prefix_of_an_option_is_refused_naming_the_options_it_could_mean(capsys, argv, hint):
    """argparse took a prefix for the option it begins (`--epoch 3` trained with --epochs 3, `--pre` with
    --pretrained or --precision as the options then were): a typo ran, and a new option could change an old
    command's meaning."""
    err = _refused(capsys, argv)
    assert hint in err and len(err.splitlines()) == 1


def test_resume_help_lists_the_settings_a_resume_may_change():
    from medtrain.api import RESUMABLE_KEYS

    text = _help("train", "--resume")
    listed = re.search(r"only (.*?) may change", text).group(1)
    assert [k.strip() for k in listed.split(",")] == list(RESUMABLE_KEYS)


@pytest.mark.parametrize("command", ["compare", "tune"])
def test_a_command_training_its_runs_in_one_process_offers_one_device_in_the_form_it_reads(command):
    # compare --help had offered train's "devices per node: ... -1 (all) or indices 0,1", which compare refuses
    from medtrain.config import resolve
    from medtrain.training.distributed import is_multiprocess

    devices, nodes = _help(command, "--devices"), _help(command, "--num-nodes")
    assert devices.startswith("one device") and "medtrain train --devices N" in devices and "-1" not in devices
    assert nodes.startswith("1 (") and "devices per node" in _help("train", "--devices")
    index = re.search(r"the GPU to use written '(\S+)'", devices).group(1)
    assert index == "N," and resolve({"devices": "1,"}).devices == [1]  # the form said is one the settings read
    assert not is_multiprocess(resolve({"devices": "1,"}))


def test_a_required_option_says_so_in_its_help():
    # augment search's --budget-epochs was marked required only by the usage line's missing brackets
    for command, sub in COMMANDS.items():
        for action in sub._actions:
            if action.required and action.option_strings:
                assert "required" in " ".join(action.help.split()), (command, action.option_strings)
