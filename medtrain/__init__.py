"""medtrain: train, compare and analyse CNN classifiers on medical images."""
from medtrain.config import Config
from medtrain.errors import MedtrainError

__version__ = "0.1.0"


def train(config=None, resume=None, verbose: bool = True, callbacks=None) -> dict:
    """Train and evaluate a run; see :func:`medtrain.api.train`."""
    from medtrain.api import train as _train

    return _train(config, resume=resume, verbose=verbose, callbacks=callbacks)


def evaluate(run_dir, split: str = "test", verbose: bool = True) -> dict:
    """Re-evaluate a run directory; see :func:`medtrain.api.evaluate`."""
    from medtrain.api import evaluate as _evaluate

    return _evaluate(run_dir, split=split, verbose=verbose)


def load(run_dir, batch_size: int = 256, calibrated: bool = True):
    """A finished run, ready to predict: ``medtrain.load(run).predict(images)`` (temperature-scaled when the
    run fitted a temperature, unless ``calibrated=False``); see :func:`medtrain.predictor.load`."""
    from medtrain.predictor import load as _load

    return _load(run_dir, batch_size=batch_size, calibrated=calibrated)


def create_model(*args, **kwargs):
    """Build a model by name; see :func:`medtrain.models.create_model`."""
    from medtrain.models import create_model as _create

    return _create(*args, **kwargs)


def list_models() -> list:
    from medtrain.models import list_models as _list

    return _list()


__all__ = ["Config", "MedtrainError", "train", "evaluate", "load", "create_model", "list_models", "__version__"]
