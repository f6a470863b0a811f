"""A test-time augmentation the user pins that flips (``--tta hflip``) keeps flips on with ``flip: auto``, without the
two pilot runs (they had run, and where they chose flips off the network trained without flips was scored on
flipped test images, a combination ``train`` refuses when typed); the run's choices record says why. With labels
that name a side it is refused in one line, exit 2, nothing written (it had trained flips off and scored the
left/right task on flipped images at chance, exit 0). So is an augmentation without a flip op (``--augment none``):
it had trained a network that never saw a flipped image, scored it on flipped test images and recorded flips chosen
on ("kept for --tta hflip ...; no flip in the augmentation: test-time flips only"); ``--flip true`` still asks for
test-time flips only."""
from __future__ import annotations

import json

import pytest
from PIL import Image

import medtrain
import medtrain.api as api
from conftest import fast_config, run_cli
from medtrain.config import Config
from medtrain.data import load_splits
from medtrain.errors import MedtrainError
from medtrain.training import choices
from test_choices import side_images


def _no_pilot(*a, **k):
    pytest.fail("a flip pilot was trained")


@pytest.mark.parametrize("tta, augment", [("hflip", ("flip", "shift")), ("flip-shift", ("flip", "vflip", "shift"))])
def test_a_pinned_flipping_tta_keeps_flips_on_without_pilots(tiny_npz, tmp_path, tta, augment):
    cfg = Config(data=str(tiny_npz), model="resnet10_28_half", tta=tta, flip="auto", augment=augment)
    made = choices.decide_flip(cfg, load_splits(cfg), tmp_path / "pilots", _no_pilot, verbose=True)
    assert made == {"chosen": True, "how": f"kept for --tta {tta}, which flips the test images (no pilot runs)"}
    assert choices.tta_keeps_flips(cfg, load_splits(cfg).label_names) == made
    assert choices.effective_config(cfg, made).augment == cfg.augment  # trained with its flips


@pytest.mark.parametrize("over", [{"tta": "auto"}, {"tta": "shift"}, {"tta": "hflip", "flip": "false"},
                                  {"tta": "hflip", "flip": "true"}])
def test_the_rule_applies_to_flip_auto_with_a_flipping_tta_only(over):
    assert choices.tta_keeps_flips(Config(model="resnet10_28_half", **over), {"0": "left", "1": "right"}) is None


def test_train_with_tta_hflip_and_flip_auto_runs_no_pilot_and_trains_with_flips(tiny_npz, tmp_path, monkeypatch):
    trained = []

    def fit(cfg, splits, run_dir, **kw):
        trained.append((run_dir, cfg.augment))
        return api_fit(cfg, splits, run_dir, **kw)

    api_fit = api.fit
    monkeypatch.setattr(api, "fit", fit)
    run = tmp_path / "run"
    m = medtrain.train(fast_config(tiny_npz, run, epochs=1, flip="auto", tta="hflip", augment="flip", bootstrap=0),
                       verbose=False)
    flip = m["choices"]["flip"]
    assert flip == {"chosen": True, "how": "kept for --tta hflip, which flips the test images (no pilot runs)"}
    assert m["choices"]["tta"]["chosen"] == "hflip"
    assert json.loads((run / "choices.json").read_text())["flip"] == flip  # what a resumed run trains by
    assert trained == [(run, ("flip",))]  # the run itself, with its flip, and no pilot


def test_lateral_labels_with_a_flipping_tta_are_refused_in_one_line(tmp_path, capsys):
    images, labels = side_images(80, seed=3)
    for i, (img, y) in enumerate(zip(images, labels[:, 0])):
        d = tmp_path / "data" / ("left" if y == 0 else "right")
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(d / f"{i}.png")
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--data", tmp_path / "data", "--model", "resnet10_28_half", "--epochs", 1,
                           "--accelerator", "cpu", "--no-progress", "--tta", "hflip", "--out", out)
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--tta hflip" in lines[0] and "name a side (left, right)" in lines[0], err
    assert not out.exists()


