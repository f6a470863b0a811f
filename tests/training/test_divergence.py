"""A run whose weights become NaN, or whose outputs overflow to NaN while its weights stay finite, stops in that
epoch and keeps the best epoch before it; one that diverges before any usable epoch is refused in one line and
leaves no run directory behind."""
import json
import math

import lightning.pytorch as pl
import pytest
import torch

import medtrain
from medtrain.models.weights import load_state
from conftest import fast_config, make_npz


class PoisonAt(pl.Callback):
    """What a diverged optimiser step does: one weight becomes NaN at the start of ``epoch``; the following
    steps spread it through every weight the gradients reach."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            with torch.no_grad():
                next(pl_module.parameters()).view(-1)[0] = float("nan")


@pytest.mark.parametrize("rule", ["best", "last"])  # the last epoch's weights are NaN: kept is the best before
def test_diverged_run_stops_there_and_keeps_the_best_earlier_epoch(tmp_path, capsys, rule):
    data = make_npz(tmp_path / "d.npz", noisy_test=2)  # test AUC below 1: its re-evaluation says something
    out = tmp_path / "run"
    m = medtrain.train(fast_config(data, out, epochs=5, checkpoint=rule), callbacks=[PoisonAt(2)])
    printed = capsys.readouterr().out
    assert m["diverged_epoch"] == 2 and m["stop_epoch"] == 1 and m["best_epoch"] <= 1
    assert [h["epoch"] for h in m["history"]] == [0, 1]  # nothing from the NaN epoch or after it
    weights = load_state(out / "model.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert m["val"]["auc"] == max(h["val_auc"] for h in m["history"])  # the kept model is the best epoch's
    assert "training diverged in epoch 3 (weights not finite) and stopped there" in printed
    assert json.loads((out / "metrics.json").read_text())["diverged_epoch"] == 2
    assert m["checkpoint"] == "best" and "best epoch" in printed  # what the run did, whatever was asked
    again = medtrain.evaluate(out, verbose=False)
    assert m["test"]["auc"] < 1 and again["auc"] == pytest.approx(m["test"]["auc"], abs=1e-6)
    assert again["acc"] == m["test"]["acc"]


def test_divergence_before_any_usable_epoch_is_one_line_and_leaves_nothing(tiny_npz, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(medtrain.MedtrainError, match=r"^training diverged in epoch 1 \(weights not finite\) "
                                                     r"before any epoch was validated: lower --lr"):
        medtrain.train(fast_config(tiny_npz, out, epochs=3), verbose=False, callbacks=[PoisonAt(0)])
    assert not out.exists()  # the checkpoints hold NaN weights: nothing to resume


def test_a_learning_rate_that_blows_up_batch_norm_is_a_divergence_too(tiny_npz, tmp_path):
    # lr 1e9: the first step leaves the weights finite but huge, batch norm's running variance becomes inf, the
    # next gradients are NaN (those steps are skipped) and every prediction is NaN: the run was written with NaN
    # predictions and died in scikit-learn with a traceback
    out = tmp_path / "run"
    with pytest.raises(medtrain.MedtrainError, match=r"^training diverged in epoch 1 .* before any epoch was validated"):
        medtrain.train(fast_config(tiny_npz, out, epochs=2, lr=1e9), verbose=False)
    assert not out.exists()


def test_weights_finite_but_outputs_overflowing_is_a_divergence_too(tiny_npz, tmp_path):
    # lr 1e4 in float32: every weight and buffer stays finite but so large that the forward pass overflows and
    # every validation logit is NaN; the run had been written with NaN predictions (a "best" checkpoint of score
    # -inf), died in scikit-learn's "ValueError: Input contains NaN." and left a half-written folder that the
    # same command crashed on again (a user walkthrough, --lr 1e8)
    out = tmp_path / "run"
    with pytest.raises(medtrain.TrainingDiverged, match=r"^training diverged in epoch 1 \(weights finite, but the "
                                                        r"network's outputs overflowed to NaN\) before any epoch was "
                                                        r"validated: lower --lr$"):  # float32 already: no advice of it
        medtrain.train(fast_config(tiny_npz, out, epochs=1, lr=1e4, bootstrap=0), verbose=False)
    assert not out.exists()  # nothing half-written: the same call again starts afresh and ends the same way


class OverflowAt(pl.Callback):
    """What weights too large for the forward pass do: the network's outputs are NaN in the validation of
    ``epoch`` (its weights finite), and only there."""

    def __init__(self, epoch: int):
        self.epoch, self.hook = epoch, None

    def on_validation_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            self.hook = pl_module.model.register_forward_hook(lambda module, inputs, output: output * float("nan"))

    def on_validation_epoch_end(self, trainer, pl_module):
        if self.hook is not None:
            self.hook.remove()
            self.hook = None


def test_an_epoch_whose_outputs_overflow_stops_the_run_and_the_finite_epoch_before_it_is_kept(tmp_path, capsys):
    data = make_npz(tmp_path / "d.npz")
    out = tmp_path / "run"
    m = medtrain.train(fast_config(data, out, epochs=3, checkpoint="last", bootstrap=0), callbacks=[OverflowAt(1)])
    assert ("training diverged in epoch 2 (weights finite, but the network's outputs overflowed to NaN) and stopped "
            "there") in capsys.readouterr().out
    assert m["diverged_epoch"] == 1 and m["best_epoch"] == 0 and m["checkpoint"] == "best"
    assert m["diverged_cause"] == "weights finite, but the network's outputs overflowed to NaN"
    assert [h["epoch"] for h in m["history"]] == [0]  # nothing from the NaN epoch or after it
    assert m["val"]["auc"] == m["history"][0]["val_auc"] and math.isfinite(m["test"]["auc"])  # the kept epoch's
    rows = (out / "predictions_test.csv").read_text().lower()
    assert "nan" not in rows and (out / "metrics.json").exists()


def test_nan_scores_have_no_auc_instead_of_an_exception():
    from medtrain import metrics

    y = torch.tensor([0, 1, 0, 1]).numpy()
    s = torch.tensor([[0.9, 0.1], [float("nan"), float("nan")], [0.8, 0.2], [0.3, 0.7]]).numpy()
    assert torch.isnan(torch.tensor(metrics.auc(y, s, "binary-class")))


class NanGradientAt(pl.Callback):
    """A faulty kernel's step: one gradient element is NaN after the backward pass of step ``step``."""

    def __init__(self, step: int):
        self.step = step

    def on_after_backward(self, trainer, pl_module):
        if trainer.global_step == self.step:
            next(p for p in pl_module.parameters() if p.grad is not None).grad.view(-1)[0] = float("nan")


