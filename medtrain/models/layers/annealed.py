"""Annealed dropout: a dropout rate that decreases to zero during training.

Rennie, Goel, Thomas, "Annealed Dropout Training of Deep Networks", IEEE SLT 2014.

Training starts with a high rate ``p0`` (strong regularisation, a large implicit ensemble) and lowers it
epoch by epoch to 0, so the last epochs fine-tune the single full network that is used at test time.
The paper's schedule is linear, ``p(t) = p0 * max(0, 1 - t / N)``; cosine and (shifted) exponential
decays are offered as variants. Like ``nn.Dropout`` the kept units are scaled by ``1 / (1 - p)``, so
evaluation needs no rescaling at any point of the schedule.

The rate is a function of the epoch, which models do not know: the training loop calls
:func:`set_dropout_epoch` at the start of each epoch (models do not depend on Lightning) and logs the
rates it returns. Note that once annealing has finished the rate is 0, so MC dropout
(``medtrain.models.layers.mc_predict``) gets no spread from these layers.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from medtrain.errors import MedtrainError, suggest
from medtrain.models.layers.dropconnect import check_rate

__all__ = ["AnnealedDropout", "SCHEDULES", "annealed_rate", "set_dropout_epoch"]

SCHEDULES = ("linear", "cosine", "exponential")
# The exponential schedule falls as exp(-EXP_DECAY * t / N); shifted and rescaled so it reaches exactly 0
# at t = N (a bare exponential never does, and the paper's point is to end on the deterministic network).
EXP_DECAY = 5.0


def annealed_rate(p0: float, epoch: float, anneal_epochs: int, schedule: str = "linear") -> float:
    """The dropout rate after ``epoch`` epochs of annealing from ``p0`` to 0 over ``anneal_epochs``.

    Args:
        p0: initial rate, ``0 <= p0 < 1``.
        epoch: epochs completed, ``>= 0``; fractional values (for per-step annealing) are allowed.
        anneal_epochs: ``N >= 1``, the epoch from which the rate is 0.
        schedule: with ``s = min(epoch / N, 1)``:

            - ``"linear"`` (Rennie et al.): ``p0 * (1 - s)``;
            - ``"cosine"``: ``p0 * (1 + cos(pi * s)) / 2``, slow at both ends;
            - ``"exponential"``: ``p0 * (exp(-5 s) - exp(-5)) / (1 - exp(-5))``, fast at the start.

    Returns:
        the rate, ``p0`` at epoch 0, non-increasing, and 0 from ``anneal_epochs`` on.
    """
    p0 = check_rate(p0, "p0")
    if schedule not in SCHEDULES:
        raise suggest(str(schedule), SCHEDULES, "annealing schedule")
    if isinstance(anneal_epochs, bool) or not isinstance(anneal_epochs, int) or anneal_epochs < 1:
        raise MedtrainError(f"anneal_epochs must be an integer >= 1, got {anneal_epochs!r}")
    if not epoch >= 0:  # also rejects NaN
        raise MedtrainError(f"epoch must be >= 0, got {epoch!r}")
    s = min(float(epoch) / anneal_epochs, 1.0)
    if schedule == "linear":
        f = 1.0 - s
    elif schedule == "cosine":
        f = 0.5 * (1.0 + math.cos(math.pi * s))
    else:
        f = (math.exp(-EXP_DECAY * s) - math.exp(-EXP_DECAY)) / (1.0 - math.exp(-EXP_DECAY))
    return max(0.0, p0 * f)  # max: cos(pi) rounding can give -1e-17


class AnnealedDropout(nn.Module):
    """Dropout whose rate follows :func:`annealed_rate` as :meth:`set_epoch` is called (Rennie et al., 2014).

    Args:
        p0: rate at epoch 0, ``0 <= p0 < 1``.
        anneal_epochs: epochs over which the rate falls to 0.
        schedule: ``"linear"`` (the paper's), ``"cosine"`` or ``"exponential"``.

    Shape:
        - Input: any ``(*)``. Output: same shape.

    The current epoch is a buffer of the module's state dict (``epoch``), so a model restored from a
    checkpoint or a run's ``model.safetensors`` has the rate it had: MC dropout at evaluation samples at the
    kept epoch's rate, as the run did (as non-tensor extra state, dropped from safetensors files, a reloaded
    run had sampled at ``p0``).
    """

    def __init__(self, p0: float = 0.5, anneal_epochs: int = 10, schedule: str = "linear"):
        super().__init__()
        self.p0 = check_rate(p0, "p0")
        self.anneal_epochs = anneal_epochs
        self.schedule = schedule
        self.register_buffer("epoch", torch.zeros(()))
        self.p = annealed_rate(self.p0, 0.0, anneal_epochs, schedule)  # validates the arguments
        self.register_load_state_dict_post_hook(_rate_from_loaded_epoch)

    def set_epoch(self, epoch: float) -> float:
        """Set the number of completed epochs; returns the new rate."""
        self.p = annealed_rate(self.p0, epoch, self.anneal_epochs, self.schedule)
        self.epoch.fill_(float(epoch))
        return self.p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, training=self.training)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        """States written before the epoch was a buffer load too: a checkpoint's extra state gives the epoch
        (an interrupted run of then resumes at the epoch it had reached; Lightning loads strictly), and a
        ``model.safetensors`` of then, which kept no epoch at all, loads at epoch 0 (p0), as it did then."""
        legacy = state_dict.pop(prefix + "_extra_state", None)
        if isinstance(legacy, dict) and "epoch" in legacy and prefix + "epoch" not in state_dict:
            state_dict[prefix + "epoch"] = torch.tensor(float(legacy["epoch"]))
        absent = prefix + "epoch" not in state_dict
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        if absent and prefix + "epoch" in missing_keys:
            missing_keys.remove(prefix + "epoch")

    def extra_repr(self) -> str:
        return f"p0={self.p0}, anneal_epochs={self.anneal_epochs}, schedule={self.schedule}, p={self.p:.4g}"


def _rate_from_loaded_epoch(module: AnnealedDropout, _incompatible) -> None:
    module.set_epoch(float(module.epoch))


def set_dropout_epoch(model: nn.Module, epoch: float) -> list[float]:
    """Move every :class:`AnnealedDropout` in ``model`` to ``epoch``.

    Args:
        model: any module; modules other than AnnealedDropout are left alone.
        epoch: completed epochs (call with 0 before the first epoch, ``e`` before epoch ``e``).

    Returns:
        the new rates, in ``model.modules()`` order (empty if the model has no annealed dropout), for
        the training loop to log.
    """
    return [m.set_epoch(epoch) for m in model.modules() if isinstance(m, AnnealedDropout)]
