"""``medtrain predict``, ``medtrain.load`` and the Predictor take, by default, as many inputs per forward pass as an
evaluation does (:func:`medtrain.evaluation.batches.batch_for`): 256 up to 64 px, fewer for larger inputs. A fixed 256
had needed ~21 GB for 512-px images with the default network (64 channels at full resolution)."""
from __future__ import annotations

import types

import pytest

import medtrain
from medtrain.errors import MedtrainError
from medtrain.evaluation.batches import batch_for
from medtrain.predictor import Predictor


def _run(*input_shape):
    return types.SimpleNamespace(input_shape=input_shape, label_names=["a", "b"], meta={"task": "binary-class"},
                                 image_depth=None)  # (RunModel.image_depth: the bit depth inputs are held to)


@pytest.mark.parametrize("shape, expected", [((1, 28, 28), 256), ((3, 64, 64), 256), ((3, 224, 224), 20),
                                             ((1, 512, 512), 4), ((1, 64, 64, 64), 256), ((1, 128, 128, 128), 32)])
def test_the_default_batch_shrinks_with_the_input_and_keeps_256_at_medmnist_sizes(shape, expected):
    assert batch_for(shape[1:]) == expected
    assert Predictor(_run(*shape)).batch_size == expected
    assert Predictor(_run(*shape), batch_size=7).batch_size == 7  # a batch asked for is kept


def test_a_batch_size_that_is_not_a_whole_number_or_none_is_one_error():
    with pytest.raises(MedtrainError, match="batch_size must be a whole number >= 1 or None, got '8'"):
        Predictor(_run(1, 28, 28), batch_size="8")


def test_medtrain_load_and_predict_cli_default_to_it(capsys):
    import inspect

    from medtrain.cli import main

    assert inspect.signature(medtrain.load).parameters["batch_size"].default is None
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "4 at 512 px" in " ".join(capsys.readouterr().out.split())
