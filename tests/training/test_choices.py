"""The default recipe's risky choices (flips, TTA, the class-balanced loss) are made on validation, recorded,
pinnable, and reproduced by ``medtrain eval``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import medtrain
from conftest import fast_config, make_npz
from medtrain.data import Split, Splits
from medtrain.training import choices
from medtrain.training.choices import lateral_labels, logit_adjustment, pilot_splits


def side_images(n: int, seed: int, size: int = 16):
    """Label 0: a bright bar at the left edge; label 1: at the right edge. A flip swaps the labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.integers(0, 60, (n, size, size)).astype(np.uint8)
    for i, y in enumerate(labels):
        r = rng.integers(0, size - 6)
        c = 0 if y == 0 else size - 3
        images[i, r:r + 6, c:c + 3] = 240
    return images, labels.reshape(-1, 1).astype(np.uint8)


def side_npz(path: Path, sizes=(256, 64, 64)) -> Path:
    arrays = {}
    for split, n, seed in zip(("train", "val", "test"), sizes, (0, 1, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = side_images(n, seed)
    np.savez(path, **arrays)
    return path


#: 3 epochs learn the side (test accuracy 1.0 on seeds 0-4; 0.34-0.47 with flips left on). The pilots train a tenth
#: of the epochs, at least one: the same 1-epoch pilots that 10 epochs (7 more a run) had
SIDE = dict(epochs=3, lr=3e-3, batch_size=32, bootstrap=0, flip="auto", augment="flip")


def test_label_names_that_name_a_side_are_found():
    assert lateral_labels({"0": "kidney-left", "1": "Right lesion", "2": "liver"}) == ["kidney-left", "Right lesion"]
    assert lateral_labels({"0": "bright", "1": "upright", "2": "leftover", "3": "normal"}) == []


@pytest.fixture(scope="module")
def side_run(tmp_path_factory):
    """(run, metrics) of the side task under flip: auto, its pilots on a sample of 128 of the 256 training images
    (the split taken as "large"): one run for the two tests of the pilots' choice, which had each trained one
    (the pilots on the whole split, and on the sample). A split no larger than the cap is used whole:
    test_the_pilot_sample_keeps_each_class_share_and_is_the_same_for_a_seed, and the pilots of
    test_the_pilot_runs_are_announced_before_they_train train on all 96 images."""
    root = tmp_path_factory.mktemp("side")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(choices, "PILOT_MAX_IMAGES", 128)  # the side task's 256 training images are "large"
        m = medtrain.train(fast_config(side_npz(root / "side.npz"), root / "run", **SIDE), verbose=False)
    return root / "run", m


def test_pilots_on_validation_turn_flips_off_when_the_label_is_the_side(side_run):
    run, m = side_run
    flip = m["choices"]["flip"]
    assert flip["chosen"] is False and "pilot" in flip["how"]
    assert flip["val_auc"]["without"] > flip["val_auc"]["with"] + flip["margin"]
    assert m["choices"]["tta"] == {"chosen": "none", "how": "flips are off"}
    assert m["test"]["acc"] > 0.8, f"a left/right task must learn the side (chance 0.5): {m['test']['acc']}"
    assert not (run / "pilots").exists(), "pilot runs are removed once the choice is made"
    again = medtrain.evaluate(run, verbose=False)
    assert again["auc"] == pytest.approx(m["test"]["auc"], abs=1e-6)


def test_pilots_on_a_sample_of_a_large_training_split_still_find_the_side(side_run):
    _, m = side_run
    flip = m["choices"]["flip"]
    assert "128 of 256 training images" in flip["how"]
    assert flip["chosen"] is False and flip["val_auc"]["without"] > flip["val_auc"]["with"] + flip["margin"]
    assert m["test"]["acc"] > 0.8, "the run itself trains on every training image and learns the side"


def _splits(labels: np.ndarray) -> Splits:
    n = len(labels)
    images = torch.arange(n, dtype=torch.int64).remainder(256).to(torch.uint8).reshape(n, 1, 1, 1).expand(n, 1, 2, 2)
    train = Split(images.clone(), torch.from_numpy(labels), [f"img{i}.png" for i in range(n)])
    val = Split(images[:4].clone(), torch.from_numpy(labels[:4]))
    return Splits("toy", "binary", {"0": "a", "1": "b"}, train, val, val)


def test_the_pilot_sample_keeps_each_class_share_and_is_the_same_for_a_seed():
    labels = np.array([0] * 900 + [1] * 300)
    splits = _splits(labels)
    sample = pilot_splits(splits, 400, seed=3)
    kept = sample.train.labels.numpy()
    assert len(kept) == 400 and (kept == 1).sum() == 100, "3:1 classes stay 3:1"
    index = [int(s[3:-4]) for s in sample.train.sources]
    assert index == sorted(index) and len(set(index)) == 400, "distinct images, in their original order"
    assert sample.train.labels.tolist() == labels[index].tolist(), "each image keeps its own label and source"
    assert sample.val is splits.val, "validation, which scores the pilots, is kept whole"
    assert pilot_splits(splits, 400, seed=3).train.sources == sample.train.sources
    assert pilot_splits(splits, 400, seed=4).train.sources != sample.train.sources
    assert pilot_splits(splits, 1200, seed=3) is splits, "a split no larger than the cap is used as it is"


def test_labels_named_left_and_right_turn_flips_off_without_a_trial(tmp_path):
    images, labels = side_images(240, seed=3)
    for i, (img, y) in enumerate(zip(images, labels[:, 0])):
        d = tmp_path / "data" / ("left" if y == 0 else "right")
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(d / f"{i}.png")
    m = medtrain.train(fast_config(tmp_path / "data", tmp_path / "run", **SIDE), verbose=False)
    assert m["choices"]["flip"]["chosen"] is False
    assert "labels name a side" in m["choices"]["flip"]["how"] and "val_auc" not in m["choices"]["flip"]
    assert m["test"]["acc"] > 0.8


def test_pinned_choices_are_kept_and_recorded_as_pinned(tmp_path):
    m = medtrain.train(fast_config(side_npz(tmp_path / "side.npz", sizes=(96, 32, 32)), tmp_path / "run", flip="true",
                                   tta="hflip", class_weights="false", augment="flip", bootstrap=0), verbose=False)
    c = m["choices"]
    assert c["flip"] == {"chosen": True, "how": "pinned (--flip)"}
    assert c["tta"] == {"chosen": "hflip", "how": "pinned (--tta)"}
    assert c["class_weights"]["chosen"] == "plain"
    assert medtrain.evaluate(tmp_path / "run", verbose=False)["acc"] == pytest.approx(m["test"]["acc"], abs=1e-9)


@pytest.fixture(scope="module")
def imbalanced_auto(tmp_path_factory):
    """(data, run, metrics): a 1-epoch run that chose its TTA and class-weight rule (auto) on an imbalanced (about
    3:1, so the class-balanced loss and its logit adjustment differ) bright-square set of 96 / 48 / 48 images.
    Shared by the two tests of auto's choices (the first had trained a 2-epoch run on 128 / 48 / 64 of its own)."""
    root = tmp_path_factory.mktemp("imbalanced")
    data = make_npz(root / "d.npz", sizes=(96, 48, 48), noisy_test=4)
    arrays = dict(np.load(data))
    for split in ("train", "val", "test"):
        keep = (arrays[f"{split}_labels"][:, 0] == 0) | (np.arange(len(arrays[f"{split}_labels"])) % 3 == 0)
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = arrays[f"{split}_images"][keep], arrays[f"{split}_labels"][keep]
    np.savez(data, **arrays)
    m = medtrain.train(fast_config(data, root / "auto", epochs=1, lr=3e-3, bootstrap=0, class_weights="auto"),
                       verbose=False)
    return data, root / "auto", m


def test_tta_and_class_weights_are_chosen_by_their_validation_numbers_and_eval_reproduces_them(imbalanced_auto):
    _, run, m = imbalanced_auto
    tta, cw = m["choices"]["tta"], m["choices"]["class_weights"]
    assert tta["how"] == "validation"
    assert tta["chosen"] == ("hflip" if tta["val_auc"]["hflip"] > tta["val_auc"]["none"] else "none")
    assert cw["how"] == "validation accuracy"
    acc = cw["val_acc"]
    fixed = "prior-adjusted" if acc["prior-adjusted"] > acc["balanced"] else "balanced"
    fitted = cw["val_acc_crossfit"]["val-fitted"]
    assert cw["chosen"] == ("val-fitted" if fitted > acc[fixed] + cw["val_acc_crossfit"]["margin"] else fixed)
    # a binary task's AUC does not move with the adjustment (a monotone change of the score)
    assert cw["val_auc"]["prior-adjusted"] == pytest.approx(cw["val_auc"]["balanced"], abs=1e-9)
    assert m["val"]["acc"] == pytest.approx(cw["val_acc"][cw["chosen"]], abs=1e-9)
    again = medtrain.evaluate(run, verbose=False)  # the choices live in the saved weights
    assert again["acc"] == pytest.approx(m["test"]["acc"], abs=1e-9)
    assert again["auc"] == pytest.approx(m["test"]["auc"], abs=1e-9)


def test_a_rule_auto_chooses_can_be_pinned_and_trains_the_same_recipe(imbalanced_auto, tmp_path):
    """A run's chosen class-weight rule can be pinned by name (`--class-weights prior-adjusted|val-fitted`), so its
    recipe can be trained again without a choice: the pinned run scores what auto recorded for that rule."""
    data, _, auto = imbalanced_auto
    tta = auto["choices"]["tta"]["chosen"]
    adjusted = medtrain.train(fast_config(data, tmp_path / "adj", epochs=1, lr=3e-3, bootstrap=0, tta=tta,
                                          class_weights="prior-adjusted"), verbose=False)
    cw = adjusted["choices"]["class_weights"]
    assert cw["chosen"] == "prior-adjusted" and cw["how"] == "pinned (--class-weights)"
    assert adjusted["val"]["acc"] == pytest.approx(auto["choices"]["class_weights"]["val_acc"]["prior-adjusted"],
                                                   abs=1e-9)
    fitted = medtrain.train(fast_config(data, tmp_path / "fit", epochs=1, lr=3e-3, bootstrap=0, tta=tta,
                                        class_weights="val-fitted"), verbose=False)
    cw = fitted["choices"]["class_weights"]
    assert cw["chosen"] == "val-fitted" and len(cw["fitted_shift"]) == 2
    assert fitted["val"]["acc"] == pytest.approx(cw["val_acc"]["val-fitted"], abs=1e-9)
    assert medtrain.evaluate(tmp_path / "fit", verbose=False)["acc"] == pytest.approx(fitted["test"]["acc"], abs=1e-9)


def test_logit_adjustment_undoes_the_class_weights():
    """Balanced-loss posteriors are prevalence posteriors divided by the prior: adding -log w (w the
    inverse-frequency weights) restores the prevalence posterior (Menon et al., ICLR 2021)."""
    from medtrain.data.base import Split, Splits

    y = torch.tensor([0] * 30 + [1] * 10)
    split = Split(torch.zeros(40, 1, 4, 4, dtype=torch.uint8), y)
    splits = Splits(name="t", task="binary-class", label_names={"0": "a", "1": "b"},
                    train=split, val=split, test=split)
    prior = torch.tensor([0.75, 0.25])
    p_true = torch.tensor([[0.6, 0.4]])
    balanced = p_true / prior / (p_true / prior).sum()  # what a balanced loss estimates
    restored = torch.softmax(balanced.log() + logit_adjustment(splits), dim=1)
    assert torch.allclose(restored, p_true, atol=1e-6)


def test_a_choice_is_auto_or_a_boolean_and_anything_else_is_named():
    from medtrain.config import resolve
    from medtrain.errors import MedtrainError

    assert resolve({"flip": False, "class_weights": "yes"}).flip == "false"
    assert resolve({"class_weights": True}).class_weights == "true"
    assert resolve({"class_weights": "Prior-Adjusted"}).class_weights == "prior-adjusted"
    with pytest.raises(MedtrainError, match="flip"):
        resolve({"flip": "sometimes"})
    with pytest.raises(MedtrainError, match="flip"):
        resolve({"flip": "prior-adjusted"})  # a decision rule is a class-weight setting only
    with pytest.raises(MedtrainError, match="linear probe"):
        resolve({"class_weights": "val-fitted", "transfer": "linear-probe", "pretrained": "timm:resnet18"})
    with pytest.raises(MedtrainError, match="test-time augmentation .vertical."):
        resolve({"tta": "vertical"})


def test_medmnist_sets_that_label_left_and_right_organs_are_lateral_by_their_metadata():
    from medmnist import INFO

    for name in ("organamnist", "organcmnist", "organsmnist", "organmnist3d"):
        assert {"kidney-left", "kidney-right"} <= set(lateral_labels(INFO[name]["label"])), name
    for name in ("pneumoniamnist", "breastmnist", "retinamnist", "chestmnist", "adrenalmnist3d"):
        assert lateral_labels(INFO[name]["label"]) == [], name


class _Threshold(torch.nn.Module):
    """A one-feature classifier (the mean brightness) whose class-1 logit is ``offset`` too high."""

    def __init__(self, offset: float):
        super().__init__()
        self.fc = torch.nn.Linear(1, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[-4.0], [4.0]]))
            self.fc.bias.copy_(torch.tensor([0.0, -4.0 + offset]))  # sound: the boundary halfway, at 0.5

    def get_classifier(self):
        return self.fc

    def forward(self, x):
        return self.fc(x.mean(dim=(1, 2, 3)).unsqueeze(1))


