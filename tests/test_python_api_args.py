"""The Python API's arguments as a notebook gives them (a user walkthrough from ``help()`` alone): a flag of
``medtrain.train`` that is not True or False is refused in one line naming it."""
from __future__ import annotations

import pytest

import medtrain
from medtrain.errors import MedtrainError


@pytest.mark.parametrize("flag", ["verbose", "evaluate_test", "idle_settings"])
def test_train_refuses_a_flag_that_is_not_true_or_false(tmp_path, flag):
    """``train(..., verbose="no")`` had been verbose (any non-empty string is true), as ``load(calibrated="false")``
    is refused. A misspelt model here: had the flag been read, train would have refused the model instead."""
    with pytest.raises(MedtrainError, match=rf"^{flag} must be True or False, got 'no'$"):
        medtrain.train({"dataset": "breastmnist", "model": "nosuch", "out": str(tmp_path / "run")}, **{flag: "no"})
    assert not (tmp_path / "run").exists()
