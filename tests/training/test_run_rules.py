"""Rules of a run a user relies on: what --resume may change, when a directory is reused, what MC
dropout needs, and that a 2D source reaches a 3D model. Each was a defect before it had a test."""
import json

import numpy as np
import pytest
import torch

import medtrain
from medtrain import config as config_mod
from medtrain.api import train_or_reuse
from medtrain.cli import main
from medtrain.errors import MedtrainError
from conftest import fast_config


#: MC dropout passes of the shared run: any T > 1 samples (4 had made each MC x TTA scoring of a split twice as dear)
PASSES = 2


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished 2-epoch run on the tiny learnable set, shared by the tests below: with dropout, MC dropout and
    flip TTA (test_mc_dropout_and_tta_combine_and_eval_reproduces_them had trained such a run of its own beside
    this one), the class-weight rule pinned (its choice, scored as the run predicts (tests/training/test_choices.py),
    had taken three more MC x TTA passes over validation). Returns (root, config, metrics, the TTA modes scored)."""
    from conftest import make_images
    from medtrain.evaluation import evaluate as ev

    root = tmp_path_factory.mktemp("rules")
    arrays = {}
    for split, n, seed in (("train", 96, 0), ("val", 32, 1), ("test", 32, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, seed=seed)
    np.savez(root / "tiny.npz", **arrays)
    cfg = fast_config(root / "tiny.npz", root / "run", dropout=0.5, mc_dropout=PASSES, tta="flip", bootstrap=0,
                      class_weights="true")
    views = []
    real = ev.tta_predict
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev, "tta_predict", lambda *a, **k: views.append(k["mode"]) or real(*a, **k))
        m = medtrain.train(cfg, verbose=False)
    return root, cfg, m, views


def _cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_resume_with_a_changed_setting_is_refused_naming_the_flag(finished, capsys):
    root, *_ = finished
    code, _, err = _cli(capsys, "train", "--resume", str(root / "run"), "--epochs", "99")
    assert code == 2 and "--epochs 99" in err and "2" in err and err.count("\n") == 1


def test_resume_repeating_the_run_settings_or_changing_progress_is_accepted(finished, capsys):
    root, *_ = finished
    code, out, _ = _cli(capsys, "train", "--resume", str(root / "run"), "--epochs", "2", "--no-progress")
    assert code == 0 and "already finished" in out


def test_train_or_reuse_reads_a_finished_run_and_refuses_other_settings(finished):
    root, cfg, *_ = finished
    again = train_or_reuse(cfg)
    assert again == json.loads((root / "run" / "metrics.json").read_text())
    with pytest.raises(MedtrainError, match="lr: 0.001, now 0.01"):
        train_or_reuse({**cfg, "lr": 0.01})


def test_mc_dropout_without_dropout_is_refused_before_training(finished, tmp_path, capsys):
    root, *_ = finished
    code, _, err = _cli(capsys, "train", "--data", str(root / "tiny.npz"), "--mc-dropout", "5",
                        "--out", str(tmp_path / "x"))
    assert code == 2 and "--dropout" in err and not (tmp_path / "x").exists()


def test_mc_dropout_and_tta_combine_and_eval_reproduces_them(finished):
    root, _, m, views = finished  # MC dropout and flip TTA
    assert m["test"]["mc_dropout"]["passes"] == PASSES and "flip" in views  # TTA was not dropped
    assert m["test"]["auc"] > 0.9  # the bright-square task is learned
    e = medtrain.evaluate(root / "run", verbose=False)  # seeded dropout masks: the same numbers
    assert e["auc"] == pytest.approx(m["test"]["auc"], abs=1e-12) and e["acc"] == m["test"]["acc"]


def test_help_shows_real_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "MISSING" not in out and "_MISSING_TYPE" not in out


def test_2d_source_weights_inflate_into_a_3d_model_with_equal_logits(tmp_path):
    """A 2D network's weights fine-tuned into its 3D twin: on a depth-constant volume the 3D model
    answers what the 2D model answers on the image (I3D inflation of the loaded kernels). The training
    model pads depth with zeros, so the check loads its weights into the replicate-padded twin, where a
    depth-constant volume stays constant at the borders too."""
    from medtrain.data.base import Split, Splits
    from medtrain.models import create_model
    from medtrain.models.weights import save_weights
    from medtrain.training.build import build_model

    torch.manual_seed(0)
    a = create_model("resnet10_28_half", in_chans=1, num_classes=2, input_size=16).eval()
    save_weights(a, tmp_path / "a.safetensors", {"model": "resnet10_28_half", "in_chans": 1, "num_classes": 2})
    vols = torch.zeros(4, 1, 8, 16, 16, dtype=torch.uint8)
    split = Split(vols, torch.zeros(4, dtype=torch.long))
    splits = Splits("vols", "binary-class", {"0": "a", "1": "b"}, split, split, split)
    cfg = config_mod.resolve({"data": "x.npz", "model": "resnet10_28_half", "pretrained": str(tmp_path / "a.safetensors"),
                              "transfer": "finetune"})
    b, plan = build_model(cfg, splits)
    assert plan.inflated_2d > 0 and any(isinstance(m, torch.nn.Conv3d) for m in b.modules())
    from medtrain.models.inflate import inflate_model

    twin = inflate_model(create_model("resnet10_28_half", in_chans=1, num_classes=2, input_size=16),
                         padding_mode="replicate")
    twin.load_state_dict(b.state_dict())
    b = twin.eval()
    img = torch.randn(2, 1, 16, 16)
    vol = img.unsqueeze(2).repeat(1, 1, 8, 1, 1)
    with torch.no_grad():
        feats_a = a.forward_head(a.forward_features(img), pre_logits=True)
        feats_b = b.forward_head(b.forward_features(vol), pre_logits=True)
    torch.testing.assert_close(feats_b, feats_a, atol=1e-4, rtol=1e-4)


def test_a_pinned_shift_tta_is_applied_recorded_and_reproduced_by_eval(finished, tmp_path, monkeypatch):
    root, *_ = finished
    from medtrain.evaluation import evaluate as ev

    views = []
    real = ev.tta_predict
    monkeypatch.setattr(ev, "tta_predict", lambda *a, **k: views.append(k["mode"]) or real(*a, **k))
    m = medtrain.train(fast_config(root / "tiny.npz", tmp_path / "sh", tta="hflip-shift", bootstrap=0,
                                   class_weights="true"), verbose=False)  # no class-weight choice to score
    assert m["choices"]["tta"]["chosen"] == "hflip-shift" and views.count("hflip-shift") >= 2  # val and test
    assert m["test"]["auc"] > 0.9
    e = medtrain.evaluate(tmp_path / "sh", verbose=False)
    assert e["auc"] == pytest.approx(m["test"]["auc"], abs=1e-12) and e["acc"] == m["test"]["acc"]


@pytest.mark.parametrize("params", ["cutout_p=abc", "erasing_scale=[nan,0.3]", "shift_frac=-1"])
def test_a_bad_augment_param_is_one_line_and_leaves_nothing(finished, tmp_path, capsys, params):
    # it had been a traceback in the first epoch, leaving a run folder that refused the corrected command
    root, *_ = finished
    code, _, err = _cli(capsys, "train", "--data", str(root / "tiny.npz"), "--augment", "flip,shift,cutout,erasing",
                        "--augment-params", params, "--epochs", "1", "--out", str(tmp_path / "x"))
    assert code == 2 and err.count("\n") == 1 and params.split("=")[0] in err
    assert not (tmp_path / "x").exists()


def test_an_op_that_cannot_apply_to_the_images_is_refused_before_anything_is_written(finished, tmp_path, capsys):
    root, *_ = finished  # grey images: stain jitter needs RGB
    code, _, err = _cli(capsys, "train", "--data", str(root / "tiny.npz"), "--augment", "hed", "--epochs", "1",
                        "--out", str(tmp_path / "x"))
    assert code == 2 and "RGB" in err and not (tmp_path / "x").exists()


def test_an_augmentation_setting_no_chosen_op_reads_is_refused(finished, tmp_path, capsys):
    # --aa-policy svhn without autoaugment had been recorded in config.yaml and the report, and not used
    root, *_ = finished
    code, _, err = _cli(capsys, "train", "--data", str(root / "tiny.npz"), "--aa-policy", "svhn", "--epochs", "1",
                        "--out", str(tmp_path / "x"))
    assert code == 2 and "--aa-policy svhn: no augmentation of --augment flip,shift reads it" in err
    assert not (tmp_path / "x").exists()


def test_a_flip_setting_does_not_fail_a_run_whose_flips_were_turned_off(finished, tmp_path):
    # flips decided off: the flip ops leave the augmentation, and their flip_p with them (it had been refused
    # as read by no op, after the pilots)
    root, *_ = finished
    m = medtrain.train(fast_config(root / "tiny.npz", tmp_path / "r", flip="false", augment_params={"flip_p": 0.3},
                                   epochs=1, bootstrap=0), verbose=False)
    assert m["choices"]["flip"]["chosen"] is False


def test_model_auto_with_a_run_as_source_is_that_runs_network(finished, tmp_path):
    # auto had picked the default network, and the README's `--pretrained runs/A --transfer scale` with a
    # resnet18_28 source was refused: "use --model resnet18_28 (now resnet18_28_half)"
    root, cfg, *_ = finished
    m = medtrain.train({**fast_config(root / "tiny.npz", tmp_path / "b", epochs=1, bootstrap=0), "model": "auto",
                        "pretrained": str(root / "run"), "transfer": "scale"}, verbose=False)
    assert cfg["model"] != "resnet18_28_half" and m["model"] == cfg["model"]
