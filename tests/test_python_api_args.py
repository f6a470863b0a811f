"""The Python API's arguments as a notebook gives them (a user walkthrough from ``help()`` alone): a flag of
``medtrain.train`` that is not True or False is refused in one line naming it; the arrays of
``train({"data": (x, y), ...})`` are written only once the settings are checked."""
from __future__ import annotations

import pytest

import medtrain
from medtrain.errors import MedtrainError

from conftest import make_images


@pytest.mark.parametrize("flag", ["verbose", "evaluate_test", "idle_settings"])
def test_train_refuses_a_flag_that_is_not_true_or_false(tmp_path, flag):
    """``train(..., verbose="no")`` had been verbose (any non-empty string is true), as ``load(calibrated="false")``
    is refused. A misspelt model here: had the flag been read, train would have refused the model instead."""
    with pytest.raises(MedtrainError, match=rf"^{flag} must be True or False, got 'no'$"):
        medtrain.train({"dataset": "breastmnist", "model": "nosuch", "out": str(tmp_path / "run")}, **{flag: "no"})
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("over, message", [
    ({"model": "nosuch"}, "nosuch"),
    ({"augment": ["flip", "nosuch"]}, "nosuch"),
    ({"image_size": 32}, "--image-size 32 applies to image folders and CSVs only"),
])
def test_arrays_in_memory_are_written_only_once_the_settings_are_checked(tmp_path, over, message):
    """``train({"data": (x, y), "model": "nosuch"})`` had written the arrays' .npz into the cache (``data_dir``)
    before refusing the model."""
    x, y = make_images(40)
    cache = tmp_path / "cache"
    with pytest.raises(MedtrainError, match=message):
        medtrain.train({"data": (x, y), "data_dir": str(cache), "out": str(tmp_path / "run"), "epochs": 1,
                        "progress": False, **over}, verbose=False)
    assert not cache.exists() and not (tmp_path / "run").exists()
