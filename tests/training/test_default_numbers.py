"""lr: auto and batch_size: auto — the numbers validated for each recipe, recorded as numbers in the run."""
import json

import lightning.pytorch as pl
import yaml

import medtrain
from medtrain.api import train_or_reuse
from medtrain.config import resolve
from medtrain.training.build import (DEFAULT_2D_BATCH, DEFAULT_2D_LR, DEFAULT_BATCH, DEFAULT_LR,
                                     default_batch_size, default_lr)
from conftest import fast_config, make_npz


def test_auto_lr_is_the_2d_recipes_for_its_network_from_scratch_only():
    assert default_lr(resolve({}), 2) == DEFAULT_2D_LR == 1e-2
    assert default_lr(resolve({"model": "resnet18_28_half"}), 2) == DEFAULT_2D_LR
    assert default_lr(resolve({}), 3) == DEFAULT_LR == 1e-3  # the 3D recipe
    assert default_lr(resolve({"model": "efficientnet_b0"}), 2) == DEFAULT_LR  # not validated at 1e-2
    assert default_lr(resolve({"pretrained": "timm:resnet18", "transfer": "finetune"}), 2) == DEFAULT_LR


def test_auto_batch_size_is_the_2d_recipes_for_its_network_from_scratch_only():
    assert default_batch_size(resolve({}), 2) == DEFAULT_2D_BATCH == 64
    assert default_batch_size(resolve({}), 3) == DEFAULT_BATCH == 128  # the 3D recipe
    assert default_batch_size(resolve({"model": "efficientnet_b0"}), 2) == DEFAULT_BATCH
    assert default_batch_size(resolve({"pretrained": "timm:resnet18", "transfer": "finetune"}), 2) == DEFAULT_BATCH


class _BatchSizes(pl.Callback):
    def __init__(self):
        self.sizes = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.sizes.append(len(batch[0]))


def test_the_run_trains_at_and_records_the_resolved_numbers_and_is_reused_as_auto(tmp_path):
    data = make_npz(tmp_path / "d.npz", sizes=(150, 32, 32))
    cfg = fast_config(data, tmp_path / "run", model="auto", epochs=1, lr=None, batch_size=None)
    seen = _BatchSizes()
    m = medtrain.train(cfg, verbose=False, callbacks=[seen])
    assert [h["lr"] for h in m["history"]] == [DEFAULT_2D_LR]  # schedule none: the rate every step used
    assert seen.sizes == [64, 64]  # 150 training images in batches of 64 (the short last one dropped)
    saved_cfg = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert (saved_cfg["lr"], saved_cfg["batch_size"]) == (DEFAULT_2D_LR, DEFAULT_2D_BATCH)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert train_or_reuse(cfg) == saved  # auto matches the run's recorded 0.01 and 64: reused, not refused
    explicit = medtrain.train(fast_config(data, tmp_path / "explicit", model="auto", epochs=1, lr=3e-3),
                              verbose=False)
    assert [h["lr"] for h in explicit["history"]] == [3e-3]


def test_auto_is_spelled_auto_on_the_command_line_and_in_yaml():
    assert resolve({"lr": "auto"}).lr is None
    assert resolve({"lr": "AUTO"}).lr is None
    assert resolve({"lr": "3e-3"}).lr == 3e-3
    assert resolve({"batch_size": "auto"}).batch_size is None
    assert resolve({"batch_size": "32"}).batch_size == 32
