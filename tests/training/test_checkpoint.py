"""checkpoint: which epoch's weights a run keeps — the best by the monitored metric, or the last; auto picks
the last only for the recipe it was validated for (the default 2D network to the end of an annealed schedule)."""
import copy
import json

import lightning.pytorch as pl
import pytest
import torch

import medtrain
from medtrain.config import resolve
from medtrain.models.weights import load_state
from medtrain.training import module as module_mod
from medtrain.training.build import default_checkpoint, resolve_auto
from conftest import fast_config

SCRIPT = [0.60, 0.90, 0.70, 0.75, 0.72]  # validation AUC per epoch: the best is epoch 1, the last epoch 4


class Snapshots(pl.Callback):
    def __init__(self):
        self.states = {}

    def on_validation_end(self, trainer, pl_module):
        self.states[trainer.current_epoch] = copy.deepcopy(pl_module.model.state_dict())


def _scripted(monkeypatch):
    it = iter(SCRIPT)
    real_auc = module_mod.metrics.auc
    monkeypatch.setattr(module_mod.metrics, "auc", lambda y, s, task: next(it, real_auc(y, s, task)))


@pytest.mark.parametrize("rule, kept", [("last", 4), ("best", 1)])
def test_the_run_keeps_and_saves_the_weights_of_the_epoch_its_rule_names(tiny_npz, tmp_path, monkeypatch, rule,
                                                                         kept):
    _scripted(monkeypatch)
    snaps = Snapshots()
    out = tmp_path / rule
    # class_weights pinned: with auto the saved classifier bias may carry the logit adjustment (training/choices.py)
    m = medtrain.train(fast_config(tiny_npz, out, epochs=len(SCRIPT), checkpoint=rule, class_weights="true"),
                       verbose=False, callbacks=[snaps])
    assert m["best_epoch"] == kept and m["stop_epoch"] == 4 and m["checkpoint"] == rule
    saved = load_state(out / "model.safetensors")
    for k, v in snaps.states[kept].items():
        assert torch.equal(saved[k], v), k
    other = 1 if kept == 4 else 4
    assert any(not torch.equal(snaps.states[other][k], v) for k, v in snaps.states[kept].items())
    assert json.loads((out / "metrics.json").read_text())["checkpoint"] == rule


def test_auto_keeps_the_last_epoch_for_the_default_2d_recipe_only():
    assert default_checkpoint(resolve({}), 2) == "last"  # resnet18_28_half from scratch, one-cycle
    assert default_checkpoint(resolve({"schedule": "cosine"}), 2) == "last"
    assert default_checkpoint(resolve({"schedule": "none"}), 2) == "best"  # a constant rate: no settled end
    assert default_checkpoint(resolve({"early_stop": "val_auc"}), 2) == "best"  # restores the best weights
    assert default_checkpoint(resolve({}), 3) == "best"  # volumes: not measured
    assert default_checkpoint(resolve({"model": "efficientnet_b0"}), 2) == "best"
    assert default_checkpoint(resolve({"pretrained": "timm:resnet18", "transfer": "finetune"}), 2) == "best"
    assert resolve_auto(resolve({}), 2).checkpoint == "last"
    assert resolve_auto(resolve({"checkpoint": "best"}), 2).checkpoint == "best"  # pinned

