"""Dropout kinds, the maxout head, MC dropout and label smoothing, trained through ``medtrain.train`` on CPU.

Each test checks that the run learned the bright-square task, that ``medtrain.evaluate`` reproduces its
test metrics, and that the setting is in the model or the loss the Trainer actually used.
"""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from medtrain.models.layers.annealed import AnnealedDropout
from medtrain.models.layers.dropconnect import DropConnectLinear
from medtrain.models.layers.maxout import Maxout
from medtrain.models.layers.standout import Standout, StandoutLinear
import medtrain
from medtrain import rundir
from medtrain.runmodel import load_run_module
from medtrain.data.base import Split
from medtrain.evaluation import predict
from medtrain.rundir import read_predictions
from technique_helpers import MIN_AUC, Inspect, technique_config, train_check

P = 0.3
#: the class-weight rule pinned (the balanced loss auto trains with, no shift folded into the bias) where a test is
#: not about its choice: choosing scores validation three more times (tests/training/test_choices.py judges it)
PINNED = dict(class_weights="true")


def _head(trainer, pl_module):
    """The model's head modules (by type) and the timm drop rate, as the Trainer starts."""
    model = pl_module.model
    return {"modules": list(model.modules()), "drop_rate": getattr(model, "drop_rate", None),
            "head": getattr(model, "head", None)}


#: label smoothing of the two runs below, which the label-smoothing tests read the loss of
EPS = 0.2


def _head_and_loss(trainer, pl_module):
    return {**_head(trainer, pl_module), "loss": _loss_on_a_known_batch(trainer, pl_module)}


# One run per dropout kind also carries label smoothing, unweighted and class-weighted: the head's modules and the
# loss are separate parts of a run, and each of the four tests had trained its own (train_check: learned, reproduced)
def _smoothed_run(data, root, kind: str, class_weights: bool):
    """What the Trainer started with in a run of a ``kind`` head (P) and label smoothing (EPS)."""
    seen = Inspect(_head_and_loss)
    train_check(data, root / "run", callbacks=[seen], dropout=P, dropout_kind=kind, label_smoothing=EPS,
                class_weights=class_weights)
    return seen.seen


@pytest.fixture(scope="module")
def dropout_run(learnable_npz, tmp_path_factory):
    """Plain dropout, the loss unweighted."""
    return _smoothed_run(learnable_npz, tmp_path_factory.mktemp("dropout"), "dropout", class_weights=False)


@pytest.fixture(scope="module")
def dropconnect_run(learnable_npz, tmp_path_factory):
    """A DropConnect head, the loss class-weighted."""
    return _smoothed_run(learnable_npz, tmp_path_factory.mktemp("dropconnect"), "dropconnect", class_weights=True)


def test_plain_dropout_is_the_networks_own_drop_rate(dropout_run):
    assert dropout_run["drop_rate"] == P  # timm applies it before the classifier
    assert not any(isinstance(m, (DropConnectLinear, AnnealedDropout, Standout, StandoutLinear, Maxout))
                   for m in dropout_run["modules"])


def test_dropconnect_head_drops_weights(dropconnect_run):
    fc = dropconnect_run["head"].fc
    assert type(fc) is DropConnectLinear and fc.p == P
    assert not any(type(m) is nn.Dropout for m in dropconnect_run["modules"])


def test_annealed_dropout_rate_falls_epoch_by_epoch(learnable_npz, tmp_path):
    seen = Inspect(_head)
    m = train_check(learnable_npz, tmp_path / "run", callbacks=[seen], dropout=P, dropout_kind="annealed", epochs=3,
                    **PINNED)
    drop = seen.seen["head"].drop
    assert type(drop) is AnnealedDropout and drop.p0 == P
    rates = [h["dropout_rate"] for h in m["history"]]  # linear from p over anneal_epochs (= epochs - 1) to 0
    assert rates == pytest.approx([P, P / 2, 0.0])  # the last epoch trains the full network (it had kept P / 3)


