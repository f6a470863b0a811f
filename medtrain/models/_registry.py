"""Model registry: plain functions decorated with :func:`register_model`, as in timm."""
from __future__ import annotations

from typing import Callable, Dict

_MODELS: Dict[str, Callable] = {}


def register_model(fn: Callable) -> Callable:
    """Register ``fn(in_chans, num_classes, **kwargs) -> nn.Module`` under its own name."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name} registered twice")
    _MODELS[name] = fn
    return fn


def is_registered(name: str) -> bool:
    return name in _MODELS


def get_builder(name: str) -> Callable:
    return _MODELS[name]


def registered_names() -> list[str]:
    return sorted(_MODELS)
