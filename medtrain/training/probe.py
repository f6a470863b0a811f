"""Linear probe: a linear classifier on a frozen source model's pooled features ("CNN codes").

Razavian et al., "CNN features off-the-shelf: an astounding baseline for recognition", CVPRW 2014:
the pooled activations of a network trained elsewhere, fed to a linear SVM, are a strong baseline on
small datasets. Yosinski et al. (NeurIPS 2014) show that lower layers are more general, so on a
target unlike the source an earlier stage (``--probe-layer layer3``) can be the better feature.

No Lightning loop and no epochs: the codes of the train and val images are computed once and cached
in the run directory (``features.npz``, keyed by the source, the layer and the data), standardised on
the training split, and a scikit-learn ``LogisticRegression`` or ``LinearSVC`` is fitted for each C of
a grid; C is chosen on the VALIDATION split (the test split is only scored once, with that C).

The fitted classifier is then folded, with the standardisation, into one linear layer on the frozen
network (:class:`ProbeModel`): validation and test are scored through it like every other run (TTA
included), and it is saved as the run's ``model.safetensors``, so ``medtrain eval`` works on probe runs.
"""
from __future__ import annotations

import hashlib
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from torch import nn

from medtrain import metrics
from medtrain._io import atomic_path
from medtrain.config import Config
from medtrain.data import OWN, origin_parts
from medtrain.errors import MedtrainError
from medtrain.models.stages import stage_names
from medtrain.reports.summary import SAME_PROBE
from medtrain.rundir import FEATURES_FILE, WEIGHTS_FILE
from medtrain.tasks import BINARY, MULTILABEL
from medtrain.training.build import build_model, normalisation
from medtrain.training.fit import FitResult
from medtrain.training.module import Classifier
from medtrain.training.network import ProbeModel, pooled_codes

__all__ = ["CS", "same_for_every_seed", "pooled_features", "extract_codes", "fit_linear", "linear_weights",
           "ProbeModel", "fit_probe", "resolve_layer", "extraction_device"]

#: Inverse regularisation strengths tried on validation.
CS = tuple(float(c) for c in np.logspace(-4, 2, 7))

#: Why probes of different seeds come out alike, where they do (said in the run's summary and metrics.json's
#: ``probe.seeds``, in :data:`medtrain.reports.summary.SAME_PROBE`'s words): the codes are the frozen network's,
#: computed in eval mode without augmentation, and the classifier is a convex fit of all of them at once
#: (regularised, so one optimum), with C chosen on validation. There is no initialisation, batch order, augmentation
#: or dropout to draw: LogisticRegression's weights are bit-identical across seeds, LinearSVC's (whose coordinate
#: order the seed draws) agree to the solver's tolerance, and so do their scores. A compare of seeds therefore shows a
#: spread of 0 for a probe: that is the method, not a seed ignored. Not where the seed drew the splits
#: (:func:`same_for_every_seed`): each seed's probe is then fitted and chosen on other images.


def same_for_every_seed(splits) -> str | None:
    """:data:`SAME_PROBE` where every seed's probe on ``splits`` is the same: their val and test splits are the data's
    own (``splits.record.origin``, :mod:`medtrain.data._origin`; splits given without a record: as they come); None
    where the seed drew one (``drawn``), dealt it into folds (``fold``), or where it is not known (an array cache
    written before origins were recorded, whose missing splits were drawn)."""
    record = splits.record
    if record is None:
        return SAME_PROBE
    parts = origin_parts(record.origin)
    return SAME_PROBE if parts is not None and all(p == OWN for p in parts.values()) else None


