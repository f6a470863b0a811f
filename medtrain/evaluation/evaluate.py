"""Predict a split and score it with the MedMNIST metrics, per-class figures and bootstrap CIs."""
from __future__ import annotations

import numpy as np
import torch

from medtrain import metrics
from medtrain.augment.tta import tta_predict
from medtrain.data.base import Split
from medtrain.models.layers.mc_dropout import mc_predict, predictive_entropy, uncertainty_report


class _Scaled(torch.nn.Module):
    """``module``'s logits divided by the temperature (its dropout layers stay visible to MC dropout)."""

    def __init__(self, module, temperature: float):
        super().__init__()
        self.inner, self.temperature = module, float(temperature)

    def forward(self, x):
        return self.inner(x) / self.temperature


@torch.no_grad()
def predict(module, split: Split, batch_size: int = 256, tta: str = "none", mc_dropout: int = 0, seed: int = 0,
            temperature: float = 1.0):
    """Class probabilities ``(N, K)`` for a split (softmax, or sigmoid for multi-label).

    Args:
        tta: ``none``, ``hflip`` or ``flip`` — probabilities averaged over flipped views
            (``medtrain.augment.tta``).
        mc_dropout: T > 0 averages T stochastic passes with dropout on (Gal & Ghahramani, ICML 2016)
            and also returns each image's predictive entropy. With TTA, each view gets T passes and the
            entropy is that of the mean over views and passes.
        seed: the dropout masks' seed (MC dropout), so re-evaluating a run gives the same numbers.
        temperature: every forward pass's logits are divided by it before the softmax/sigmoid
            (temperature scaling, :mod:`medtrain.evaluation.calibration`), so TTA views and MC passes
            average calibrated probabilities.

    Returns:
        ``probs`` (N, K), and ``entropy`` (N,) or None.
    """
    module.eval()
    device = next(module.parameters()).device
    probs, entropy = [], []
    net = module if temperature == 1.0 else _Scaled(module, temperature)

    def forward(x):
        if mc_dropout:  # the mean of T stochastic passes
            return mc_predict(net, x, T=mc_dropout, task=module.task).probs.float()
        return metrics.scores_from_logits(net(x).float(), module.task)

    sigmoid = module.task == metrics.MULTILABEL or module.num_classes == 1
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
        torch.manual_seed(seed)
        for i in range(0, len(split), batch_size):
            x = split.images[i:i + batch_size].to(device)
            if tta != "none":
                # forward_fn gets float images in [0, 1]; the module takes uint8-range values
                p = tta_predict(lambda v: forward(v * 255.0), x.float() / 255.0, mode=tta)
            else:
                p = forward(x)
            probs.append(p.float().cpu())
            if mc_dropout:
                entropy.append(predictive_entropy(p.float(), sigmoid).cpu())
    if not probs:
        return np.zeros((0, module.num_classes)), None
    return torch.cat(probs).numpy(), (torch.cat(entropy).numpy() if entropy else None)


def evaluate_split(module, split: Split, label_names: dict, bootstrap: int = 1000, seed: int = 0,
                   tta: str = "none", mc_dropout: int = 0, temperature: float | None = None,
                   threshold: float | None = None) -> dict:
    """The MedMNIST metrics of a split (on the uncalibrated probabilities, as the papers report them).

    With ``temperature``: also ``calibration`` (the ECE before and after scaling) and ``scores_scaled``
    (the calibrated probabilities; a second prediction pass). With ``threshold`` (binary tasks, a
    threshold on the calibrated positive-class probability): ``operating_point``, its sensitivity,
    specificity, PPV and NPV with bootstrap CIs.
    """
    scores, entropy = predict(module, split, tta=tta, mc_dropout=mc_dropout, seed=seed)
    labels = split.labels.numpy()
    res = metrics.evaluate_scores(labels, scores, module.task, label_names, bootstrap, seed)
    if temperature is not None:
        scaled = scores if temperature == 1.0 else predict(module, split, tta=tta, mc_dropout=mc_dropout, seed=seed,
                                                            temperature=temperature)[0]
        res["calibration"] = {"temperature": float(temperature), "ece": metrics.ece(labels, scores, module.task),
                              "ece_scaled": metrics.ece(labels, scaled, module.task)}
        res["scores_scaled"] = scaled
    if threshold is not None:
        res["operating_point"] = metrics.operating_point_report(labels, res.get("scores_scaled", scores), threshold,
                                                                bootstrap, seed)
    if entropy is not None:
        res["mc_dropout"] = {"passes": mc_dropout,
                             **uncertainty_report(torch.from_numpy(scores), torch.from_numpy(entropy),
                                                  torch.from_numpy(labels), module.task)}
        res["entropy"] = entropy.tolist()
    return res
