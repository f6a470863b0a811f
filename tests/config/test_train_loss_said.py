"""The learning curve's train loss is measured as the network trains (augmentation, Mixup/CutMix targets and dropout
on, the weights changing during the epoch), the validation loss in eval mode on unaugmented images; a lecturer
showing the train/validation gap had read it as overfitting alone. Said once in the setting's text (``train
--help``, ``help(medtrain.Config)``) and in the README's learning-curve sentence. (The figure's own legend,
:func:`medtrain.reports.plots.learning_curve`, is another module's.)"""
from __future__ import annotations

from pathlib import Path

from medtrain.config import DESCRIPTIONS

README = Path(__file__).resolve().parents[2] / "README.md"


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_settings_text_says_how_train_loss_is_measured():
    text = _flat(DESCRIPTIONS["logger"])
    assert "train_loss (the train curve of learning_curve.png)" in text
    assert "augmentation, Mixup/CutMix targets and dropout on" in text and "eval mode on unaugmented images" in text


def test_the_readmes_learning_curve_sentence_says_it():
    text = _flat(README.read_text())
    start = text.index("`learning_curve.png` (train vs validation loss")
    sentence = text[start:text.index("`confusion_matrix.png`", start)]
    assert "augmentation" in sentence and "dropout on" in sentence and "eval mode" in sentence
