"""--ema: the saved model is the exponential moving average of the training trajectory, validated as such."""
import lightning.pytorch as pl
import pytest
import torch

import medtrain
from medtrain.models.weights import load_state
from medtrain.training.callbacks import EMA
from conftest import fast_config


class StepWeights(pl.Callback):
    """The network's parameters after every optimizer step, with the epoch of the step."""

    def __init__(self):
        self.steps = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.steps.append((trainer.current_epoch,
                           {k: v.detach().clone() for k, v in pl_module.model.named_parameters()}))


def test_half_life_is_in_epochs_whatever_the_set_size():
    for batches, half_life in ((4, 1.0), (37, 1.0), (37, 2.5)):
        decay = EMA.per_step_decay(half_life, batches)
        assert decay ** (half_life * batches) == pytest.approx(0.5)  # half the weight is older than half_life epochs
    assert EMA.per_step_decay(1.0, 4) < EMA.per_step_decay(1.0, 37)  # more steps per epoch: slower per step


def test_saved_model_is_the_moving_average_of_the_steps_up_to_the_best_epoch(tiny_npz, tmp_path):
    rec = StepWeights()
    half_life = 0.5
    # class weights pinned: a decision rule chosen on validation would be folded into the saved bias
    m = medtrain.train(fast_config(tiny_npz, tmp_path / "ema", epochs=3, ema=half_life, lr=3e-3, class_weights="true"),
                       verbose=False, callbacks=[rec])
    steps_per_epoch = sum(1 for e, _ in rec.steps if e == 0)
    decay = 0.5 ** (1.0 / (half_life * steps_per_epoch))
    avg = None
    for epoch, w in rec.steps:
        if epoch > m["best_epoch"]:
            break
        avg = dict(w) if avg is None else {k: decay * avg[k] + (1 - decay) * w[k] for k in avg}
    saved = load_state(tmp_path / "ema" / "model.safetensors")
    for k, v in avg.items():
        assert torch.allclose(saved[k], v, atol=1e-5), k
    # ...and not the raw weights of that epoch
    raw = [w for e, w in rec.steps if e == m["best_epoch"]][-1]
    assert max((saved[k] - raw[k]).abs().max().item() for k in raw) > 1e-3


def test_validation_selects_and_eval_reproduces_the_averaged_model(tiny_npz, tmp_path):
    m = medtrain.train(fast_config(tiny_npz, tmp_path / "ema", epochs=3, ema=1.0, tta="none"), verbose=False)
    best = next(h for h in m["history"] if h["epoch"] == m["best_epoch"])
    # the number that chose the checkpoint is the saved (averaged) model's validation AUC
    assert medtrain.evaluate(tmp_path / "ema", split="val", verbose=False)["auc"] == pytest.approx(best["val_auc"],
                                                                                                  abs=1e-6)
    again = medtrain.evaluate(tmp_path / "ema", verbose=False)
    assert again["auc"] == pytest.approx(m["test"]["auc"], abs=1e-9)


def test_negative_half_life_is_one_line(tmp_path, capsys):
    from medtrain.cli import main

    assert main(["train", "--dataset", "breastmnist", "--ema", "-1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ema" in err[0]
    assert not (tmp_path / "r").exists()
