"""Soft targets are made in one place, the augmentation layer beside Mixup and CutMix
(:func:`medtrain.augment.mixing.soft_targets`): training's batches and ``augment show``'s grid both call it, so the
targets the grid captions are those the loss sees. ``augment/grid.py`` had a copy of ``training/module.py``'s."""
from __future__ import annotations

import torch

import medtrain.augment.grid as grid
import medtrain.training.fit as fit
import medtrain.training.module as module
from medtrain.augment.mixing import soft_targets
from medtrain.tasks import BINARY, MULTICLASS, MULTILABEL


def test_training_and_the_grid_use_the_one_definition():
    assert grid.soft_targets is soft_targets and module.soft_targets is soft_targets and fit.soft_targets is soft_targets


def test_class_indices_become_one_hot_rows_and_label_rows_stay_as_they_are():
    y = torch.tensor([2, 0, 1])
    expected = torch.tensor([[0., 0., 1.], [1., 0., 0.], [0., 1., 0.]])
    assert torch.equal(soft_targets(y, MULTICLASS, 3), expected)
    assert torch.equal(soft_targets(y.reshape(-1, 1), MULTICLASS, 3), expected)  # a split's (N, 1) labels alike
    assert torch.equal(soft_targets(torch.tensor([1, 0], dtype=torch.uint8), BINARY, 2),
                       torch.tensor([[0., 1.], [1., 0.]]))
    rows = torch.tensor([[1, 0, 1], [0, 0, 0]], dtype=torch.uint8)
    got = soft_targets(rows, MULTILABEL, 3)
    assert got.dtype == torch.float32 and torch.equal(got, rows.float())
