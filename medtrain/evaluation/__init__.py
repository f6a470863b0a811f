"""Evaluation of trained classifiers: predictions, MedMNIST metrics, confidence intervals."""
from medtrain.evaluation.evaluate import evaluate_split, predict, predict_batches

__all__ = ["evaluate_split", "predict", "predict_batches"]
