"""Registry of batched augmentation ops by name (``--augment flip,cutmix``)."""
from __future__ import annotations

from typing import Callable, Dict

from torch import nn

# name -> factory(params: dict) -> nn.Module called as ``x, y = op(x, y)``
_OPS: Dict[str, Callable[[dict], nn.Module]] = {}


def register_op(name: str):
    """Register ``factory(params) -> module`` under ``name``; ``params`` holds the run's settings."""

    def deco(factory):
        if name in _OPS:
            raise ValueError(f"augmentation {name} registered twice")
        _OPS[name] = factory
        return factory

    return deco


def op_names() -> list[str]:
    return sorted(_OPS)


def get_op(name: str) -> Callable[[dict], nn.Module]:
    return _OPS[name]
