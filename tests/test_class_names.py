"""A run's class (multi-label: label) names in index order (:func:`medtrain.tasks.class_names`): a class its
``label_names`` does not name is shown by its index, and a multi-label run's operating point names every label
instead of stopping at the first unnamed one with a KeyError."""
from __future__ import annotations

import torch

from medtrain import metrics
from medtrain.data import Split
from medtrain.evaluation.evaluate import evaluate_split
from medtrain.tasks import class_names


def test_a_class_without_a_name_is_shown_by_its_index():
    assert class_names({"0": "a"}, 3) == ["a", "1", "2"]
    assert class_names({"1": "b", "0": "a"}) == ["a", "b"]  # index order, as many as it names


class _Labels(torch.nn.Module):
    """A multi-label model of 3 labels: each image's logits from its mean pixel."""
    task, num_classes = metrics.MULTILABEL, 3

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([1.0, -1.0, 0.5]))

    def forward(self, x):
        return (x.float().mean(dim=(1, 2, 3)) / 255.0 - 0.5)[:, None] * self.w * 10


def test_a_multi_label_operating_point_names_an_unnamed_label_by_its_index():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 2, (40, 3), generator=g)
    res = evaluate_split(_Labels(), Split(images, labels), {"0": "effusion"}, bootstrap=10, thresholds=[0.5] * 3)
    assert list(res["operating_point"]["per_label"]) == ["effusion", "1", "2"]  # had raised KeyError: '1'
