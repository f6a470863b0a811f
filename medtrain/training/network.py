"""The networks a run's weights load into, in plain torch: :class:`Network` (uint8 images in, logits out) and the
linear probe's :class:`ProbeModel`.

Training wraps them in Lightning (:class:`medtrain.training.module.Classifier` is a :class:`Network` and a
LightningModule); a finished run is used through them alone, so predict, export and explain do not import
Lightning, whose import takes seconds (:mod:`medtrain.runmodel`).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


def normalise(x: Tensor, mean: Tensor, std: Tensor, input_transform: nn.Module | None = None) -> Tensor:
    """[0, 1] images -> the network's input: the colour space (if any), then per-channel mean/std."""
    if input_transform is not None:
        x = input_transform(x)
    view = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.view(view)) / std.view(view)


class Network(nn.Module):
    """A classifier ``model`` with its input conversion: uint8 ``(B, C, *spatial)`` images in, ``(B, K)`` logits out.

    Args:
        model: maps normalised ``(B, C, *spatial)`` float images to ``(B, K)`` logits.
        task: MedMNIST task name.
        num_classes: K.
        mean, std: per-channel normalisation (from the training split).
        hparams: the run's resolved config as a dict (optimiser, schedule, seed...).
        augment: batched augmentation ``x, y = augment(x, y)`` or None (training only).
        input_transform: a module applied to [0, 1] images before normalisation (a colour space).
    """

    def __init__(self, model: nn.Module, task: str, num_classes: int, mean: Tensor, std: Tensor, hparams: dict,
                 augment: nn.Module | None = None, input_transform: nn.Module | None = None):
        super().__init__()
        self.model = model
        self.task, self.num_classes = task, num_classes
        self.register_buffer("mean", mean.float().view(1, -1), persistent=False)
        self.register_buffer("std", std.float().view(1, -1), persistent=False)
        self.cfg = hparams
        self.augment = augment
        self.input_transform = input_transform

    def prepare(self, x: Tensor) -> Tensor:
        """uint8 batch -> float in [0, 1] (then an optional colour space or other input transform)."""
        x = x.float().div_(255.0)
        return x

    def normalise(self, x: Tensor) -> Tensor:
        return normalise(x, self.mean, self.std, self.input_transform)

    def inputs(self, x_uint8: Tensor, target: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """uint8 batch -> the network's float32 input (augmented when ``target`` is given, for training).

        Image arithmetic, not network compute: it runs outside mixed precision's autocast, in float32. Under
        bf16 autocast on CUDA an affine augmentation failed (``torch.linalg.inv`` has no bf16 kernel), and
        colour conversions and jitter rounded images to bf16's 8 significant bits.
        """
        with torch.autocast(x_uint8.device.type, enabled=False):
            x = self.prepare(x_uint8)
            if target is not None and self.augment is not None:
                x, target = self.augment(x, target)
            return self.normalise(x), target

    def forward(self, x_uint8: Tensor) -> Tensor:
        return self.model(self.inputs(x_uint8)[0])


def pooled_codes(model: nn.Module, x: Tensor, layer: int | None) -> Tensor:
    """Pooled features of a normalised batch: the head's input, or stage ``layer``'s output pooled."""
    if layer is None:
        f = model.forward_head(model.forward_features(x), pre_logits=True)
    else:
        bb = model.backbone if getattr(model, "feature_info", None) is None and hasattr(model, "backbone") else model
        f = bb.forward_intermediates(x, indices=[layer], intermediates_only=True, stop_early=True)[0]
    return f.flatten(2).mean(-1) if f.ndim > 2 else f  # feature maps: global average pooling


class ProbeModel(nn.Module):
    """A frozen network's pooled codes (at ``layer``, ``-1`` = the head's input) and one linear layer
    (:mod:`medtrain.training.probe` fits it).

    ``forward`` takes normalised images and returns logits, so the probe runs through the same
    evaluation (and TTA) as a trained network; its scores equal the scikit-learn classifier's.
    """

    def __init__(self, model: nn.Module, layer: int, weight: Tensor, bias: Tensor):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.layer = layer
        self.linear = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(weight)
            self.linear.bias.copy_(bias)

    def train(self, mode: bool = True):  # the features are frozen: batch norm stays in eval mode
        super().train(mode)
        self.model.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(pooled_codes(self.model, x, None if self.layer < 0 else self.layer))
