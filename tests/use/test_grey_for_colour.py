"""A grey picture given to a model trained on colour images (a dermoscopy run) is read as colour with three equal
channels, and said: predict, explain and eval --data had scored it without a word, while training says the same of
grey images among colour ones (walk "colour")."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from medtrain._predict_squash import squashes_once
from medtrain.predict_inputs import GreyForColourWarning, conform  # re-exported there, as ResizedWarning

COLOUR_RUN = SimpleNamespace(input_shape=(3, 8, 8))  # what conform reads of a run


def test_grey_inputs_of_a_colour_model_are_counted_and_said_in_one_line():
    lines = []
    with squashes_once(say=lines.append):
        grey = conform(torch.full((8, 8), 7, dtype=torch.uint8), "a.png", COLOUR_RUN)
        conform(torch.full((8, 8), 9, dtype=torch.uint8), "b.png", COLOUR_RUN)
        conform(torch.randint(0, 255, (3, 8, 8), dtype=torch.uint8), "c.png", COLOUR_RUN)  # colour: nothing to say
    assert grey.shape == (3, 8, 8) and bool((grey == 7).all())  # three equal channels
    assert lines == ["2 grey image(s) (a.png, ...) given to a model trained on colour images: read as colour with "
                     "three equal channels, which the network may not have seen in training, so their scores may "
                     "not mean what its scores of colour images do"]


def test_in_python_outside_a_call_it_is_a_warning_of_its_own_kind():
    with pytest.warns(GreyForColourWarning, match=r"1 grey image\(s\) \(x\) given to a model trained on colour"):
        conform(torch.zeros((8, 8), dtype=torch.uint8), "x", COLOUR_RUN)
    lines = []
    with squashes_once(say=lines.append):  # a grey model's grey input: nothing said
        conform(torch.zeros((8, 8), dtype=torch.uint8), "x", SimpleNamespace(input_shape=(1, 8, 8)))
    assert lines == []
