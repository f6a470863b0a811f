"""`medtrain models`: a flag that does nothing in the view asked for is refused, in one grammatical line, and an
unknown name is one short line."""
from __future__ import annotations

import pytest

from medtrain.cli import main


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("medtrain: error: "), err
    return err


@pytest.mark.parametrize("argv, message", [
    (["models", "--csv"], "--csv applies with --measure or --dataset"),
    (["models", "--names", "resnet18", "--csv"], "--names, --csv apply with --measure or --dataset"),
    # a walk: `models --budget -1` listed the zoo, exit 0, and `--names ''` measured the whole zoo
    (["models", "--budget", "-1"], "--budget applies with --measure only (seconds per timing)"),
    (["models", "--dataset", "breastmnist", "--budget", "5"], "--budget applies with --measure only"),
    (["models", "--measure", "--names", " , "], "--names is empty"),
])
def test_a_listing_flag_without_measure_is_refused_in_grammatical_words(capsys, argv, message):
    assert message in _error(capsys, argv)


@pytest.mark.parametrize("argv, flags", [
    (["models", "--epochs", "2"], "--epochs applies"),
    (["models", "--measure", "--epochs", "2", "--plot", "s.png"], "--epochs, --plot apply"),
    (["models", "--runs", "r"], "--runs applies"),
])
def test_training_flags_without_dataset_are_refused_not_ignored(capsys, argv, flags):
    assert f"{flags} with --dataset only" in _error(capsys, argv)


def test_an_unknown_name_with_none_near_it_is_one_short_line(capsys):
    """It had listed the whole zoo (~60 names) in the error line."""
    err = _error(capsys, ["models", "--measure", "--names", "resnet18_28_half,nonexist"])
    assert "unknown model 'nonexist'" in err and "`medtrain models` lists the zoo" in err
    assert len(err) < 200


def test_a_misspelled_name_names_the_nearest(capsys):
    assert "did you mean resnet18" in _error(capsys, ["models", "--measure", "--names", "resnt18"])
