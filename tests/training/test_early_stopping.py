"""Early stopping stops at best + patience and restores the best weights."""
import copy

import lightning.pytorch as pl
import torch

import medtrain
import medtrain.models.weights
from medtrain.training import module as module_mod
from conftest import fast_config

SCRIPT = [0.60, 0.70, 0.80, 0.75, 0.78, 0.79, 0.70, 0.95, 0.99]  # best at epoch 2 (0-based) until patience runs out


class Snapshots(pl.Callback):
    def __init__(self):
        self.states = {}

    def on_validation_end(self, trainer, pl_module):
        self.states[trainer.current_epoch] = copy.deepcopy(pl_module.model.state_dict())


def test_stops_at_best_plus_patience_and_restores_best(tiny_npz, tmp_path, monkeypatch):
    it = iter(SCRIPT)
    real_auc = module_mod.metrics.auc
    calls = {"n": 0}

    def scripted_auc(y, s, task):  # validation AUC follows SCRIPT during training
        calls["n"] += 1
        return next(it, real_auc(y, s, task))

    monkeypatch.setattr(module_mod.metrics, "auc", scripted_auc)
    snaps = Snapshots()
    # class_weights pinned: with auto the saved classifier bias may carry the logit adjustment (training/choices.py)
    res = medtrain.train(fast_config(tiny_npz, tmp_path / "r", epochs=len(SCRIPT), early_stop="val_auc", patience=3,
                                     monitor="val_auc", class_weights="true"), verbose=False, callbacks=[snaps])
    assert res["best_epoch"] == 2
    assert res["stop_epoch"] == 2 + 3 and res["early_stopped"] is True
    assert len(res["history"]) == 6 and [round(h["val_auc"], 2) for h in res["history"]] == SCRIPT[:6]
    saved = medtrain.models.weights.load_state(tmp_path / "r" / "model.safetensors")
    for k, v in snaps.states[2].items():  # the written weights are epoch 2's, not the last epoch's
        assert torch.equal(saved[k], v), k
    assert any(not torch.equal(snaps.states[5][k], v) for k, v in snaps.states[2].items())


def test_warmup_delays_early_stopping(tiny_npz, tmp_path, monkeypatch):
    it = iter([0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    monkeypatch.setattr(module_mod.metrics, "auc", lambda y, s, t: next(it, 0.5))
    res = medtrain.train(fast_config(tiny_npz, tmp_path / "r", epochs=7, early_stop="val_auc", patience=1,
                                     early_stop_warmup=4), verbose=False)
    # epochs 0-3 are ignored; the first counted epoch (4) is the best seen, patience 1 stops one later
    assert res["stop_epoch"] == 5
