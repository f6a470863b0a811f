"""medtrain: train, compare and analyse CNN classifiers on medical images (2D images and 3D volumes).

A run trains one network on one dataset (a MedMNIST name, a folder of class sub-folders, a CSV, a .npz, DICOM
or NIfTI, or arrays in memory), keeps the epoch its ``checkpoint`` rule picks (by default the last for the default
2D network trained from scratch to the end of its schedule, the best validation epoch otherwise), scores it on the
test split and writes a run directory (settings, weights, ``metrics.json``, a report) that everything below reads:

* ``train(config)``: train a run, or return it when one of the same settings has finished; returns its metrics,
  a dict with the run directory as ``.run_dir``. ``config`` is a dict of the settings of ``medtrain train
  --help`` (``{"dataset": "bloodmnist", "epochs": 5}``), a YAML path or a :class:`Config`.
* ``evaluate(run_dir, split)``: score a finished run's weights on one of its splits again.
* ``load(run_dir).predict(images)``: class probabilities of new images (files, folders, arrays).
* ``create_model(name, in_chans, num_classes)`` and ``list_models()``: the networks, as ``torch.nn.Module``.
* ``Config``: every setting with its default (``help(medtrain.Config)``).

From their own modules (``from medtrain.tune import tune``): :func:`medtrain.compare.compare` (a grid of
settings over seeds, one table; its base settings a dict or a :class:`Config`, as ``train`` takes them, whose
``seed`` is the seeds where none are given and is refused beside other seeds), :func:`medtrain.tune.tune` (a
hyper-parameter search, its base settings a dict or a :class:`Config` too),
:func:`medtrain.export.export_run` (ONNX or TorchScript) and :func:`medtrain.explain.explain` (saliency maps).
The command line ``medtrain`` does the same from a shell.

Errors (:mod:`medtrain.errors`): :class:`MedtrainError`, bad settings or data, one line saying what to change;
:class:`TrainingDiverged`, a MedtrainError, a run whose weights (or outputs) became NaN before its first validated epoch;
:class:`TrainingInterrupted`, Ctrl-C while training, a KeyboardInterrupt (``except Exception`` does not catch
it), after which the same call continues the run.

``import medtrain`` is light: the names above import torch and the rest when first used.
"""
__version__ = "0.3.0"  # pyproject.toml reads it; raised when the default recipe or a file format changes

# the names in the annotations (strings, as in the modules that implement them), for type checkers only: importing
# them would import torch
TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from pathlib import Path

    from torch import nn

    from medtrain.predictor import Predictor
    from medtrain.reuse import RunResult
del TYPE_CHECKING


