"""``flip: auto`` with a test-time augmentation that flips (``--tta hflip``) and no flip op in the augmentation is
refused with the other settings typed for a new run (:func:`medtrain.config.checks.check_typed_for_a_new_run`), so a
search that varies ``augment`` or ``tta`` refuses it before anything trains: each cell or trial decides its own flips,
and the cell that drew ``augment: none`` had been refused inside ``train``, stopping ``compare`` partway (the cells
before it trained and left). One rule, :func:`medtrain.config.flips.check_tta_flips_trained`, which ``train``'s flip
decision asks too (a run from a config file, whose settings are not typed); a linear probe trains no augmentation
and is not refused."""
from __future__ import annotations

import pytest

import medtrain.compare as compare_mod
from conftest import make_npz, run_cli
from medtrain.config import Config
from medtrain.config.checks import check_typed_for_a_new_run
from medtrain.errors import MedtrainError


def no_flip_refusal(tta: str, augment: str) -> str:
    """train's line (f134d39)."""
    return (f"--tta {tta} flips the test images, but --augment {augment} has no flip: the network would be scored on "
            "flipped images it never saw; add flip to --augment, give --tta none or shift, or --flip true to flip the "
            "test images anyway")


@pytest.mark.parametrize("key", ["flip", "tta", "augment", "augment_params", "transfer"])
def test_the_rule_is_a_typed_check_of_its_five_keys(key):
    cfg = Config(tta="hflip", flip="auto", augment=("shift",))
    with pytest.raises(MedtrainError) as refused:
        check_typed_for_a_new_run(cfg, {key})
    assert str(refused.value) == no_flip_refusal("hflip", "shift")
    check_typed_for_a_new_run(cfg, {"lr"})  # a setting the rule does not read: left to train's own decision


@pytest.mark.parametrize("over", [{"augment": ("flip", "shift")}, {"augment": ("3d_flip",)}, {"tta": "shift"},
                                  {"tta": "auto"}, {"flip": "true"}, {"transfer": "linear-probe", "pretrained": "x"}])
def test_what_the_rule_lets_through(over):
    # a flip in the augmentation along the axis hflip flips (vflip flips the other: tests/config/test_flip_axes.py),
    # a TTA that does not flip, --flip true (test-time flips only), a linear probe (it trains no augmentation)
    check_typed_for_a_new_run(Config(**{"tta": "hflip", "flip": "auto", "augment": ("none",), **over}), None)


def test_compare_varying_the_augmentation_refuses_before_any_cell_trains(tmp_path, capsys, monkeypatch):
    handed = []
    real = compare_mod.train_or_reuse
    monkeypatch.setattr(compare_mod, "train_or_reuse", lambda *a, **k: handed.append(a) or real(*a, **k))
    data = make_npz(tmp_path / "tiny.npz", sizes=(48, 16, 16))
    out = tmp_path / "cmp"
    code, stdout, err = run_cli(capsys, "compare", "--data", data, "--model", "resnet10_28_half", "--epochs", 1,
                                "--batch-size", 16, "--accelerator", "cpu", "--no-progress", "--bootstrap", 0,
                                "--tta", "hflip", "--vary", "augment=flip,shift;none", "--out", out)
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [f"medtrain: error: {no_flip_refusal('hflip', 'none')}"], err
    assert handed == [] and not out.exists()  # no cell trained (the flip,shift cell, first, had), none left


def test_train_refuses_flip_ops_that_flip_p_0_keeps_from_flipping(tmp_path, capsys):
    # it had exited 0, scoring a network never trained on a flipped image on flipped test images
    data, out = make_npz(tmp_path / "tiny.npz", sizes=(48, 16, 16)), tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", "--data", data, "--model", "resnet10_28_half", "--epochs", 1,
                                "--batch-size", 16, "--accelerator", "cpu", "--no-progress", "--bootstrap", 0,
                                "--augment", "flip,shift", "--augment-params", "flip_p=0", "--tta", "hflip",
                                "--out", out)
    assert code == 2 and "Traceback" not in err and not out.exists()
    assert err.strip().splitlines() == [
        "medtrain: error: --tta hflip flips the test images, but --augment flip,shift flips nothing with flip_p 0: the "
        "network would be scored on flipped images it never saw; add flip_p above 0 to --augment-params, give --tta "
        "none or shift, or --flip true to flip the test images anyway"], err
