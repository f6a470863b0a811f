"""A linear probe refuses the training settings it never reads (they had been recorded and ignored), records a
pinned ``--class-weights`` as what happened, and ``--flip`` contradicting the augmentation or TTA is refused or
recorded as it is. Config resolution and the choice functions only: nothing trains."""
from __future__ import annotations

import pytest

from medtrain.config import Config, check_read, resolve
from medtrain.config.checks import PROBE_UNREAD
from medtrain.errors import MedtrainError
from medtrain.training.choices import decide_class_weights, decide_flip

PROBE = {"dataset": "breastmnist", "pretrained": "SRC", "transfer": "linear-probe"}

#: One non-default value of every setting a linear probe does not read (the flags of the report among them).
UNREAD = {"ema": 0.5, "dropout": 0.4, "augment": "mixup,flip", "label_smoothing": 0.2, "early_stop": "val_auc",
          "optimizer": "sgd", "lr": 0.5, "momentum": 0.5, "weight_decay": 0.1, "decay_norm_and_bias": True,
          "schedule": "cosine", "milestones": "0.3", "epochs": 5, "batch_size": 16, "checkpoint": "best",
          "patience": 3, "min_delta": 0.01, "early_stop_warmup": 2, "augment_params": {"flip_p": 0.3},
          "cutmix_alpha": 0.5, "mixup_alpha": 0.4, "erasing_p": 0.2, "aa_policy": "cifar10", "ra_n": 3, "ra_m": 5,
          "flip": "true", "class_weights": "true", "drop_path": 0.1, "drop_block": 0.1,
          "dropout_kind": "annealed", "head": "maxout:2",
          "anneal_epochs": 3}


def typed(**flags):
    """What ``medtrain train`` checks for flags typed on the command line."""
    check_read(resolve(PROBE, flags), flags)


def test_the_list_is_the_one_checked():
    assert set(UNREAD) == set(PROBE_UNREAD)


@pytest.mark.parametrize("key", sorted(UNREAD))
def test_each_unread_flag_is_refused_naming_it(key):
    with pytest.raises(MedtrainError, match=f"--{key.replace('_', '-')}.*linear probe.*recorded but not used"):
        typed(**{key: UNREAD[key]})


def test_class_weights_false_is_refused_too():
    with pytest.raises(MedtrainError, match="--class-weights"):
        typed(class_weights="false")


def test_several_unread_flags_are_named_in_one_line():
    with pytest.raises(MedtrainError) as e:
        typed(optimizer="sgd", lr=0.5)
    assert "--optimizer, --lr" in str(e.value) and "\n" not in str(e.value)


def test_defaults_and_the_settings_a_probe_reads_pass():
    typed()
    typed(**{k: getattr(Config, k, None) for k in ("ema", "dropout", "epochs", "flip", "class_weights")},
          augment="flip,shift")  # typed, but the defaults
    typed(probe_layer="layer3", probe_classifier="svm", monitor="val_acc", tta="hflip", seed=3, color_space="hsv")


def test_other_transfers_are_not_concerned():
    flags = {"transfer": "finetune", "ema": 0.5, "optimizer": "sgd", "class_weights": "true"}
    check_read(resolve(PROBE, flags), flags)


def test_a_saved_or_grid_config_stays_loadable():
    # a grid cell's or a saved run's settings (epochs, resolved lr) are not typed flags: resolve keeps accepting them
    resolve(PROBE, {"epochs": 2, "lr": 0.001, "batch_size": 128, "checkpoint": "best", "flip": "true"})


def test_milestones_keep_their_own_check():
    flags = {"milestones": "0.3"}
    with pytest.raises(MedtrainError, match="schedule onecycle does not read"):
        check_read(resolve({"dataset": "breastmnist"}, flags), flags)
    check_read(resolve({"dataset": "breastmnist"}, {"ema": 0.5}), {"ema": 0.5})


@pytest.mark.parametrize("pinned", ["true", "false"])
def test_a_probe_records_its_class_weights_as_applied(pinned):
    cfg = resolve(PROBE, {"class_weights": pinned})
    got = decide_class_weights(cfg, None, None, "none")  # the probe's branch reads neither module nor splits
    assert got["chosen"] == "plain" and "pinned" not in got["how"]
    assert "not trained with class weights" in got["how"] and f"--class-weights {pinned} not applied" in got["how"]


@pytest.mark.parametrize("tta", ["hflip", "flip", "hflip-shift", "flip-shift"])
def test_flip_false_with_a_flipped_tta_is_refused(tta):
    with pytest.raises(MedtrainError, match=f"flip false.*tta {tta}"):
        # checked where a new run is given them (check_read): a saved config.yaml of an older medtrain with both
        # stays usable by predict/eval/export/explain (tests/test_saved_configs_stay_usable.py)
        check_read(resolve({"dataset": "breastmnist"}, {"flip": "false", "tta": tta}), {"flip": "false", "tta": tta})


@pytest.mark.parametrize("tta", ["none", "shift", "auto"])
def test_flip_false_with_an_unflipped_tta_passes(tta):
    resolve({"dataset": "breastmnist", "flip": "false", "tta": tta})


def test_flip_true_without_a_flip_op_says_only_test_time_flips():
    cfg = resolve({"dataset": "breastmnist", "flip": "true", "augment": "none"})
    got = decide_flip(cfg, None, None, None)  # pinned: no pilot, no data read
    assert got["chosen"] is True and "no flip in the augmentation" in got["how"]
    with_op = decide_flip(resolve({"dataset": "breastmnist", "flip": "true"}), None, None, None)
    assert with_op == {"chosen": True, "how": "pinned (--flip)"}


def test_the_command_line_refuses_a_probe_flag_it_would_not_read(tmp_path, capsys):
    from conftest import make_npz, run_cli

    data = make_npz(tmp_path / "tiny.npz")
    code, _, err = run_cli(capsys, "train", "--data", data, "--pretrained", "timm:resnet18", "--transfer",
                           "linear-probe", "--ema", "0.5", "--out", tmp_path / "run")
    assert code == 2 and "ema" in err and "recorded but not used" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