def no_flip_refusal(tta: str, augment: str) -> str:
    ops = "flip" if tta.startswith("hflip") else "flip and vflip"  # the axes the TTA flips (left-right, up-down)
    return (f"--tta {tta} flips the test images, but --augment {augment} has no flip: the network would be scored on "
            f"flipped images it never saw; add {ops} to --augment, give --tta none or shift, or --flip true to flip the "
            "test images anyway")


@pytest.mark.parametrize("augment", ["none", "shift"])
def test_train_refuses_a_flipping_tta_with_no_flip_in_the_augmentation(tiny_npz, tmp_path, capsys, monkeypatch,
                                                                        augment):
    monkeypatch.setattr(api, "fit", lambda *a, **k: pytest.fail("a pilot or the run trained"))
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--data", tiny_npz, "--model", "resnet10_28_half", "--epochs", 1,
                           "--accelerator", "cpu", "--no-progress", "--tta", "hflip", "--augment", augment,
                           "--out", out)
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [f"medtrain: error: {no_flip_refusal('hflip', augment)}"], err
    assert not out.exists()


@pytest.mark.parametrize("tta", ["hflip", "flip-shift"])
def test_the_rule_refuses_no_flip_in_the_augmentation_for_every_caller(tiny_npz, tmp_path, tta):
    cfg = Config(data=str(tiny_npz), model="resnet10_28_half", tta=tta, flip="auto", augment=("shift", "cutmix"))
    names = load_splits(cfg).label_names
    with pytest.raises(MedtrainError) as rule:
        choices.tta_keeps_flips(cfg, names)
    with pytest.raises(MedtrainError) as train:
        choices.decide_flip(cfg, load_splits(cfg), tmp_path / "pilots", _no_pilot)
    assert str(rule.value) == str(train.value) == no_flip_refusal(tta, "shift,cutmix")
    # the ways out the line names: the flips in the augmentation, a TTA that does not flip, --flip true (test-time
    # flips only, as recorded); a linear probe trains no augmentation and is left to its own decision
    flips = Config(tta=tta, flip="auto", augment=("flip", "vflip", "shift"))
    assert choices.tta_keeps_flips(flips, names)["chosen"] is True
    assert choices.tta_keeps_flips(Config(tta="shift", flip="auto", augment=("none",)), names) is None
    pinned = Config(tta=tta, flip="true", augment=("none",))
    assert choices.tta_keeps_flips(pinned, names) is None
    assert choices.decide_flip(pinned, None, None, None)["how"] == \
        "pinned (--flip), but no flip in the augmentation: test-time flips only"
    probe = Config(tta=tta, flip="auto", augment=("none",), transfer="linear-probe")
    assert choices.tta_keeps_flips(probe, names) is None


def _no_data(*a, **k):
    pytest.fail("the data were read")


def test_train_from_a_config_file_refuses_it_before_reading_the_data(tiny_npz, tmp_path, capsys, monkeypatch):
    """A config file's settings are not typed: the rule had been asked by the flip decision, after the data were
    loaded and the run's first line ('medtrain: tiny (binary-class, ...) -> ..., run RUN') printed on stdout."""
    monkeypatch.setattr(api, "load_splits", _no_data)
    config, out = tmp_path / "c.yaml", tmp_path / "run"
    config.write_text("tta: hflip\naugment: [none]\n")
    code, stdout, err = run_cli(capsys, "train", "--config", config, "--data", tiny_npz, "--model", "resnet10_28_half",
                                "--epochs", 1, "--accelerator", "cpu", "--out", out)
    assert (code, stdout, err.splitlines()) == (2, "", [f"medtrain: error: {no_flip_refusal('hflip', 'none')}"])
    assert not out.exists()
    # a Config (a notebook's, whose settings are not typed either) alike, nothing written
    with pytest.raises(MedtrainError, match="^--tta hflip flips the test images, but --augment shift has no flip"):
        medtrain.train(Config(data=str(tiny_npz), model="resnet10_28_half", tta="hflip", augment=("shift",),
                              out=str(out), accelerator="cpu"), verbose=False)
    assert not out.exists() and capsys.readouterr().out == ""