@pytest.mark.parametrize("checkpoint,ema", [("best", 0.0), ("last", 0.0), ("best", 1.0)])
def test_a_reloaded_annealed_run_samples_mc_dropout_at_its_kept_epochs_rate(learnable_npz, tmp_path, checkpoint, ema):
    # the epoch was non-tensor extra state, dropped from model.safetensors: eval and predict sampled at p0;
    # under --ema the moving average of the weights had averaged the epoch too, a rate the run never had
    # 2 MC passes: any T > 1 samples at the loaded rate (5 had made each scoring of a split 2.5 times as dear)
    m = medtrain.train(technique_config(learnable_npz, tmp_path / "run", dropout=P, dropout_kind="annealed",
                                        epochs=4, anneal_epochs=4, mc_dropout=2, checkpoint=checkpoint, ema=ema,
                                        **PINNED), verbose=False)  # its choice had scored with MC passes
    drop = load_run_module(tmp_path / "run").module.model.head.drop
    assert drop.p == pytest.approx(m["history"][m["best_epoch"]]["dropout_rate"]) and drop.p > 0
    again = medtrain.evaluate(tmp_path / "run", verbose=False)
    assert (again["auc"], again["acc"]) == pytest.approx((m["test"]["auc"], m["test"]["acc"]), abs=1e-6)
    # a run saved before the epoch was a buffer (no head.drop.epoch in its file) still loads, at p0 as then
    from medtrain.models.weights import load_state, save_weights, read_meta

    weights = tmp_path / "run" / "model.safetensors"
    state = {k: v for k, v in load_state(weights).items() if not k.endswith("drop.epoch")}
    save_weights(_StateOnly(state), weights, read_meta(weights))
    assert load_run_module(tmp_path / "run").module.model.head.drop.p == pytest.approx(P)


class _StateOnly(nn.Module):
    def __init__(self, state):
        super().__init__()
        self._state = state

    def state_dict(self, *args, **kwargs):
        return self._state


@pytest.fixture(scope="module")
def maxout_standout_run(learnable_npz, tmp_path_factory):
    """What the Trainer started with in a run of a two-piece maxout head with standout before each of its layers:
    one run for the standout and the maxout test (each had trained its own)."""
    seen = Inspect(_head)
    train_check(learnable_npz, tmp_path_factory.mktemp("maxout") / "run", callbacks=[seen], head="maxout:2",
                dropout=P, dropout_kind="standout", **PINNED)
    return seen.seen


def test_standout_head(maxout_standout_run):
    assert any(isinstance(m, (Standout, StandoutLinear)) for m in maxout_standout_run["head"].modules())


def test_maxout_head_with_two_pieces(maxout_standout_run):
    maxout = maxout_standout_run["head"].maxout
    assert type(maxout) is Maxout and maxout.linear.out_features == 2 * maxout_standout_run["head"].fc.in_features


#: MC dropout passes of the shared run: any T > 1 averages stochastic passes. Each image is passed T times on its
#: own (its masks seeded by the image): 20 had made every scoring of a split about twice as dear
PASSES = 5