def resolve_layer(model: nn.Module, layer: str | None) -> int | None:
    """``None`` (the final pooled features), or the index into ``feature_info`` of ``layer``.

    ``layer`` is a stage module name (``layer3``; ``stem`` for stage 0) or an index (``2``, ``-2``).
    """
    if layer is None or layer in ("last", "-1"):
        return None
    names = stage_names(model)
    if layer in names:
        return names.index(layer)
    try:
        i = int(layer)
    except ValueError:
        raise MedtrainError(f"probe_layer {layer!r} is not a stage of the model; "
                            f"choose from {', '.join(names)}") from None
    if not -len(names) <= i < len(names):
        raise MedtrainError(f"probe_layer {i} out of range: the model has stages 0..{len(names) - 1} "
                            f"({', '.join(names)})")
    return i % len(names)


@torch.no_grad()
def pooled_features(model: nn.Module, images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                    input_transform: nn.Module | None = None, layer: int | None = None,
                    batch_size: int = 512) -> np.ndarray:
    """Global-average-pooled features of uint8 ``images`` ``(N, C, H, W)``.

    Args:
        model: the (frozen) source network on the target's channels.
        mean, std: per-channel normalisation, as in training.
        input_transform: optional colour-space module applied before normalisation.
        layer: ``None`` for the features the classifier sees, or a ``feature_info`` index whose stage
            output is pooled (via timm's ``forward_intermediates``, stopping early).

    Returns:
        ``(N, F)`` float32.
    """
    model = model.eval()
    view = (1, -1) + (1,) * (images.ndim - 2)
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].float().div(255.0)
        if input_transform is not None:
            x = input_transform(x)
        x = (x - mean.view(view)) / std.view(view)
        out.append(pooled_codes(model, x, layer).float().cpu())
    return torch.cat(out).numpy()


