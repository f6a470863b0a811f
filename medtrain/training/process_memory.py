"""The peak resident memory and torch thread count of every process of a multi-process run (``--devices 2``).

Only the first process writes the run (:mod:`medtrain.training.distributed`); its own ``peak_rss_mb`` alone had
been recorded as the run's, about 1/N of what the job held (each process keeps its own copy of the images): two
CPU processes that peaked at 2.19 GB together were recorded as 1,102 MB, and the report said nothing of a second
process (walk 'scale'). :class:`ProcessPeaks` gathers each process's own figures once training ends, while every
process is still in the process group; :func:`medtrain.provenance.processes_peak` then sums them for
``metrics.json``.
"""
from __future__ import annotations

import lightning.pytorch as pl
import torch

from medtrain import provenance


class ProcessPeaks(pl.Callback):
    """At the end of a fit (``on_fit_end``: every process reaches it, also a resumed fit with no epoch left),
    gather each process's peak resident memory (:func:`medtrain.provenance.peak_rss_mb`, MiB) and torch thread
    count, in rank order. A single-process fit gathers nothing and :meth:`metrics` is empty: its ``metrics.json``
    keeps the keys it always had."""

    def __init__(self) -> None:
        self.peak_rss_mb: list[float] | None = None  #: each process's peak at the end of training, rank order
        self.torch_threads: list[int] | None = None

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.world_size < 2:
            return
        strategy = trainer.strategy  # (the module is back on the CPU after teardown; NCCL gathers on the device)
        mine = torch.tensor([provenance.peak_rss_mb(), torch.get_num_threads()], dtype=torch.float64,
                            device=strategy.root_device)
        every = strategy.all_gather(mine).reshape(-1, 2).cpu()
        self.peak_rss_mb = [float(v) for v in every[:, 0]]
        self.torch_threads = [int(v) for v in every[:, 1]]

    def metrics(self) -> dict:
        """What ``metrics.json`` records of the processes (:func:`medtrain.provenance.processes_peak` puts the
        writing process's own peak, measured when it writes, in the first place): ``{}`` for one process."""
        if self.peak_rss_mb is None:
            return {}
        return {"processes": len(self.peak_rss_mb), "peak_rss_mb_per_process": self.peak_rss_mb,
                "torch_threads_per_process": self.torch_threads}
