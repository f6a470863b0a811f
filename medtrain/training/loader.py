"""Batches straight from in-memory uint8 tensors.

A standard ``DataLoader`` over per-sample ``__getitem__`` costs one Python call and one collate per
image, which dominates an epoch of 28 px images on a CPU. Here one batch is one tensor index; shuffling
uses a generator seeded by (seed, epoch), so an interrupted run resumed at epoch e draws the same
batches as an uninterrupted one.

Under several processes (DDP) each process takes its share (:meth:`TensorBatches.shard`). Lightning's
``use_distributed_sampler`` only rewraps ``DataLoader`` objects, so the sharding is done here, with torch's
own :class:`~torch.utils.data.DistributedSampler` for training (the same seeded permutation, padded to
equal shares by repeating its first samples, so every process takes the same number of optimizer steps)
and a plain interleave for evaluation (sample i to process i mod W, each exactly once, put back in order by
:func:`medtrain.training.distributed.unshard`).

An evaluation pass (validation during training, :func:`medtrain.evaluation.predict`) takes
:func:`medtrain.evaluation.batches.eval_batch` images at a time.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.utils.data import DistributedSampler


class TensorBatches:
    """Iterable of ``(images_uint8, labels)`` batches; ``set_epoch`` fixes the shuffle order.

    Args:
        shuffle: a new seeded permutation each epoch (training); otherwise split order (evaluation).
        drop_last: drop a last incomplete batch (training, when there are more images than a batch).
    """

    def __init__(self, images: Tensor, labels: Tensor, batch_size: int, shuffle: bool, seed: int = 0,
                 drop_last: bool = False):
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.epoch = 0
        self.rank, self.world = 0, 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def shard(self, rank: int, world: int) -> None:
        """Take process ``rank``'s share of ``world`` (called by :class:`~medtrain.training.callbacks.ShardBatches`)."""
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} of {world}")
        self.rank, self.world = rank, world

    def _share(self) -> int:
        n = len(self.images)
        if self.shuffle:  # DistributedSampler pads every share to ceil(n / W)
            return math.ceil(n / self.world)
        return len(range(self.rank, n, self.world))

    def __len__(self) -> int:
        n = self._share()
        return n // self.batch_size if self.drop_last and n >= self.batch_size else math.ceil(n / self.batch_size)

    def indices(self) -> Tensor:
        """This process's sample indices for the current epoch, in batch order."""
        n = len(self.images)
        if not self.shuffle:
            return torch.arange(n)[self.rank::self.world]
        # the permutation is randperm(n) under a generator seeded with seed * 100_003 + epoch, for one
        # process as for many (DistributedSampler seeds with its seed + epoch)
        sampler = DistributedSampler(range(n), num_replicas=self.world, rank=self.rank, shuffle=True,
                                     seed=self.seed * 100_003, drop_last=False)
        sampler.set_epoch(self.epoch)
        return torch.as_tensor(list(sampler), dtype=torch.long)

    def __iter__(self):
        order = self.indices()
        for b in range(len(self)):
            ix = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield self.images[ix], self.labels[ix]