def linear_weights(clf, scaler, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(W, b)`` with ``scores_from_logits(X @ W.T + b)`` = the classifier's scores on raw codes ``X``.

    The standardisation is folded in (``W / sigma``, ``b - W mu / sigma``); a binary classifier's single
    decision function ``z`` becomes the logits ``(0, z)``, whose softmax is ``(1 - sigmoid(z), sigmoid(z))``.
    """
    estimators = getattr(clf, "estimators_", [clf])  # one-vs-rest (multi-label): one per label
    if any(not hasattr(e, "coef_") for e in estimators):
        raise MedtrainError("a label has one class only in the training split: no linear probe can be saved")
    w = np.concatenate([e.coef_ for e in estimators]).astype(np.float64)
    b = np.concatenate([np.atleast_1d(e.intercept_) for e in estimators]).astype(np.float64)
    if task == BINARY and w.shape[0] == 1:
        w, b = np.concatenate([np.zeros_like(w), w]), np.concatenate([[0.0], b])
    w = w / scaler.scale_
    b = b - w @ scaler.mean_
    return torch.from_numpy(w).float(), torch.from_numpy(b).float()


def _cache_key(cfg, splits, layer: int | None, source_origin: str) -> str:
    src = Path(cfg.pretrained) if cfg.pretrained else None
    w = src / WEIGHTS_FILE if src is not None and src.is_dir() else src
    stamp = [w.stat().st_size, w.stat().st_mtime_ns] if w is not None and w.is_file() else None
    parts = {"source": source_origin, "stamp": stamp, "layer": layer, "model": cfg.model, "data": splits.name,
             "sizes": [len(splits.train), len(splits.val), len(splits.test)], "color_space": cfg.color_space}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def extract_codes(model: nn.Module, cfg, splits, cache: Path, layer: int | None, source_origin: str = "",
                  norm: tuple | None = None) -> dict:
    """``{"train", "val"}`` feature arrays (what the classifier and its C are fitted on), read from
    ``cache`` when it holds the same key. ``norm``: ``normalisation(cfg, splits)`` if already computed."""
    key = _cache_key(cfg, splits, layer, source_origin)
    if cache.is_file():
        with np.load(cache) as z:
            if str(z["key"]) == key:
                return {s: z[s] for s in ("train", "val")}
    mean, std, transform = norm or normalisation(cfg, splits)
    codes = {s: pooled_features(model, splits.split(s).images, mean, std, transform, layer)
             for s in ("train", "val")}
    with atomic_path(cache) as tmp:
        with open(tmp, "wb") as fh:  # a file object: np.savez would otherwise append ".npz" to tmp's name
            np.savez(fh, key=np.array(key), **codes)
    return codes


def _classifier(kind: str, C: float, task: str, seed: int):
    base = (LogisticRegression(C=C, max_iter=3000) if kind == "logreg"
            else LinearSVC(C=C, max_iter=10000, random_state=seed))
    return OneVsRestClassifier(base) if task == MULTILABEL else base


def _scores(clf, X: np.ndarray, kind: str, task: str) -> np.ndarray:
    """Class probabilities (logreg), or SVM margins mapped to [0, 1] (sigmoid for binary/multi-label,
    softmax for multi-class: the same mapping medtrain applies to a network's logits)."""
    if kind == "logreg":
        return clf.predict_proba(X)
    d = clf.decision_function(X)
    if task == BINARY:
        p = 1 / (1 + np.exp(-d))
        return np.stack([1 - p, p], 1)
    if task == MULTILABEL:
        return 1 / (1 + np.exp(-d))
    e = np.exp(d - d.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def fit_linear(codes: dict, labels: dict, task: str, kind: str = "logreg", Cs=CS, monitor: str = "val_auc",
               seed: int = 0):
    """Fit a linear classifier per C on the training codes and keep the C best on validation.

    Returns:
        ``(classifier, scaler, best_C, {C: validation score})``: the score is :func:`probe_metric`'s, None where it
        is undefined (an AUC on a validation split lacking a class); a defined score beats an undefined one.
    """
    scaler = StandardScaler().fit(codes["train"])
    Xtr, Xva = scaler.transform(codes["train"]), scaler.transform(codes["val"])
    best, table = None, {}
    for C in Cs:
        clf = _classifier(kind, C, task, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(Xtr, labels["train"])
        s = _scores(clf, Xva, kind, task)
        score = metrics.acc(labels["val"], s, task) if monitor == "val_acc" else metrics.auc(labels["val"], s, task)
        score = None if np.isnan(score) else float(score)
        table[C] = score
        rank = -np.inf if score is None else score
        if best is None or rank > best[0]:  # ties keep the smaller C (stronger regularisation)
            best = (rank, C, clf)
    return best[2], scaler, best[1], table


def probe_metric(monitor: str) -> str:
    """The validation score a probe's C is chosen by: its accuracy under ``--monitor val_acc``, else its AUC (a
    probe has no validation loss curve: ``val_loss`` chooses by AUC too)."""
    return "val_acc" if monitor == "val_acc" else "val_auc"


def grid_note(C: float, val_by_C: dict, monitor: str = "val_auc") -> str | None:
    """What the chosen ``C`` says of its grid (``val_by_C``: C -> validation score, :func:`fit_linear`'s), None where
    it lies inside it: at an end of the grid, the best C may lie beyond it (a walk's probes chose C=100 and C=0.0001
    unremarked); every C scoring the same, it is the tie rule's, not the data's choice. A score of None is undefined
    (:func:`fit_linear`); the score is named as :func:`probe_metric` computed it."""
    lo, hi = min(val_by_C), max(val_by_C)
    grid = f"the grid {lo:g}..{hi:g}"
    metric = probe_metric(monitor)
    scores = {None if v is None or np.isnan(v) else v for v in val_by_C.values()}
    if scores == {None}:
        return f"{metric} is undefined on validation for every C of {grid}: C={C:g} is the tie rule's (the " \
               f"smallest), not a choice the data made"
    if len(scores) == 1:
        return f"every C of {grid} scored the same on validation ({metric} {val_by_C[C]:.4f}): C={C:g} is the tie " \
               f"rule's (the smallest), not a choice the data made"
    if C in (lo, hi):
        end, side = ("largest", "above it (weaker regularisation)") if C == hi else \
            ("smallest", "below it (stronger regularisation)")
        return f"C={C:g} is the {end} of {grid}: the best C on validation may lie {side}"
    return None


def _probe_module(model, layer, clf, scaler, cfg, splits, norm: tuple):
    """The probe as a network (:class:`ProbeModel`) inside the evaluation module every run uses."""
    weight, bias = linear_weights(clf, scaler, splits.task)
    probe = ProbeModel(model, -1 if layer is None else layer, weight, bias)
    mean, std, transform = norm
    return probe, Classifier(probe, splits.task, splits.num_classes, mean, std, cfg.to_dict(),
                             input_transform=transform)


def extraction_device(model: nn.Module) -> tuple[str, str]:
    """``(device, precision)`` the frozen network computes the codes with (and the probe network scores validation
    and test with), named as ``metrics.json`` names a trained run's: ``"cpu"`` or the GPU's name, and Lightning's
    precision name of its weights' type (the codes are float32 on the network's own device, no autocast)."""
    p = next(model.parameters())
    device = torch.cuda.get_device_name(p.device) if p.device.type == "cuda" else p.device.type
    precision = {torch.float32: "32-true", torch.float64: "64-true", torch.bfloat16: "bf16-true",
                 torch.float16: "16-true"}.get(p.dtype, str(p.dtype).removeprefix("torch."))
    return device, precision


def fit_probe(cfg: Config, splits, run_dir: Path) -> FitResult:
    """The ``linear-probe`` procedure: codes once, C chosen on validation; the probe network as the result.

    The run writer scores it like every run; ``metrics.json`` gets ``history = []``, ``best_epoch =
    stop_epoch = 0``, ``transfer`` (the plan), ``probe`` (layer, classifier, C grid with validation scores, and
    ``C_note``: :func:`grid_note`, or None), and ``device`` and ``precision`` (:func:`extraction_device`) as every
    run's; the summary line says the note too.
    """
    torch.manual_seed(cfg.seed)
    model, plan = build_model(cfg, splits)
    layer = resolve_layer(model, cfg.probe_layer)
    norm = normalisation(cfg, splits)
    t1 = time.perf_counter()
    codes = extract_codes(model, cfg, splits, Path(run_dir) / FEATURES_FILE, layer, plan.source or "", norm)
    extract_s = time.perf_counter() - t1
    labels = {s: splits.split(s).labels.numpy() for s in ("train", "val")}
    if splits.task != MULTILABEL:
        labels = {s: v.reshape(-1) for s, v in labels.items()}
    clf, scaler, C, table = fit_linear(codes, labels, splits.task, cfg.probe_classifier, monitor=cfg.monitor,
                                       seed=cfg.seed)
    _, module = _probe_module(model, layer, clf, scaler, cfg, splits, norm)
    layer_name = plan.stages[-1] if layer is None else plan.stages[layer]
    probe = {"layer": layer_name, "classifier": cfg.probe_classifier, "feature_dim": int(codes["train"].shape[1]),
             "C": C, "val_by_C": {f"{c:g}": v for c, v in table.items()}, "extract_s": extract_s,
             "seeds": same_for_every_seed(splits), "C_note": grid_note(C, table, cfg.monitor)}
    device, precision = extraction_device(model)  # what computed the codes, as a trained run records what trained it
    return FitResult(module, [], 0, 0, False, 0.0, transfer=plan,
                     weights_meta={"probe_layer": -1 if layer is None else layer,
                                   "probe_classifier": cfg.probe_classifier},
                     metrics={"probe": probe, "device": device, "precision": precision},
                     summary=f"linear probe ({cfg.probe_classifier}) on {layer_name} features "
                             f"({probe['feature_dim']}-d), C={C:g} chosen on validation"
                             f"{'; ' + probe['C_note'] if probe['C_note'] else ''}"
                             f"{'; ' + probe['seeds'] if probe['seeds'] else ''}")
