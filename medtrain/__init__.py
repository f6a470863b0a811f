"""medtrain: train, compare and analyse CNN classifiers on medical images.

``Config`` and ``MedtrainError`` are imported when first used (:func:`__getattr__`): ``import medtrain``, which
the command line's every start runs, had imported the settings module and with it numpy and yaml (a Ctrl-C
in those 0.1 s was a traceback, see ``medtrain.cli.main``)."""
__version__ = "0.3.0"  # pyproject.toml reads it; raised when the default recipe or a file format changes


def train(config=None, resume=None, verbose: bool = True, callbacks=None, evaluate_test: bool = True) -> dict:
    """Train a run, evaluate its kept weights on the test split and write its directory.

    Args:
        config: a dict of settings (the flat keys of ``medtrain train --help``), a :class:`Config` or a YAML
            path; ``out`` names the run directory.
        resume: a run directory to finish from its last checkpoint (``config``: the settings given again).
        verbose: print the summary table (Lightning's progress bars follow the ``progress`` setting:
            ``{"progress": False}`` silences them).
        callbacks: extra Lightning callbacks.
        evaluate_test: False leaves the test split out (a search's trials).

    Returns:
        the content of the run's ``metrics.json``. The global random generators (torch, numpy, random)
        are as they were before the call; the run itself is seeded by ``seed``. See :func:`medtrain.api.train`.
    """
    from medtrain.api import train as _train

    return _train(config, resume=resume, verbose=verbose, callbacks=callbacks, evaluate_test=evaluate_test)


def evaluate(run_dir, split: str = "test", verbose: bool = True) -> dict:
    """Re-evaluate a run directory; see :func:`medtrain.api.evaluate`."""
    from medtrain.api import evaluate as _evaluate

    return _evaluate(run_dir, split=split, verbose=verbose)


def load(run_dir, batch_size: int = 256, calibrated: bool = True, tta: bool = True):
    """A finished run, ready to predict: ``medtrain.load(run).predict(images)`` (temperature-scaled when the
    run fitted a temperature, unless ``calibrated=False``; averaged over the run's test-time views, unless
    ``tta=False``); see :func:`medtrain.predictor.load`."""
    from medtrain.predictor import load as _load

    return _load(run_dir, batch_size=batch_size, calibrated=calibrated, tta=tta)


def create_model(*args, **kwargs):
    """Build a model by name; see :func:`medtrain.models.create_model`."""
    from medtrain.models import create_model as _create

    return _create(*args, **kwargs)


def list_models() -> list:
    """The names :func:`create_model` builds (2D and 3D), sorted."""
    from medtrain.models import list_models as _list

    return _list()


# the names imported when first used: name -> its module
_LAZY = {"Config": "medtrain.config", "MedtrainError": "medtrain.errors"}


def __getattr__(name: str):
    """``medtrain.Config`` and ``medtrain.MedtrainError``, imported on first use. Any other name is an
    AttributeError, so that ``from medtrain import config`` still finds the submodule."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # once: later look-ups no longer come here
        return value
    raise AttributeError(f"module 'medtrain' has no attribute {name!r}")


def __dir__() -> list:
    return sorted({*globals(), *_LAZY})


__all__ = ["Config", "MedtrainError", "train", "evaluate", "load", "create_model", "list_models",
           "__version__"]
