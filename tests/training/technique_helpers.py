"""What every technique test checks about a run: it learned, and ``medtrain.evaluate`` reproduces it."""
from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

import medtrain
from conftest import fast_config

#: test AUC a run must beat on the bright-square task. Two of its 64 test labels are flipped, so a perfect
#: ranking of the images scores 0.94-1 (about 0.97 on average) and chance 0.5.
MIN_AUC = 0.9


def technique_config(data: Path, out: Path, **over) -> dict:
    """2 epochs of resnet10_28_half at lr 3e-3 on 16 px images: learns the task with margin in ~1 s."""
    cfg = dict(epochs=2, lr=3e-3, bootstrap=0, augment=[], tta="none", seed=0)
    cfg.update(over)
    return fast_config(data, out, **cfg)


def train_check(data: Path, out: Path, callbacks=(), min_auc: float = MIN_AUC, reproduce_tol: float = 1e-6,
                **over) -> dict:
    """Train through ``medtrain.train``; assert it learned and that ``medtrain.evaluate`` reproduces its
    test AUC and ACC from the saved run. Returns metrics.json."""
    m = medtrain.train(technique_config(data, out, **over), verbose=False, callbacks=list(callbacks))
    assert m["test"]["auc"] > min_auc, f"did not learn: test AUC {m['test']['auc']:.3f}, history {m['history']}"
    again = medtrain.evaluate(out, verbose=False)
    assert again["auc"] == pytest.approx(m["test"]["auc"], abs=reproduce_tol)
    assert again["acc"] == pytest.approx(m["test"]["acc"], abs=reproduce_tol)
    return m


class Inspect(pl.Callback):
    """Calls ``fn(trainer, pl_module)`` once, at the start of training, and keeps what it returns."""

    def __init__(self, fn):
        self.fn, self.seen = fn, None

    def on_train_start(self, trainer, pl_module):
        self.seen = self.fn(trainer, pl_module)


class FirstBatch(pl.Callback):
    """Records, for each op of the training module's augmentation pipeline (each item of a Compose, or the
    whole pipeline when it is one module such as a FusedPipeline), its input and output on the first
    training batch: ``ops[i]`` and ``seen[i] = (x_in, y_in, x_out, y_out)``."""

    def __init__(self):
        self.pipeline, self.ops, self.seen, self._handles = None, [], {}, []

    def on_train_start(self, trainer, pl_module):
        self.pipeline = pl_module.augment
        if self.pipeline is None:
            return
        self.ops = list(self.pipeline.ops) if hasattr(self.pipeline, "ops") else [self.pipeline]
        for i, op in enumerate(self.ops):
            self._handles.append(op.register_forward_pre_hook(self._pre(i)))
            self._handles.append(op.register_forward_hook(self._post(i)))

    def _pre(self, i):
        def hook(mod, args):
            if i not in self.seen:
                self.seen[i] = [args[0].detach().clone(), args[1].detach().clone()]
        return hook

    def _post(self, i):
        def hook(mod, args, out):
            if len(self.seen[i]) == 2:
                self.seen[i] += [out[0].detach().clone(), out[1].detach().clone()]
        return hook

    def on_train_end(self, trainer, pl_module):
        for h in self._handles:
            h.remove()


class LrTrace(pl.Callback):
    """The learning rate of parameter group 0 before every optimiser step."""

    def __init__(self):
        self.lrs: list[float] = []
        self.scheduler_configs = None

    def on_train_start(self, trainer, pl_module):
        self.scheduler_configs = list(trainer.lr_scheduler_configs)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def state_equal(a: dict, b: dict, names) -> bool:
    return all(torch.equal(a[n], b[n]) for n in names)
