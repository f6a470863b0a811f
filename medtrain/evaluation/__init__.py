"""Evaluation of trained classifiers: predictions, MedMNIST metrics, confidence intervals, calibration."""
from medtrain.evaluation.calibration import (apply_temperature, choose_temperature, fit_temperature, pseudo_logits,
                                             temperature_scale)
from medtrain.evaluation.evaluate import add_calibration, evaluate_split, predict, predict_batches

__all__ = ["add_calibration", "apply_temperature", "choose_temperature", "evaluate_split", "fit_temperature", "predict", "predict_batches",
           "pseudo_logits", "temperature_scale"]
