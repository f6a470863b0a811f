"""Architectures: a registry of builders and the ``create_model`` factory."""
from medtrain.models import resnet28  # noqa: F401  (registers the 28 px ResNets)
from medtrain.models import zoo  # noqa: F401  (registers the architecture zoo)
from medtrain.models import med3d  # noqa: F401  (registers the 3D ResNets)
from medtrain.models._registry import register_model
from medtrain.models.factory import create_model, list_models

__all__ = ["create_model", "list_models", "register_model"]
