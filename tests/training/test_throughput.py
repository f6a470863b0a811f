"""metrics.json's ``train_images_per_s``: the run's training images over its training-loop time."""
import time
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

import medtrain
from medtrain.errors import TrainingInterrupted
from conftest import InterruptAt, fast_config

EPOCHS, TRAIN_IMAGES, PAUSE_S = 2, 96, 0.05  # tiny_npz: 96 training images, 3 batches of 32


class SlowSteps(pl.Callback):
    """Each training step takes at least PAUSE_S more: training-loop time the figure must count."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        time.sleep(PAUSE_S)


class SlowValidation(pl.Callback):
    """Validation (one batch of 32) takes a second more: time the figure must not count."""

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        time.sleep(1.0)


class LastCheckpointAtFitEnd(pl.Callback):
    """``last.ckpt`` as training ends (the finished run removes its checkpoints)."""

    def on_fit_end(self, trainer, pl_module):
        last = Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"
        self.state = torch.load(last, weights_only=True)  # tensors and plain data only


def test_images_per_second_counts_every_epochs_training_images_over_training_time_across_a_resume(tiny_npz,
                                                                                                  tmp_path):
    slow = [SlowSteps(), SlowValidation()]
    with pytest.raises(TrainingInterrupted, match="--resume"):
        medtrain.train(fast_config(tiny_npz, tmp_path / "run", epochs=EPOCHS), verbose=False,
                       callbacks=slow + [InterruptAt(1)])
    last = LastCheckpointAtFitEnd()
    m = medtrain.train({"progress": False}, resume=tmp_path / "run", verbose=False, callbacks=slow + [last])
    images, seconds = last.state["medtrain_throughput"]
    assert images == EPOCHS * TRAIN_IMAGES  # the epochs before the interrupt too, the lost one not twice
    assert m["train_images_per_s"] == pytest.approx(images / seconds)
    # the steps' time, not validation's: an epoch's time (epoch_s) is its training then its validation (>= 1 s)
    assert EPOCHS * TRAIN_IMAGES // 32 * PAUSE_S <= seconds <= sum(h["epoch_s"] for h in m["history"]) - EPOCHS
