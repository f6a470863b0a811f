"""Predict a split and score it with the MedMNIST metrics, per-class figures and bootstrap CIs."""
from __future__ import annotations

import numpy as np
import torch

from medtrain import metrics
from medtrain.data.base import Split


@torch.no_grad()
def predict(module, split: Split, batch_size: int = 256, tta: bool = False) -> np.ndarray:
    """Class probabilities ``(N, K)`` for a split (softmax, or sigmoid for multi-label).

    With ``tta`` the probabilities are averaged over the identity and a horizontal flip.
    """
    module.eval()
    device = next(module.parameters()).device
    out = []
    for i in range(0, len(split), batch_size):
        x = split.images[i:i + batch_size].to(device)
        probs = metrics.scores_from_logits(module(x).float(), module.task)
        if tta:
            probs = 0.5 * (probs + metrics.scores_from_logits(module(x.flip(-1)).float(), module.task))
        out.append(probs.cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, module.num_classes))


def evaluate_split(module, split: Split, label_names: dict, bootstrap: int = 1000, seed: int = 0,
                   tta: bool = False) -> dict:
    scores = predict(module, split, tta=tta)
    return metrics.evaluate_scores(split.labels.numpy(), scores, module.task, label_names, bootstrap, seed)
