"""Architectures: a registry of builders and the ``create_model`` factory."""
from medtrain.models._registry import register_model
from medtrain.models.factory import create_model, list_models

__all__ = ["create_model", "list_models", "register_model"]
