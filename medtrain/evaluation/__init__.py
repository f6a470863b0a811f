"""Evaluation of trained classifiers: predictions, MedMNIST metrics, confidence intervals."""
from medtrain.evaluation.evaluate import evaluate_split, predict

__all__ = ["evaluate_split", "predict"]
