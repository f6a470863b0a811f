"""An evaluation pass takes a batch bounded by the input's size.

Found by measurement: validation during training took ``max(batch, 256)`` images at a time and
``evaluation.predict`` 256, whatever their size. The default 2D network's largest activation is 64 floats a
pixel (67 MB a 512-px image), so 256 such images needed ~21 GB at once: a run whose own training batch fit ran out
of memory in validation, or after training in the test evaluation, outside fit's out-of-memory message.
Now (``evaluation.batches.eval_batch``) a batch holds at most as many pixels as 256 images at 64x64 (64^3 voxels
for volumes): 256 at MedMNIST's 28 and 64 px (28^3, 64^3) as before, fewer for larger inputs.
"""
import numpy as np
import pytest
import torch
from torch import nn

import medtrain
import medtrain.training.fit as fit_module
from medtrain.data.base import Split
from medtrain.evaluation import predict
from medtrain.evaluation.batches import EVAL_PIXELS, eval_batch
from medtrain.training.module import Classifier
from conftest import fast_config, make_images


def shaped(*spatial, channels: int = 1) -> torch.Tensor:
    return torch.empty((0, channels, *spatial), dtype=torch.uint8)


@pytest.mark.parametrize("spatial, expected", [
    ((28, 28), 256), ((64, 64), 256),  # MedMNIST's sizes evaluated 256 at a time before: unchanged
    ((128, 128), 64), ((224, 224), 20), ((512, 512), 4), ((1024, 1024), 1),
    ((28, 28, 28), 256), ((64, 64, 64), 256),  # MedMNIST's volumes: unchanged
    ((128, 128, 128), 32), ((256, 256, 256), 4),
])
def test_an_evaluation_batch_is_256_images_at_medmnist_sizes_and_fewer_for_larger_ones(spatial, expected):
    for channels in (1, 3):  # memory is the network's activations, set by the pixels, not the input's channels
        assert eval_batch(1, shaped(*spatial, channels=channels)) == expected
    pixels = int(np.prod(spatial))
    if expected < 256:  # as many as fit in the budget of a 256-image batch at 64x64 (64^3)
        assert expected * pixels <= EVAL_PIXELS[len(spatial)] < (expected + 1) * pixels or expected == 1


def test_an_evaluation_batch_is_never_smaller_than_the_training_batch():
    # the training batch fit with its gradients, so evaluating that many fits too; a larger training batch is
    # taken for evaluation as before (max(batch, 256))
    assert eval_batch(32, shaped(512, 512)) == 32
    assert eval_batch(512, shaped(28, 28)) == 512
    assert eval_batch(0, shaped(4096, 4096)) == 1


class Tiny(nn.Module):
    def __init__(self, seen: list):
        super().__init__()
        self.seen = seen
        self.net = nn.Sequential(nn.Conv2d(1, 4, 5, stride=4), nn.BatchNorm2d(4), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
        bn = self.net[1]  # running statistics away from 0/1, so eval mode (not batch statistics) is what is used
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        self.seen.append(len(x))
        return self.net(x)


def tiny_module(seen: list) -> Classifier:
    torch.manual_seed(0)
    return Classifier(Tiny(seen), "multi-class", 3, torch.tensor([0.5]), torch.tensor([0.25]), {})


def split_of(n: int, size: int) -> Split:
    images, labels = make_images(n, size=size, channels=1)
    return Split(torch.from_numpy(images)[:, None], torch.from_numpy(labels[:, 0]).long())


def test_predict_takes_batches_bounded_by_the_image_size_by_default():
    seen = []
    predict(tiny_module(seen), split_of(10, 512))
    assert seen == [4, 4, 2]  # 512 px: 4 at a time (256 had needed ~21 GB with the default network)
    seen.clear()
    predict(tiny_module(seen), split_of(300, 28))
    assert seen == [256, 44]  # 28 px: as before


def test_probabilities_do_not_depend_on_the_evaluation_batch():
    seen = []
    module, split = tiny_module(seen), split_of(70, 128)
    p_bounded, _ = predict(module, split)
    assert seen == [64, 6]
    seen.clear()
    p_256, _ = predict(module, split, batch_size=256)
    assert seen == [70]
    assert p_bounded.shape == (70, 3) and np.isfinite(p_bounded).all()
    np.testing.assert_allclose(p_bounded, p_256, rtol=0, atol=1e-6)
    assert p_bounded.std(axis=0).max() > 1e-3  # the images were told apart: not a constant output


class Stop(Exception):
    """Raised in place of training, once the validation loader is built."""


@pytest.mark.parametrize("size, expected", [(128, 64), (28, 256)])
def test_validation_during_training_takes_the_bounded_batch(tmp_path, monkeypatch, size, expected):
    made = []
    real = fit_module.TensorBatches

    def record(images, labels, batch_size, shuffle, **kwargs):
        made.append((shuffle, batch_size))
        if not shuffle:
            raise Stop
        return real(images, labels, batch_size, shuffle, **kwargs)

    monkeypatch.setattr(fit_module, "TensorBatches", record)
    arrays = {}
    for split, n, seed in (("train", 16, 0), ("val", 8, 1), ("test", 8, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, size=size, seed=seed)
    np.savez(tmp_path / "data.npz", **arrays)
    with pytest.raises(Stop):
        medtrain.train(fast_config(tmp_path / "data.npz", tmp_path / "run", batch_size=16))
    assert made == [(True, 16), (False, expected)]