def _threshold_splits(seed: int = 0):
    from medtrain.data.base import Split, Splits

    def split(n, s):
        g = torch.Generator().manual_seed(s)
        y = (torch.rand(n, generator=g) < 0.3).long()
        level = (0.35 + 0.3 * y + 0.12 * torch.randn(n, generator=g)).clamp(0, 1)  # class 1 is brighter
        return Split((level * 255).round().to(torch.uint8).view(n, 1, 1, 1).expand(n, 1, 4, 4).contiguous(), y)

    return Splits(name="t", task="binary-class", label_names={"0": "a", "1": "b"},
                  train=split(400, seed), val=split(200, seed + 1), test=split(400, seed + 2))


@pytest.mark.parametrize("offset, kept", [(0.0, ("balanced", "prior-adjusted")), (4.0, ("val-fitted",))])
def test_a_threshold_off_for_another_reason_is_refitted_on_validation_and_a_sound_one_is_kept(offset, kept):
    """A checkpoint that ranks well but calls most negatives positive gets the shift fitted on validation
    (its cross-fitted accuracy far ahead of the fixed rules), which then holds on unseen images; a sound
    threshold keeps a fixed rule."""
    from medtrain.config import resolve
    from medtrain.evaluation import predict
    from medtrain.metrics import acc
    from medtrain.training.choices import decide_class_weights
    from medtrain.training.module import Classifier

    splits = _threshold_splits()
    module = Classifier(_Threshold(offset), "binary-class", 2, torch.zeros(1), torch.ones(1), {}).eval()
    test_acc = lambda: acc(splits.test.labels.numpy(), predict(module, splits.test)[0], "binary-class")
    before = test_acc()
    c = decide_class_weights(resolve({}), module, splits, tta="none")
    assert c["chosen"] in kept
    if offset:
        assert c["val_acc"]["val-fitted"] > max(c["val_acc"]["balanced"], c["val_acc"]["prior-adjusted"]) + 0.1
        assert test_acc() > before + 0.1  # the shift is in the bias: every later prediction has it
        assert c["val_auc"]["val-fitted"] == pytest.approx(c["val_auc"]["balanced"], abs=1e-9)
    else:
        assert test_acc() >= before - 0.02