def test_a_step_with_a_nan_gradient_is_skipped_and_training_goes_on(tmp_path):
    from medtrain.training.precision import SkippedSteps

    data = make_npz(tmp_path / "d.npz")
    out = tmp_path / "run"
    with pytest.warns(SkippedSteps) as said:
        m = medtrain.train(fast_config(data, out, epochs=3), callbacks=[NanGradientAt(1)])
    assert m["skipped_steps"] == 1 and m["skipped_at_steps"] == [1] and "diverged_epoch" not in m  # without the skip: NaN weights, a stopped run
    assert [h["epoch"] for h in m["history"]] == [0, 1, 2]
    assert all(torch.isfinite(w).all() for w in load_state(out / "model.safetensors").values())
    assert m["val"]["auc"] > 0.9  # the easy task is learnt all the same
    steps = m["optimizer_steps"]
    assert steps > 3 and [str(w.message) for w in said if w.category is SkippedSteps][0].startswith(
        f"1 of {steps} optimiser step(s) skipped: their gradients were not finite")
    assert "1 optimiser step(s) skipped because their gradients were not finite" in (out / "report.html").read_text()


def test_a_skipped_step_leaves_every_weight_as_it_was():
    from medtrain.training.callbacks import SkipNonFiniteSteps

    net = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(net.parameters(), lr=0.1)
    before = [p.detach().clone() for p in net.parameters()]
    net(torch.ones(1, 3)).sum().backward()
    net.weight.grad[0, 0] = float("inf")
    skip = SkipNonFiniteSteps()
    skip.on_before_optimizer_step(None, None, opt)
    opt.step()
    assert skip.skipped == 1 and all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    net(torch.ones(1, 3)).sum().backward()  # a finite step afterwards moves them
    skip.on_before_optimizer_step(None, None, opt)
    opt.step()
    assert skip.skipped == 1 and not torch.equal(before[0], net.weight)



class NanGradientAlways(pl.Callback):
    def on_after_backward(self, trainer, pl_module):
        next(p for p in pl_module.parameters() if p.grad is not None).grad.view(-1)[0] = float("nan")


def test_a_run_none_of_whose_steps_was_taken_is_refused_and_leaves_nothing(tmp_path):
    # fresh 3D networks on 16^3 volumes under bf16 had every step skipped, and reported test AUC 0.85 as if
    # they had trained
    from medtrain.errors import MedtrainError

    data = make_npz(tmp_path / "d.npz")
    with pytest.raises(MedtrainError, match="none of the .* optimiser steps could be taken.*--precision 32-true"):
        medtrain.train(fast_config(data, tmp_path / "run", epochs=1), callbacks=[NanGradientAlways()])
    assert not (tmp_path / "run").exists()
