"""Registry of batched augmentation ops by name (``--augment flip,cutmix``)."""
from __future__ import annotations

from typing import Callable, Dict

from torch import nn

# name -> factory(params: dict) -> nn.Module called as ``x, y = op(x, y)``
_OPS: Dict[str, Callable[[dict], nn.Module]] = {}
#: where an unknown op's refusal sends the user (:func:`medtrain.errors.suggest`'s ``listed_by``)
LISTED_BY = "medtrain augment list names each, with what it does and its settings"
# name -> one line of what the op does, naming the settings it reads (``medtrain augment list``)
_ABOUT: Dict[str, str] = {}


def register_op(name: str, about: str):
    """Register ``factory(params) -> module`` under ``name``; ``params`` holds the run's settings; ``about``: what
    the op does to an image, naming each setting it reads (``medtrain augment list`` shows it with their defaults)."""

    def deco(factory):
        if name in _OPS:
            raise ValueError(f"augmentation {name} registered twice")
        _OPS[name], _ABOUT[name] = factory, about
        return factory

    return deco


def op_names() -> list[str]:
    return sorted(_OPS)


def get_op(name: str) -> Callable[[dict], nn.Module]:
    return _OPS[name]


def op_about(name: str) -> str:
    return _ABOUT[name]


def twin_hint(ops, dims: int) -> str:
    """``; for volumes use 3d_rot90 (not rot90)`` where an op of ``ops`` is of the other dimensionality than data of
    ``dims`` spatial axes and has a twin of theirs: the op's own line had spoken of tensor shapes only (a walk)."""
    names = set(op_names())
    twins = [(op, f"3d_{op}" if dims == 3 else op.removeprefix("3d_")) for op in ops if isinstance(op, str)
             and op.startswith("3d_") == (dims == 2)]
    shown = [f"{twin} (not {op})" for op, twin in twins if twin in names and twin != op]
    return f"; for {'volumes' if dims == 3 else 'images'} use {', '.join(shown)}" if shown else ""