def test_a_multi_label_split_is_sampled_down_as_one_stratum_keeping_each_row_whole():
    labels = np.random.default_rng(0).integers(0, 2, (600, 3)).astype(np.float32)
    splits = _splits(labels[:, 0].astype(np.int64))
    splits.train.labels = torch.from_numpy(labels)
    sample = pilot_splits(splits, 200, seed=1)
    index = [int(s[3:-4]) for s in sample.train.sources]
    assert sample.train.labels.shape == (200, 3) and torch.equal(sample.train.labels, torch.from_numpy(labels[index]))


def test_a_shift_that_calls_every_image_one_class_is_never_kept():
    """Where the network barely separates the classes, the accuracy-best shift on validation calls every image
    the majority class: its accuracy is the majority's share, and a 2-epoch BreastMNIST run had kept it, never
    calling "malignant". A fixed rule, which still calls both classes, is kept instead."""
    from medtrain.config import resolve
    from medtrain.data.base import Split, Splits
    from medtrain.evaluation import predict
    from medtrain.training.choices import decide_class_weights
    from medtrain.training.module import Classifier

    def split(n, s, share):
        g = torch.Generator().manual_seed(s)
        y = (torch.rand(n, generator=g) < share).long()
        level = (0.5 + 0.02 * y + 0.12 * torch.randn(n, generator=g)).clamp(0, 1)  # hardly any signal
        return Split((level * 255).round().to(torch.uint8).view(n, 1, 1, 1).expand(n, 1, 4, 4).contiguous(), y)

    # trained on balanced classes (no prior to adjust by), validated and tested where 3 in 4 are class 1
    splits = Splits(name="t", task="binary-class", label_names={"0": "a", "1": "b"},
                    train=split(400, 0, 0.5), val=split(200, 1, 0.75), test=split(400, 2, 0.75))
    module = Classifier(_Threshold(0.0), "binary-class", 2, torch.zeros(1), torch.ones(1), {}).eval()
    c = decide_class_weights(resolve({}), module, splits, tta="none")
    assert c["chosen"] != "val-fitted" and c["val_acc_crossfit"]["refused"].startswith("calls every")
    calls = predict(module, splits.test)[0].argmax(1)
    assert 0 < calls.sum() < len(calls)  # both classes are called