def train(config=None, *, resume: "str | Path | None" = None, verbose: "bool" = True, callbacks: "list | None" = None,
          evaluate_test: "bool" = True, idle_settings: "bool" = False) -> "RunResult":
    """Train a network, keep the epoch of its ``checkpoint`` rule (``auto``: the last for the default 2D network
    trained from scratch to the end of its schedule, the best validation epoch otherwise), evaluate it on the test
    split and write the run directory.

    ``medtrain.train({"dataset": "bloodmnist", "epochs": 5})`` does what ``medtrain train --dataset bloodmnist
    --epochs 5`` does. A finished run of the same settings in the run directory is returned as it is, not trained
    again; an interrupted one is continued from its last checkpoint.

    Args:
        config: the settings: a dict of the flat keys of ``medtrain train --help`` (``{"model": "resnet18",
            "epochs": 5}``; what is left out takes its default: MedMNIST's ``pneumoniamnist``, downloaded into
            the cache, and the default recipe), a :class:`Config`, or the path of a YAML file. ``out`` names the
            run directory; without it, ``runs/<dataset or data file name>-<model>-s<seed>`` under the working
            directory. A dict's ``data`` may be a path (folder, CSV, .npz, DICOM, NIfTI) or images in memory:
            ``(images, labels)`` (uint8 ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)``, volumes
            ``(N, D, H, W)``; labels ``(N,)`` class indices or an ``(N, L)`` 0/1 multi-label matrix), split by
            ``val_fraction``, ``test_fraction`` and ``seed``, or ``{"train": (x, y), "val": ..., "test": ...}``.
            The arrays are written once as a .npz in the cache (``data_dir``), ``arrays/<sha256>/arrays.npz``,
            which the run reads as its data (the summary names it). With ``resume``: a dict of the settings given
            again (or None); they must equal the run's own, except ``progress``, ``data_dir``, ``store``,
            ``accelerator``, ``strategy`` and ``out``.
        resume: a run directory to continue from its last checkpoint, with its saved settings.
        verbose: print the summary table (Lightning's progress bars follow the ``progress`` setting:
            ``{"progress": False}`` silences them).
        callbacks: extra Lightning callbacks for the Trainer.
        evaluate_test: False leaves the test split out of the run altogether (its ``test`` metrics are
            empty): for the trials of a search, which must be steered by validation alone.
        idle_settings: accept an augmentation setting changed from its default that no op of ``augment``
            reads (``aa_policy`` without ``autoaugment``); refused by default. A grid of cells (compare, a
            search) sets it: a setting given to all cells applies to those whose augmentation reads it.

    Returns:
        a :class:`~medtrain.reuse.RunResult`: the content of the run's ``metrics.json`` as a dict (``m["test"]
        ["auc"]``; equal to ``json.load`` of the file, a finished run returned again or not), with the run
        directory, absolute, as ``.run_dir``: for :func:`evaluate`, ``medtrain.load(m.run_dir).predict(images)``,
        export and explain. The global random generators (torch, numpy, random) are as they were before the
        call; the run itself is seeded by ``seed``.

    Raises:
        MedtrainError: bad settings or data (one line saying what to change); a run of other settings in
            ``out``, or a finished run of these settings whose data changed since (another ``out`` trains on
            the data as they are now).
        TrainingInterrupted: Ctrl-C or SIGTERM while training. A :class:`KeyboardInterrupt`, not a
            MedtrainError, so that ``except Exception`` in a loop of runs does not swallow it; the run directory
            is kept and the same call again continues the run from its last checkpoint.
        TrainingDiverged: a MedtrainError: the weights became NaN or infinite before any epoch was validated;
            the run directory it created is removed, and other settings (a lower ``lr``) are needed.

    Under several processes (``devices`` > 1 or ``num_nodes`` > 1, Lightning's DDP) every process runs
    this function: Lightning's launcher re-runs the command line or script that called it, torchrun and
    SLURM start them all. Only the first process (global rank 0) checks and writes the run directory and
    evaluates the selected weights; the others train their share and return ``{}``.
    """
    from medtrain.api import train as _train

    return _train(config, resume=resume, verbose=verbose, callbacks=callbacks, evaluate_test=evaluate_test,
                  idle_settings=idle_settings)


def evaluate(run_dir: "str | Path", split: "str" = "test", *, verbose: "bool" = True) -> "dict":
    """Score a finished run's saved weights (its kept epoch) on one of its splits again.

    The run's test-time augmentation, MC dropout, calibration temperature and operating-point threshold are
    applied as when it was trained, so the result holds its ``calibration`` (ECE before and after scaling) and
    ``operating_point`` figures too. The split's images are checked against the digest the run recorded.

    Args:
        run_dir: a run directory (``medtrain.train(...).run_dir``).
        split: ``"test"``, ``"val"`` or ``"train"``.
        verbose: print the table and the notes on a run of an older medtrain.

    Returns:
        the metrics, as ``metrics.json`` holds a split's (``auc``, ``acc``, their intervals, per class), and
        ``data_checked_by`` (``"sha256"``; ``"labels"`` or None for a run that recorded no digest). They are
        also written to ``RUN/eval_<split>.json``.

    Raises:
        MedtrainError: not a finished run, the split's data changed since the run or are gone, or the split is
            empty.
    """
    from medtrain.api import evaluate as _evaluate

    return _evaluate(run_dir, split, verbose=verbose)


