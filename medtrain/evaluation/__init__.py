"""Evaluation of trained classifiers: predictions, MedMNIST metrics, confidence intervals, calibration."""
from medtrain.evaluation.calibration import fit_temperature, split_logits
from medtrain.evaluation.evaluate import evaluate_split, predict

__all__ = ["evaluate_split", "fit_temperature", "predict", "split_logits"]