def test_the_pilot_runs_are_announced_before_they_train(tmp_path, capsys):
    # they took a fifth of a short run's time, with nothing printed
    data = make_npz(tmp_path / "d.npz")
    medtrain.train(fast_config(data, tmp_path / "run", epochs=1, flip="auto", bootstrap=0), verbose=True)  # 1-epoch pilots
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("flips:"))
    assert "two 1-epoch pilot runs on 96 training images" in line and "--flip true or false skips them" in line
    assert out.index("flips:") < out.index("test AUC")


def test_the_choices_of_an_mc_dropout_run_are_judged_as_it_predicts(tmp_path):
    # the TTA and class-weight rules had been scored on one plain pass: the report showed their figures beside
    # the run's own validation numbers, computed with MC dropout, and they disagreed (AUC 0.653 vs 0.637)
    data = make_npz(tmp_path / "d.npz")
    arrays = dict(np.load(data))
    arrays["val_labels"][:8] = 1 - arrays["val_labels"][:8]  # validation scores that depend on the exact passes
    np.savez(data, **arrays)
    # 2 passes (4 had doubled each MC scoring) and no bootstrap: the choice's figures and the run's are the same passes
    m = medtrain.train(fast_config(data, tmp_path / "run", epochs=1, dropout=0.5, mc_dropout=2, tta="none",
                                   class_weights="auto", bootstrap=0),
                       verbose=False)
    cw = m["choices"]["class_weights"]
    assert cw["val_auc"][cw["chosen"]] == pytest.approx(m["val"]["auc"], abs=1e-9)
