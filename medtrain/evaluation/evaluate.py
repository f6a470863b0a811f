"""Predict a split and score it with the MedMNIST metrics, per-class figures and bootstrap CIs."""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch

from medtrain import metrics, operating_point
from medtrain.augment.tta import tta_predict
from medtrain.data.base import Split
from medtrain.evaluation.calibration import apply_temperature
from medtrain.models.layers.mc_dropout import mc_predict, predictive_entropy, uncertainty_report
from medtrain.evaluation.batches import eval_batch
from medtrain.tasks import class_names


@torch.no_grad()
def predict_batches(module, batches, tta: str = "none", mc_dropout: int = 0, seed: int = 0):
    """Class probabilities batch by batch: yields ``(probs (B, K), entropy (B,) or None)`` for each uint8
    batch of ``batches`` (an iterable), so any number of images is predicted in constant memory.

    The semantics (TTA, MC dropout and its seeded masks) are those of :func:`predict`, which goes through
    here: given the same batches, both give the same numbers. With MC dropout the RNG state is forked
    around the whole iteration.
    """
    module.eval()
    device = next(module.parameters()).device

    def forward(x):
        if mc_dropout:  # the mean of T stochastic passes
            return mc_predict(module, x, T=mc_dropout, task=module.task, seed=seed).probs.float()
        return metrics.scores_from_logits(module(x).float(), module.task)

    sigmoid = module.task == metrics.MULTILABEL or module.num_classes == 1
    # only MC dropout draws random numbers: forking and seeding the generators (every device kind's, each with
    # a traceback of its own) had been 15% of a one-image predict call (a notebook's or service's loop)
    rng = torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]) if mc_dropout else nullcontext()
    with rng:
        if mc_dropout:
            torch.manual_seed(seed)
        for x in batches:
            x = x.to(device)
            if tta != "none":
                # forward_fn gets float images in [0, 1]; the module takes uint8-range values
                p = tta_predict(lambda v: forward(v * 255.0), x.float() / 255.0, mode=tta)
            else:
                p = forward(x)
            p = p.float()
            yield p.cpu(), (predictive_entropy(p, sigmoid).cpu() if mc_dropout else None)


@torch.no_grad()
def predict(module, split: Split, batch_size: int | None = None, tta: str = "none", mc_dropout: int = 0,
            seed: int = 0):
    """Class probabilities ``(N, K)`` for a split (softmax, or sigmoid for multi-label).

    Args:
        batch_size: images per forward pass; None: :func:`medtrain.evaluation.batches.eval_batch`'s (256 up to
            64 px or 64^3 voxels, fewer for larger inputs, so a 512-px split does not need ~21 GB at once).
        tta: ``none``, ``hflip`` or ``flip`` — probabilities averaged over flipped views
            (``medtrain.augment.tta``).
        mc_dropout: T > 0 averages T stochastic passes with dropout on (Gal & Ghahramani, ICML 2016)
            and also returns each image's predictive entropy. With TTA, each view gets T passes and the
            entropy is that of the mean over views and passes.
        seed: the dropout masks' seed (MC dropout): each image's masks are drawn from it and the image's
            values, so re-evaluating a run, or predicting one of its images alone, gives the same numbers.

    Returns:
        ``probs`` (N, K), and ``entropy`` (N,) or None.
    """
    batch_size = eval_batch(1, split.images) if batch_size is None else batch_size
    batches = (split.images[i:i + batch_size] for i in range(0, len(split), batch_size))
    probs, entropy = [], []
    for p, e in predict_batches(module, batches, tta=tta, mc_dropout=mc_dropout, seed=seed):
        probs.append(p)
        if e is not None:
            entropy.append(e)
    if not probs:
        return np.zeros((0, module.num_classes)), None
    return torch.cat(probs).numpy(), (torch.cat(entropy).numpy() if entropy else None)


def evaluate_split(module, split: Split, label_names: dict, bootstrap: int = 1000, seed: int = 0,
                   tta: str = "none", mc_dropout: int = 0, temperature: float | None = None,
                   threshold: float | None = None, positive: int = 1, thresholds: list | None = None) -> dict:
    """The MedMNIST metrics of a split (on the uncalibrated probabilities, as the papers report them).

    With ``temperature``: also ``calibration`` (the ECE before and after scaling) and ``scores_scaled``
    (the calibrated probabilities, :func:`medtrain.evaluation.calibration.apply_temperature`). With
    ``threshold`` (binary tasks, a threshold on the calibrated positive-class probability):
    ``operating_point``, the sensitivity, specificity, PPV and NPV of class ``positive`` with Wilson CIs; with
    ``thresholds`` (multi-label tasks, one per label on its calibrated probability): ``operating_point``, each
    label's (``per_label``) and a ``summary`` over them (:func:`medtrain.operating_point.label_report`).
    """
    scores, entropy = predict(module, split, tta=tta, mc_dropout=mc_dropout, seed=seed)
    labels = split.labels.numpy()
    res = metrics.evaluate_scores(labels, scores, module.task, label_names, bootstrap, seed, groups=split.groups)
    if temperature is not None:
        add_calibration(res, labels, module.task, temperature)
    if threshold is not None:
        res["operating_point"] = {"positive_class": label_names[str(positive)],
                                  **operating_point.operating_point_report(labels, res.get("scores_scaled", scores), threshold,
                                                                   positive, groups=split.groups)}
    if thresholds is not None:
        names = class_names(label_names, len(thresholds))
        res["operating_point"] = operating_point.label_report(labels, res.get("scores_scaled", scores), thresholds,
                                                              names, groups=split.groups)
    if entropy is not None:
        res["mc_dropout"] = {"passes": mc_dropout,
                             **uncertainty_report(torch.from_numpy(scores), torch.from_numpy(entropy),
                                                  torch.from_numpy(labels), module.task)}
        res["entropy"] = entropy.tolist()
    return res


def add_calibration(res: dict, labels, task: str, temperature: float) -> dict:
    """Add ``calibration`` (ECE of ``res["scores"]`` before and after scaling by ``temperature``, ACC and AUC
    after it) and
    ``scores_scaled`` to an :func:`evaluate_split` result."""
    scores = res["scores"]
    scaled = apply_temperature(scores, task, temperature)
    res["calibration"] = {"temperature": float(temperature), "ece": metrics.ece(labels, scores, task),
                          "ece_scaled": metrics.ece(labels, scaled, task),
                          # the MedMNIST metrics of the scaled scores: equal to the run's for every task but
                          # the multi-class AUC (see medtrain.evaluation.calibration)
                          "acc_scaled": metrics.acc(labels, scaled, task),
                          "auc_scaled": metrics.auc(labels, scaled, task)}
    res["scores_scaled"] = scaled
    return res
