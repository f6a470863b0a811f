"""Early stopping decides at the end of validation, so callbacks that run after it there (the pruning callback of
a tuning trial, tune/pruning.py's ``last_epoch``) already see ``trainer.should_stop`` on the epoch training stops."""
import lightning.pytorch as pl

import medtrain
from medtrain.training import module as module_mod
from conftest import fast_config


class ShouldStopAtValidationEnd(pl.Callback):
    def __init__(self):
        self.seen = {}

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self.seen[trainer.current_epoch] = bool(trainer.should_stop)


def test_should_stop_is_set_when_later_callbacks_see_validation_end(tiny_npz, tmp_path, monkeypatch):
    it = iter([0.60, 0.80, 0.70, 0.90])  # best at epoch 1; patience 1 stops at epoch 2 of 4
    monkeypatch.setattr(module_mod.metrics, "auc", lambda y, s, t: next(it, 0.5))
    seen = ShouldStopAtValidationEnd()
    res = medtrain.train(fast_config(tiny_npz, tmp_path / "r", epochs=4, early_stop="val_auc", patience=1,
                                     monitor="val_auc"), verbose=False, callbacks=[seen])
    assert res["early_stopped"] is True and res["stop_epoch"] == 2
    assert seen.seen == {0: False, 1: False, 2: True}