@pytest.fixture(scope="module")
def mc_run(learnable_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("mc") / "run"
    seen = Inspect(_head)
    m = medtrain.train(technique_config(learnable_npz, out, dropout=P, mc_dropout=PASSES, **PINNED), verbose=False,
                       callbacks=[seen])
    return out, m, seen.seen


def test_mc_dropout_averages_stochastic_passes(mc_run):
    out, m, seen = mc_run
    assert m["test"]["auc"] > MIN_AUC
    assert any(type(mod) is nn.Dropout and mod.p == P for mod in seen["head"].modules())
    assert m["test"]["mc_dropout"]["passes"] == PASSES
    with open(out / "predictions_test.csv", newline="") as f:
        entropy = np.array([float(r["entropy"]) for r in csv.DictReader(f)])
    _, saved = read_predictions(out)
    # the recorded entropy is each image's predictive entropy, that of the mean of the passes
    assert len(entropy) == 64 and np.allclose(entropy, -(saved * np.log(np.clip(saved, 1e-12, 1))).sum(1), atol=1e-5)
    # and the saved probabilities are that mean, not one deterministic pass: with dropout off they differ
    run = load_run_module(out)
    data = np.load(run.cfg.data)
    test = Split(torch.from_numpy(data["test_images"]).unsqueeze(1), torch.from_numpy(data["test_labels"]))
    plain, _ = predict(run.module, test, tta=rundir.run_tta(run.cfg, run.meta))
    again, _ = predict(run.module, test, tta=rundir.run_tta(run.cfg, run.meta), mc_dropout=PASSES,
                       seed=run.cfg.seed)
    assert np.allclose(again, saved, atol=1e-6)
    assert np.abs(plain - saved).max() > 1e-3



def test_mc_dropout_prediction_of_one_image_alone_is_its_row_in_the_run(mc_run):
    # masks are drawn per image (the run's seed and the image's values), not per batch of 256
    out, _, _ = mc_run
    run = load_run_module(out)
    images = np.load(run.cfg.data)["test_images"]
    with open(out / "predictions_test.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # predict gives the run's calibrated probabilities: the file's q columns where it fitted a temperature
    scaled = "q" if "q0" in rows[0] else "p"
    saved = np.array([[float(r[f"{scaled}{j}"]) for j in range(2)] for r in rows])
    model = medtrain.load(out)
    for i in (0, 37):
        assert np.allclose(model.predict(images[i])[0], saved[i], atol=1e-6)


def test_mc_dropout_evaluation_reproduces_the_run_exactly(mc_run):
    # the dropout masks are seeded by the run's seed, so re-evaluating draws the same T passes
    out, m, _ = mc_run
    again = medtrain.evaluate(out, verbose=False)
    assert again["auc"] == pytest.approx(m["test"]["auc"], abs=1e-9) and again["acc"] == m["test"]["acc"]
    # validation is scored as test is, so the temperature is fitted on the scores it scales (a clinical
    # reader's audit: it was fitted on the deterministic network's validation scores, then applied to MC ones)
    val = medtrain.evaluate(out, split="val", verbose=False)
    assert val["auc"] == pytest.approx(m["val"]["auc"], abs=1e-9) and val["acc"] == m["val"]["acc"]
    assert val["calibration"]["ece_scaled"] == pytest.approx(m["calibration"]["val"]["ece_scaled"], abs=1e-6)


def _loss_on_a_known_batch(trainer, pl_module):
    logits = torch.tensor([[2.0, -1.0], [0.5, 1.5], [-1.0, 3.0]])
    target = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    return float(pl_module.loss(logits, target)), logits, target, pl_module.class_weights


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "class-weighted"])
def test_label_smoothing_reaches_the_loss(weighted, request):
    eps = EPS
    loss, logits, target, w = request.getfixturevalue("dropconnect_run" if weighted else "dropout_run")["loss"]
    smoothed = target * (1 - eps) + eps / 2
    per = -(smoothed * torch.log_softmax(logits, -1))
    if weighted:  # inverse class frequency of the 128 training images, normalised by the targets' weight
        assert w is not None and w.shape == (2,) and not torch.allclose(w, torch.ones(2))
        expected = (per * w).sum() / (smoothed * w).sum()
    else:
        assert w is None
        expected = per.sum(-1).mean()
    assert loss == pytest.approx(float(expected), rel=1e-6)
    assert not math.isclose(loss, float(-(target * torch.log_softmax(logits, -1)).sum(-1).mean()), rel_tol=1e-3)


def test_label_smoothing_reaches_a_multi_label_loss():
    # each label a two-class problem smoothed towards 1/2: the setting had been ignored for multi-label tasks
    from medtrain.data.base import MULTILABEL
    from medtrain.training.module import Classifier

    logits, target = torch.tensor([[2.0, -1.0, 0.3], [0.5, 1.5, -2.0]]), torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    losses = {}
    for eps in (0.0, 0.3):
        module = Classifier(nn.Linear(3, 3), MULTILABEL, 3, torch.zeros(1), torch.ones(1), {"label_smoothing": eps})
        losses[eps] = float(module.loss(logits, target))
    smoothed = target * 0.7 + 0.15
    expected = -(smoothed * F.logsigmoid(logits) + (1 - smoothed) * F.logsigmoid(-logits)).mean()
    assert losses[0.3] == pytest.approx(float(expected), rel=1e-6)
    assert not math.isclose(losses[0.3], losses[0.0], rel_tol=1e-3)
