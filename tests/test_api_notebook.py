"""``medtrain.train`` from a notebook, as a user walking through the Python API met it: the same settings given
again on changed data, Ctrl-C inside a sweep loop, what ``train`` returns, and the messages of the Python forms."""
from __future__ import annotations


import numpy as np
import pytest

import medtrain
from conftest import InterruptAt, fast_config
from medtrain import api
from medtrain.config import Config
from medtrain.errors import MedtrainError, TrainingInterrupted

pytestmark = pytest.mark.usefixtures("one_thread")


def _fast(data, out, **over):
    return fast_config(data, out, **{"epochs": 1, "bootstrap": 0, "tta": "none", "flip": "false", **over})


def test_an_interrupted_train_says_how_to_continue_from_python_too(tiny_npz, tmp_path):
    """The interrupt's message gives the way on from the shell (what the CLI prints, as before) and from Python,
    where the same call again continues the run."""
    out = tmp_path / "run"
    with pytest.raises(TrainingInterrupted) as e:
        medtrain.train(_fast(tiny_npz, out, epochs=2), verbose=False, callbacks=[InterruptAt(1)])
    said = str(e.value)
    assert said.startswith(f"interrupted after epoch 1; continue with `medtrain train --resume {out}`; ")
    assert "in Python, train() with the same settings continues it" in said and "\n" not in said
    assert e.value.command_line == f"interrupted after epoch 1; continue with `medtrain train --resume {out}`"
    done = medtrain.train(_fast(tiny_npz, out, epochs=2), verbose=False)
    assert len(done["history"]) == 2


def test_a_setting_changed_on_a_finished_run_is_told_another_out_not_resume(tiny_npz, tmp_path):
    out = tmp_path / "run"
    medtrain.train(_fast(tiny_npz, out), verbose=False)
    with pytest.raises(MedtrainError) as e:
        medtrain.train(_fast(tiny_npz, out, epochs=2), verbose=False)
    said = str(e.value)
    assert "(epochs: 1, now 2)" in said and "--resume" not in said and "another --out (out= in Python)" in said


def test_config_with_data_is_not_refused_for_the_default_dataset(tiny_npz, tmp_path):
    cfg = api._as_config(Config(data=str(tiny_npz), out=str(tmp_path / "run")))
    assert cfg.data == str(tiny_npz) and cfg.dataset is None
    assert api._as_config(Config()).dataset == "pneumoniamnist"  # without data: the default dataset


@pytest.mark.parametrize("data", [np.zeros((50, 28, 28), np.uint8), (np.zeros((50, 28, 28)), np.zeros(50))],
                         ids=["array", "tuple"])
def test_images_in_memory_are_refused_in_one_short_line_saying_how_to_give_them(data, tmp_path):
    with pytest.raises(MedtrainError) as e:
        medtrain.train({"data": data, "out": str(tmp_path / "run")}, verbose=False)
    said = str(e.value)
    assert "not read" in said and "np.savez" in said and "train_images" in said and "CSV" in said
    assert "array(" not in said and "0." not in said and len(said) < 240 and "\n" not in said
    assert not (tmp_path / "run").exists()
