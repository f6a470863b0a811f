"""The same recipe trains every task type: multi-label, multi-class RGB, and 3D volumes."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import medtrain
from medtrain.training.build import class_weights
from medtrain.training.module import Classifier
from conftest import fast_config


def _npz(path, images, labels):
    n = len(images)
    a, b = int(n * 0.6), int(n * 0.8)
    np.savez(path, train_images=images[:a], train_labels=labels[:a], val_images=images[a:b], val_labels=labels[a:b],
             test_images=images[b:], test_labels=labels[b:])
    return path


def test_multilabel_rgb_task_trains_and_scores_like_medmnist(tmp_path):
    # label j of an image is on when channel j carries a bright square: learnable, labels independent
    rng = np.random.default_rng(0)
    images = rng.integers(0, 90, (120, 16, 16, 3), dtype=np.uint8)
    labels = rng.integers(0, 2, (120, 3)).astype(np.uint8)
    for i, j in zip(*np.nonzero(labels)):
        r, c = rng.integers(0, 10, 2)
        images[i, r:r + 6, c:c + 6, j] = 240
    p = _npz(tmp_path / "ml.npz", images, labels)
    m = medtrain.train(fast_config(p, tmp_path / "r", epochs=2, lr=3e-3, class_weights=True, augment="flip,shift",
                                   bootstrap=0, tta="none"), verbose=False)
    assert m["task"] == "multi-label, binary-class" and m["test"]["auc"] > 0.85  # mean of the 3 labels' AUCs (0.97 here)
    assert len(m["test"]["confusion"]) == 3  # one 2x2 matrix per label
    again = medtrain.evaluate(tmp_path / "r", verbose=False)
    assert again["auc"] == pytest.approx(m["test"]["auc"], abs=1e-6)


def test_volumes_train_through_a_2d_model_inflated_to_3d(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 60, (40, 12, 12, 12), dtype=np.uint8)
    labels = (np.arange(40) % 2).reshape(-1, 1).astype(np.uint8)
    images[labels[:, 0] == 1, 3:8, 3:8, 3:8] = 255
    p = _npz(tmp_path / "vol.npz", images, labels)
    m = medtrain.train(fast_config(p, tmp_path / "r", epochs=1, model="resnet10_28_half"), verbose=False)
    assert m["sizes"] == {"train": 24, "val": 8, "test": 8}
    # learning on volumes is shown by tests/training/test_techniques_augment.py; here: the inflated 3D
    # network is what was saved, since the run's own weights score the test split identically
    again = medtrain.evaluate(tmp_path / "r", verbose=False)
    assert again["n"] == 8 and again["auc"] == pytest.approx(m["test"]["auc"], abs=1e-6)
    assert again["acc"] == pytest.approx(m["test"]["acc"], abs=1e-6)
    auto = medtrain.train(fast_config(p, tmp_path / "auto", epochs=1, model="auto"), verbose=False)
    assert auto["model"] == "med3d_resnet10"  # --model auto picks the 3D network for volumes
    assert "model: med3d_resnet10" in (tmp_path / "auto" / "config.yaml").read_text()


def test_class_weights_are_inverse_frequency_and_match_weighted_cross_entropy():
    from medtrain.data.base import Split, Splits

    y = torch.tensor([0] * 30 + [1] * 10)
    s = Splits("x", "binary-class", {"0": "a", "1": "b"}, Split(torch.zeros(40, 1, 2, 2, dtype=torch.uint8), y),
               Split(torch.zeros(2, 1, 2, 2, dtype=torch.uint8), y[:2]), Split(torch.zeros(0, 1, 2, 2, dtype=torch.uint8),
                                                                               y[:0]))
    w = class_weights(s)
    assert torch.allclose(w, torch.tensor([40 / 60, 40 / 20]))  # N / (K * n_c)
    mod = Classifier(torch.nn.Identity(), "binary-class", 2, torch.zeros(1), torch.ones(1), {}, class_weights=w)
    logits = torch.randn(8, 2)
    target = torch.tensor([0, 1, 1, 0, 0, 1, 0, 0])
    ours = mod.loss(logits, F.one_hot(target, 2).float())
    assert ours == pytest.approx(float(F.cross_entropy(logits, target, weight=w)), abs=1e-6)


def test_multilabel_class_weights_balance_positives_against_negatives():
    from medtrain.data.base import Split, Splits

    y = torch.tensor([[1, 0], [0, 0], [0, 1], [0, 1]], dtype=torch.float32)
    imgs = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
    s = Splits("m", "multi-label, binary-class", {"0": "a", "1": "b"}, Split(imgs, y), Split(imgs, y), Split(imgs, y))
    w = class_weights(s)
    assert torch.allclose(w, torch.tensor([3.0, 1.0]))  # negatives / positives per label
    mod = Classifier(torch.nn.Identity(), s.task, 2, torch.zeros(1), torch.ones(1), {}, class_weights=w)
    logits = torch.randn(4, 2)
    assert mod.loss(logits, y) == pytest.approx(float(F.binary_cross_entropy_with_logits(logits, y, pos_weight=w)))


@pytest.mark.parametrize("task", ["binary-class", "multi-label, binary-class"])
def test_class_weighted_loss_follows_the_logits_device(task):
    # The validation loss is computed on logits gathered on the CPU while the weights live on the training
    # device (this crashed on CUDA). "meta" stands in for a second device: only the devices are checked.
    mod = Classifier(torch.nn.Identity(), task, 2, torch.zeros(1), torch.ones(1), {},
                     class_weights=torch.tensor([1.0, 2.0]))
    loss = mod.loss(torch.randn(4, 2, device="meta"), torch.ones(4, 2, device="meta"))
    assert loss.device.type == "meta"