def load(run_dir: "str | os.PathLike", batch_size: "int | None" = None, calibrated: "bool" = True,
         tta: "bool" = True) -> "Predictor":
    """A finished run, ready to predict: ``medtrain.load(run_dir).predict(images)`` gives the class probabilities
    ``(N, K)``, as ``medtrain eval`` computes them; the columns are ``.labels``.

    ``images``: a path (image file, folder, CSV with a ``path`` column, .npz; NIfTI or DICOM series for 3D
    runs), a uint8 array or tensor ``(N, C, *spatial)``, one image, a PIL image, or a list of these. They are
    prepared as the run prepared its own (size, channels, window) and the network is applied with the run's
    test-time views and MC dropout. Its ``model.safetensors`` and ``config.yaml`` are enough: a model handed on
    without the rest predicts as its run does.

    Args:
        run_dir: a run directory.
        batch_size: images per forward pass; None: 256 for inputs up to 64 px (64^3 voxels), fewer for larger
            ones (4 at 512 px), so that memory does not grow with the image size.
        calibrated: False: the raw probabilities, not scaled by the temperature the run fitted (if any).
        tta: False: one view per image, not the average over the run's test-time views.

    Returns:
        a :class:`~medtrain.predictor.Predictor` (``predict``, ``decide``, ``stream``, ``labels``, ``task``).

    Raises:
        MedtrainError: not a finished run (e.g. a cross-validation folder: name one fold), weights that do not
            fit its model, ``batch_size`` < 1, or ``calibrated``/``tta`` not True or False.
    """
    from medtrain.predictor import load as _load

    return _load(run_dir, batch_size=batch_size, calibrated=calibrated, tta=tta)


def create_model(name: "str", in_chans: "int" = 3, num_classes: "int" = 2, *, dropout: "float" = 0.0,
                 drop_path: "float" = 0.0, drop_block: "float" = 0.0, batch_norm: "bool" = True,
                 **kwargs) -> "nn.Module":
    """Build a classifier by name, untrained: an ``nn.Module`` mapping ``(B, in_chans, H, W)`` (3D networks:
    ``(B, in_chans, D, H, W)``) to ``(B, num_classes)`` logits.

    Args:
        name: a medtrain model (:func:`list_models`) or any timm model name; the suffix ``-separable`` makes
            every standard convolution depthwise + pointwise.
        in_chans: input channels (1 for grey images, 3 for RGB).
        num_classes: outputs of the classifier (labels for multi-label tasks).
        dropout: probability of dropping a unit of the pooled features before the classifier; 0 <= p < 1.
        drop_path: stochastic-depth rate inside residual networks.
        drop_block: DropBlock probability in the last two stages of a ResNet-family network (others refused).
        batch_norm: False builds the same architecture with every BatchNorm removed (a network without any refused).
        **kwargs: passed to the builder; ``input_size`` (pixels: stems are adapted when it is <= 64) and
            ``separable`` are medtrain's own. See :func:`medtrain.models.create_model`.

    Raises:
        MedtrainError: an unknown name (with the nearest ones), an option the builder does not take, or a value
            out of range.
    """
    from medtrain.models import create_model as _create

    return _create(name, in_chans, num_classes, dropout=dropout, drop_path=drop_path, drop_block=drop_block,
                   batch_norm=batch_norm, **kwargs)


def list_models() -> list:
    """The names :func:`create_model` builds (2D and 3D), sorted."""
    from medtrain.models import list_models as _list

    return _list()


# the names imported when first used: name -> its module
_LAZY = {"Config": "medtrain.config", "MedtrainError": "medtrain.errors", "TrainingDiverged": "medtrain.errors",
         "TrainingInterrupted": "medtrain.errors"}
# the submodules offered as attributes before they are imported (``medtrain.errors`` in a fresh interpreter)
_SUBMODULES = ("errors",)


def __getattr__(name: str):
    """``medtrain.Config``, the error classes and ``medtrain.errors``, imported on first use. Any other name is
    an AttributeError, so that ``from medtrain import config`` still finds the submodule."""
    if name in _LAZY or name in _SUBMODULES:
        import importlib

        module = importlib.import_module(_LAZY.get(name, f"medtrain.{name}"))
        value = getattr(module, name) if name in _LAZY else module
        globals()[name] = value  # once: later look-ups no longer come here
        return value
    raise AttributeError(f"module 'medtrain' has no attribute {name!r}")


def __dir__() -> list:
    return sorted({*globals(), *_LAZY, *_SUBMODULES})


__all__ = ["Config", "MedtrainError", "TrainingDiverged", "TrainingInterrupted", "train", "evaluate", "load",
           "create_model", "list_models", "__version__"]
