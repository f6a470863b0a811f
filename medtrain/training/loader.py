"""Batches straight from in-memory uint8 tensors.

A standard ``DataLoader`` over per-sample ``__getitem__`` costs one Python call and one collate per
image, which dominates an epoch of 28 px images on a CPU. Here one batch is one tensor index; shuffling
uses a generator seeded by (seed, epoch), so an interrupted run resumed at epoch e draws the same
batches as an uninterrupted one.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


class TensorBatches:
    """Iterable of ``(images_uint8, labels)`` batches; ``set_epoch`` fixes the shuffle order."""

    def __init__(self, images: Tensor, labels: Tensor, batch_size: int, shuffle: bool, seed: int = 0,
                 drop_last: bool = False):
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.epoch = 0
        self.rank, self.world = 0, 1  # set by training under multi-device strategies

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = math.ceil(len(self.images) / self.world)
        return n // self.batch_size if self.drop_last and n >= self.batch_size else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.images)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(n, generator=g)
        else:
            order = torch.arange(n)
        if self.world > 1:  # each process takes its own interleaved share
            order = order[self.rank::self.world]
        for b in range(len(self)):
            ix = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield self.images[ix], self.labels[ix]
