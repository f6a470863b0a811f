"""Ctrl-C inside ``medtrain.train`` stops a notebook's sweep: ``for lr in ...: try: train(...) except Exception:``
had caught the interrupt (a MedtrainError then) as one failed run and gone on to train the next setting."""
import pytest
import torch

import medtrain
from medtrain.api import train_or_reuse
from medtrain import config as config_mod
from medtrain.errors import TrainingInterrupted
from conftest import InterruptAt, fast_config


@pytest.mark.parametrize("caught", [Exception, medtrain.MedtrainError], ids=["Exception", "MedtrainError"])
def test_ctrl_c_in_train_stops_a_sweep_that_catches_failed_runs(tiny_npz, tmp_path, caught):
    tried, failed = [], []
    with pytest.raises(KeyboardInterrupt) as e:
        for lr in (0.01, 0.02, 0.03):
            tried.append(lr)
            try:
                medtrain.train(fast_config(tiny_npz, tmp_path / f"lr{lr}", epochs=3, bootstrap=0, lr=lr),
                               verbose=False, callbacks=[InterruptAt(1)])
            except caught as err:  # a run that failed: the sweep goes on to the next setting
                failed.append(err)
    assert tried == [0.01] and failed == []  # the loop stopped at the interrupt
    assert isinstance(e.value, TrainingInterrupted)
    assert "interrupted after epoch 1; continue with `medtrain train --resume" in str(e.value)
    assert not (tmp_path / "lr0.02").exists()
    # what finished is kept: the interrupted run continues from its last epoch
    assert torch.load(tmp_path / "lr0.01" / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0
    m = medtrain.train(fast_config(tiny_npz, tmp_path / "lr0.01", epochs=3, bootstrap=0, lr=0.01), verbose=False)
    assert len(m["history"]) == 3


def test_ctrl_c_in_a_reused_cell_stops_a_loop_over_cells(tiny_npz, tmp_path):
    """The commands that train several runs (compare, cross-validation, augment search) go through
    train_or_reuse, whose interrupt (reworded: 'the same command again') is a KeyboardInterrupt as well."""
    tried = []
    with pytest.raises(TrainingInterrupted, match="run the same command again to continue") as e:
        for seed in (0, 1):
            tried.append(seed)
            try:
                train_or_reuse(config_mod.resolve(fast_config(tiny_npz, tmp_path / f"s{seed}", epochs=3, bootstrap=0,
                                                              seed=seed)), callbacks=[InterruptAt(1)])
            except Exception:  # noqa: BLE001  (the sweep under test)
                pass
    assert tried == [0] and isinstance(e.value, KeyboardInterrupt)
    assert not isinstance(e.value, medtrain.MedtrainError)
