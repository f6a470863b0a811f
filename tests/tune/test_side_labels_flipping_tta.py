"""A pinned TTA that flips the test images with labels that name a side is refused by ``medtrain tune`` and
``medtrain augment search`` (the grid and the AutoAugment-style search) as ``train`` refuses it: one line, exit 2,
no study or work folder left. The refusal lived only in ``train``'s flip decision; the searches asked the rule
that keeps flips on for such a TTA before reading any data, and pinned ``flip: true`` for every trial and in
``best_config.yaml`` of a left/right task scored on flipped (label-swapped) test images."""
from __future__ import annotations

import pytest

import medtrain.api
import medtrain.tune.flips
from conftest import make_images, png_csv, run_cli
from medtrain.config import Config
from medtrain.training import choices

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(params=["folder", "csv"])
def side_data(request, tmp_path):
    """A tiny dataset whose two classes are ``left`` and ``right``: class folders, or a CSV of PNGs."""
    images, labels = make_images(60, seed=3)
    root = tmp_path / "data"
    if request.param == "folder":
        return png_csv(root, images, labels, classes=["left", "right"], path="{label}/{i}.png", name=None)
    return png_csv(root, images, labels, classes=["left", "right"])


def nothing_trains(monkeypatch):
    monkeypatch.setattr(medtrain.api, "train", lambda *a, **k: pytest.fail("a trial or candidate trained"))
    monkeypatch.setattr(medtrain.tune.flips, "fit", lambda *a, **k: pytest.fail("a flip pilot trained"))


def one_line_refusal(code: int, err: str, tta: str = "hflip") -> None:
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"--tta {tta} flips the test images" in lines[0], err
    assert "name a side (left, right)" in lines[0], err


@pytest.mark.parametrize("tta", ["hflip", "flip-shift"])
def test_tune_refuses_a_flipping_tta_on_labels_that_name_a_side(side_data, tmp_path, capsys, monkeypatch, tta):
    nothing_trains(monkeypatch)
    out = tmp_path / "tune"
    code, _, err = run_cli(capsys, "tune", "--data", side_data, "--model", "resnet10_28_half", "--epochs", 1,
                           "--accelerator", "cpu", "--tta", tta, "--augment", "flip,vflip,shift", "--trials", 2,
                           "--out", out)  # (flip-shift flips vertically too: trained so, or refused for that first)
    one_line_refusal(code, err, tta)
    assert not out.exists()  # no study.db, no trials folder, no best_config.yaml pinning flip: true


@pytest.mark.parametrize("method, flags", [("randaugment", ["--n-values", "1", "--m-values", "5"]),
                                           ("autoaugment", ["--trials", "2"])])
def test_augment_search_refuses_a_flipping_tta_on_labels_that_name_a_side(side_data, tmp_path, capsys, monkeypatch,
                                                                          method, flags):
    nothing_trains(monkeypatch)
    work, config = tmp_path / "work", tmp_path / "c.yaml"
    config.write_text("tta: hflip\n")  # (augment search takes the TTA from a config file)
    code, _, err = run_cli(capsys, "augment", "search", "--config", config, "--data", side_data, "--model",
                           "resnet10_28_half", "--accelerator", "cpu", "--budget-epochs", 1, "--method", method,
                           *flags, "--work-dir", work, "--out", tmp_path / "p.yaml")
    one_line_refusal(code, err)
    assert not work.exists() and not (tmp_path / "p.yaml").exists()


def test_the_rule_reads_the_labels_and_train_says_it_in_the_same_words(tmp_path):
    cfg = Config(model="resnet10_28_half", tta="hflip", flip="auto")
    with pytest.raises(Exception) as rule:
        choices.tta_keeps_flips(cfg, {"0": "kidney-left", "1": "kidney-right"})
    splits = type("S", (), {"label_names": {"0": "kidney-left", "1": "kidney-right"}, "spatial_shape": (16, 16)})()
    with pytest.raises(Exception) as train:
        choices.decide_flip(cfg, splits, tmp_path, lambda *a, **k: pytest.fail("a pilot trained"))
    assert str(rule.value) == str(train.value) and "name a side (kidney-left, kidney-right)" in str(rule.value)
    # labels without a side: flips kept on, without pilots; a linear probe, which trains no augmentation, is
    # left to its own decision, as train's
    assert choices.tta_keeps_flips(cfg, {"0": "benign", "1": "malignant"})["chosen"] is True
    probe = Config(model="resnet10_28_half", tta="hflip", flip="auto", transfer="linear-probe")
    assert choices.tta_keeps_flips(probe, {"0": "left", "1": "right"}) is None
