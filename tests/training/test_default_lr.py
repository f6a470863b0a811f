"""lr: auto — the rate validated for each recipe, recorded as a number in the run."""
import json

import yaml

import medtrain
from medtrain.api import train_or_reuse
from medtrain.config import resolve
from medtrain.training.build import DEFAULT_2D_LR, DEFAULT_LR, default_lr
from conftest import fast_config


def test_auto_lr_is_the_2d_recipes_for_its_network_from_scratch_only():
    assert default_lr(resolve({}), 2) == DEFAULT_2D_LR == 1e-2
    assert default_lr(resolve({"model": "resnet18_28_half"}), 2) == DEFAULT_2D_LR
    assert default_lr(resolve({}), 3) == DEFAULT_LR == 1e-3  # the 3D recipe
    assert default_lr(resolve({"model": "efficientnet_b0"}), 2) == DEFAULT_LR  # not validated at 1e-2
    assert default_lr(resolve({"pretrained": "timm:resnet18", "transfer": "finetune"}), 2) == DEFAULT_LR


def test_the_run_trains_at_and_records_the_resolved_rate_and_is_reused_as_auto(tiny_npz, tmp_path):
    cfg = fast_config(tiny_npz, tmp_path / "run", model="auto", epochs=1, lr=None)
    m = medtrain.train(cfg, verbose=False)
    assert [h["lr"] for h in m["history"]] == [DEFAULT_2D_LR]  # schedule none: the rate every step used
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["lr"] == DEFAULT_2D_LR
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert train_or_reuse(cfg) == saved  # lr auto matches the run's recorded 0.01: reused, not refused
    explicit = medtrain.train(fast_config(tiny_npz, tmp_path / "explicit", model="auto", epochs=1, lr=3e-3),
                              verbose=False)
    assert [h["lr"] for h in explicit["history"]] == [3e-3]


def test_auto_is_spelled_auto_on_the_command_line_and_in_yaml():
    assert resolve({"lr": "auto"}).lr is None
    assert resolve({"lr": "AUTO"}).lr is None
    assert resolve({"lr": "3e-3"}).lr == 3e-3
