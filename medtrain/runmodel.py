"""A finished run's network, rebuilt from its run directory alone: :func:`load_run_module` reads the config
and ``model.safetensors`` (whose metadata hold the classes, input shape and normalisation), so predict,
export, explain and ``evaluate`` need neither the training data nor the Trainer."""
from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import shlex
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from medtrain import config as config_mod
from medtrain import rundir
from medtrain.config import Config
from medtrain.data import Split, Splits
from medtrain.data.folder import IMAGE_DEPTH
from medtrain.errors import MedtrainError
from medtrain.models.factory import old_no_batch_norm_removed
from medtrain.models.weights import load_state, read_meta
from medtrain.tasks import BINARY, MULTICLASS, class_names
from medtrain.training.build import build_model, input_transform
from medtrain.training.network import Network, ProbeModel


@dataclasses.dataclass
class RunModel:
    """A finished run's network, ready to predict: the module (uint8 images in, logits out), the run's
    resolved config and what ``model.safetensors`` says about itself (classes, label names, input shape,
    normalisation, the training images' bit depth: :attr:`image_depth`)."""

    module: Network
    cfg: Config
    meta: dict
    @property
    def image_depth(self) -> str | None:
        """The bit depth of the run's training images (``8-bit``, ``more than 8 bits``, ``mixed``), which predict,
        ``eval --data`` and explain hold image files and PIL images to
        (:func:`medtrain.data.folder.check_depth`): the weights' metadata's, so a model handed on as
        ``model.safetensors`` and ``config.yaml`` keeps it (it had been in ``metrics.json`` alone, and such a copy
        predicted a 16-bit PNG its run refuses); None: not checked (volumes, DICOM, a run from before it was
        recorded)."""
        return self.meta.get(IMAGE_DEPTH)

    @property
    def label_names(self) -> list[str]:
        """Class names in output order."""
        return class_names(self.meta.get("label_names") or {}, int(self.meta["num_classes"]))

    def without_tta(self) -> "RunModel":
        """The same network predicting each image once, without the run's test-time views (half the cost of
        flip TTA). Its temperature and threshold were fitted on the averaged views, so its probabilities
        and decisions can differ a little from the run's own."""
        return dataclasses.replace(self, cfg=dataclasses.replace(self.cfg, tta="none"))

    @property
    def input_shape(self) -> tuple:
        """``(C, *spatial)`` of one image the network takes."""
        s = int(self.meta["input_size"])
        return (int(self.meta["in_chans"]),) + (s,) * int(self.meta.get("spatial_dims", 2))


@contextlib.contextmanager
def float32_default() -> Iterator[None]:
    """torch's default dtype float32 for the block, the caller's restored after it. A caller that set
    ``torch.set_default_dtype(torch.float64)`` (a notebook's numerics) had networks built in float64, which
    training under bf16 autocast and the float32 weights of a run then refused ("Input type (CPUBFloat16Type)
    and weight type (torch.DoubleTensor)", "expected scalar type Float but found Double"). torch has no
    context manager for it."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


@contextlib.contextmanager
def isolate_rng(include_cuda: bool = True) -> Iterator[None]:
    """The global random states of torch (CPU, and each CUDA device's with ``include_cuda``), numpy and Python's
    ``random`` as they were before the block, restored after it (an exception too).

    What ``lightning.pytorch.utilities.seed.isolate_rng`` does, written out here: importing it imports the whole of
    Lightning, seconds of start-up for predict, export and explain, which load a run and train nothing.
    ``include_cuda=False`` leaves CUDA alone (a forked process must not initialise it)."""
    devices = list(range(torch.cuda.device_count())) if include_cuda and torch.cuda.is_available() else []
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)


def _shape_only_splits(meta: dict) -> Splits:
    """Empty splits with the run's image shape and classes: what building its network needs, no data."""
    shape = (0, int(meta["in_chans"])) + (int(meta["input_size"]),) * int(meta.get("spatial_dims", 2))
    empty = Split(torch.zeros(shape, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64))
    names = meta.get("label_names") or {str(j): str(j) for j in range(int(meta["num_classes"]))}
    return Splits(name="run", task=meta["task"], label_names=names, train=empty, val=empty, test=empty)


def received_model(run_dir: str | Path) -> bool:
    """``run_dir`` holds a finished run's model handed on without its ``metrics.json`` (``model.safetensors`` and
    ``config.yaml``, the minimum to use it), not an interrupted run: nothing to resume training from (no
    checkpoint, no linear probe's cached codes).

    Only :func:`medtrain.rundir.write_run` writes the weights, once training and every choice made on
    validation are done, with what using them needs in their metadata (classes, normalisation, the chosen TTA,
    the temperature, the operating point's threshold, the training images' bit depth; a class-weighting shift is
    folded into the classifier's bias); the rest is in the config. So predict, export and explain need nothing of ``metrics.json``, while
    ``train --resume`` of such a folder would train from scratch over the model (a collaborator had been told
    to do so)."""
    run_dir = Path(run_dir)
    return (rundir.is_run(run_dir) and (run_dir / rundir.WEIGHTS_FILE).is_file() and not rundir.is_finished(run_dir)
            and not rundir.has_checkpoint(run_dir) and not (run_dir / rundir.FEATURES_FILE).is_file())


def check_run_dir(run_dir) -> None:
    """Refuse a ``run_dir`` that is no path in one line naming the argument: ``medtrain.load(None)``,
    ``medtrain.evaluate(123)``, ``explain(None)`` and ``export_run(result)`` had been pathlib's TypeError. The
    result of ``train()`` (a :class:`~medtrain.reuse.RunResult`) given for its directory is pointed to its
    ``.run_dir``, and a dict holding a ``run_dir`` (``tune``'s result, best.json) to its ``['run_dir']``.
    :func:`load_run_module` checks it, so everything that loads a run does."""
    if isinstance(run_dir, (str, os.PathLike)):
        return
    hint = "; give train()'s result's .run_dir" if hasattr(run_dir, "run_dir") else \
        "; give its ['run_dir']" if isinstance(run_dir, dict) and "run_dir" in run_dir else ""
    got = "None" if run_dir is None else f"{type(run_dir).__name__} {str(run_dir)[:60]}"
    raise MedtrainError(f"run_dir must be the path of a run directory (str or Path), got {got}{hint}")


def load_run_module(run_dir: str | Path) -> RunModel:
    """Rebuild a finished run's network from its config and ``model.safetensors`` alone (the training
    data are not read: the normalisation and the classes are in the weights' metadata; ``metrics.json`` is
    not read either, so a model handed on as those two files is used as its run is: :func:`received_model`).

    Raises:
        MedtrainError: ``run_dir`` is no path (:func:`check_run_dir`) or not a finished run, or its weights do not
            fit its model.
    """
    check_run_dir(run_dir)
    run_dir = Path(run_dir)
    if not rundir.is_run(run_dir):
        if (run_dir / rundir.WEIGHTS_FILE).is_file():  # a model handed on without the settings it is used with
            raise MedtrainError(f"{run_dir} holds {rundir.WEIGHTS_FILE} without {rundir.CONFIG_FILE}, the run's "
                                "settings its weights are used with (network, TTA, MC dropout, colour space); copy "
                                "it too")
        folds = sorted(p.name for p in run_dir.glob("fold*") if (p / rundir.WEIGHTS_FILE).is_file())
        hint = f"; it holds the cross-validation runs {', '.join(folds)}: name one, e.g. {run_dir / folds[0]}" \
            if folds else ""
        raise MedtrainError(f"{run_dir} is not a finished run directory (needs {rundir.CONFIG_FILE} and "
                            f"{rundir.WEIGHTS_FILE}){hint}")
    if not rundir.is_finished(run_dir):  # weights written before metrics.json may not be final (write_run)
        pid = rundir.lock_holder(run_dir)
        if pid is not None:
            raise MedtrainError(f"{run_dir} is still being trained{f' (pid {pid})' if pid else ''}; wait for it "
                                "to finish")
        if not received_model(run_dir):
            # interrupted (Ctrl-C, kill -9): it had been called "not a finished run directory", with no way on
            raise MedtrainError(f"{run_dir} did not finish (no {rundir.METRICS_FILE}); finish it with "
                                f"`medtrain train --resume {shlex.quote(str(run_dir))}`")
    if not (run_dir / rundir.WEIGHTS_FILE).is_file():  # finished (metrics.json) without them: as train says it
        refuse_incomplete(run_dir)
    cfg = rundir.load_config(run_dir)
    meta = _read(read_meta, run_dir)
    need = ("model", "in_chans", "num_classes", "input_size", "task", "mean", "std")
    missing = [k for k in need if k not in meta]
    if len(missing) == len(need):  # no medtrain metadata at all: not a medtrain weights file
        raise MedtrainError(f"{run_dir / rundir.WEIGHTS_FILE} lacks the run metadata ({', '.join(need)})")
    if missing:  # a medtrain weights file from before a key was recorded (input_size: before 2026-12-02)
        raise MedtrainError(f"{run_dir / rundir.WEIGHTS_FILE} was written by an older medtrain without "
                            f"{', '.join(missing)} in its metadata; retrain the run with this version of medtrain")
    refuse_old_no_batch_norm(run_dir, cfg, meta)
    if cfg.mc_dropout and _masks_per_batch(run_dir, meta):
        print(f"medtrain: note: {run_dir} was {rundir.FORMAT_0} (run format 0), whose MC-dropout masks were drawn per "
              "batch (now per image): its numbers can differ from those in its metrics.json", file=sys.stderr)
    return build_run_model(cfg, meta, _read(load_state, run_dir), source=run_dir / rundir.WEIGHTS_FILE)


def _read(reader, run_dir: Path):
    """``reader`` (the weights' metadata or tensors) of the run's ``model.safetensors``; a damaged file (cut short,
    overwritten) is one line naming it, why, and the way on: it had been "is not a readable weights file
    (MedtrainError)", the reader's own line, naming the file and the reason, dropped."""
    try:
        return reader(run_dir / rundir.WEIGHTS_FILE)
    except MedtrainError as e:  # (models.weights: safetensors' own errors become one line naming the file)
        raise MedtrainError(f"{e}: the run's weights are damaged; copy the file again from where the run was "
                            f"trained, or {_train_again(run_dir)}") from None


def _train_again(run_dir: Path, flags: str = "") -> str:
    """The way on for a run whose weights are gone or damaged: its settings (with ``flags``), trained again."""
    config = shlex.quote(str(run_dir / rundir.CONFIG_FILE))
    return f"train it again into another --out (`medtrain train --config {config}{flags} --out NEW`; out= in " \
        f"Python), or delete {run_dir} and train it again"


def refuse_old_no_batch_norm(run_dir: Path, cfg: Config, meta: dict) -> None:
    """Refuse, in one line, a run trained with ``batch_norm: false`` by a medtrain older than the rule of BatchNorms
    alone (its weights without :data:`medtrain.rundir.BATCH_NORM_REMOVED`; the version number did not change) whose
    network that older rule built otherwise: a timm network outside the zoo with other norm layers than plain
    BatchNorms (:func:`medtrain.models.factory.old_no_batch_norm_removed`). timm had been given a ``norm_layer`` of
    identity, so an EfficientNet's ``BatchNormAct2d`` went with the activation inside it and a ConvNeXt's LayerNorms
    went too: rebuilt today from the same weights, the network computes something else (an EfficientNet-B0 run of
    test AUC 0.811 evaluated at 0.603, without a word). A network whose only norms are plain BatchNorms was built
    the same by both rules and loads."""
    if cfg.batch_norm or meta.get(rundir.BATCH_NORM_REMOVED) == rundir.BATCHNORM_ONLY:
        return
    with isolate_rng(include_cuda=torch.cuda.is_initialized()), float32_default():
        old = old_no_batch_norm_removed(cfg.model, int(meta["in_chans"]), int(meta["num_classes"]),
                                        int(meta["input_size"]))
    if old is None:
        return
    (kinds, has_bn), name = old, cfg.model
    acts = " and the activation inside each norm+activation layer" if any("Act" in k for k in kinds) else ""
    what = f"also removed {name}'s norm layers other than plain BatchNorm ({', '.join(kinds)}){acts}" if kinds else \
        f"left {name} as it was (it has no norm layers)"
    now = "removes its BatchNorms alone and would compute another network from its weights" if has_bn else \
        f"{'keeps them, ' if kinds else ''}refuses --no-batch-norm on a network without BatchNorm and cannot " \
        "rebuild the network of its weights"
    raise MedtrainError(f"{run_dir} was trained with --no-batch-norm by an older medtrain, whose rule on a timm "
                        f"network outside medtrain's zoo {what}: this version {now}; "
                        f"{_train_again(run_dir, '' if has_bn else ' --batch-norm')}")


def refuse_incomplete(run_dir: str | Path) -> None:
    """Refuse, in one line naming the file and the way on, a run whose ``metrics.json`` says finished but whose
    weights are missing or damaged (:func:`weights_trouble`): what ``train`` (the same settings again, ``--resume``:
    :func:`medtrain.reuse._already_finished`) and eval, predict, export and explain (:func:`load_run_module`) say
    alike; the latter had said "is not a finished run directory (no model.safetensors)" of it."""
    trouble = weights_trouble(run_dir)
    if trouble:
        raise MedtrainError(f"{run_dir} is incomplete: its {rundir.METRICS_FILE} says finished, but {trouble}; "
                            f"{_train_again(Path(run_dir))}")


def weights_trouble(run_dir: str | Path) -> str | None:
    """What is wrong with the ``model.safetensors`` of a run whose ``metrics.json`` says it finished: missing
    (deleted) or not readable (cut short, overwritten: its header or its length wrong), as a clause naming it;
    None where its header reads (the tensors are not read: :func:`load_run_module` reads them).
    :func:`medtrain.rundir.is_finished` reads ``metrics.json`` alone, as compare and the searches, which reuse a
    run's numbers, need; a run returned as finished is also used by its weights."""
    path = Path(run_dir) / rundir.WEIGHTS_FILE
    if not path.is_file():
        return f"{path} is missing"
    try:
        read_meta(path)
    except MedtrainError as e:
        return str(e)
    return None


def _masks_per_batch(run_dir: Path, meta: dict) -> bool:
    """Whether the run may have drawn its MC-dropout masks per batch, as medtrain did before 2026-12-04: a run of
    format 0 (:data:`medtrain.rundir.RUN_FORMAT`) whose ``metrics.json`` has no ``provenance`` (recorded since
    2026-12-05) or that has no ``metrics.json`` to tell (a model handed on)."""
    if rundir.recorded_format(meta) or rundir.run_format(run_dir):
        return False
    return not rundir.is_finished(run_dir) or "provenance" not in rundir.read_metrics(run_dir)


def build_run_model(cfg: Config, meta: dict, state: dict | None = None, source: str | Path = "weights") -> RunModel:
    """The network ``cfg`` and ``meta`` (a ``model.safetensors`` metadata dict) describe, with ``state``
    loaded (left as initialised when None: untrained models for tests and benchmarks).

    Built in float32 whatever the caller's default dtype, and without advancing the caller's random generators
    (the network is initialised at random before its weights replace that: ``medtrain.load`` had changed a
    notebook's next draws)."""
    with isolate_rng(include_cuda=torch.cuda.is_initialized()), float32_default():
        return _build_run_model(cfg, meta, state, source)


def _build_run_model(cfg: Config, meta: dict, state: dict | None, source: str | Path) -> RunModel:
    shape = _shape_only_splits(meta)
    model, _ = build_model(cfg, shape, transfer=False)  # the run's own weights follow; no source needed
    if state is not None:
        if "probe_layer" in meta:  # a linear-probe run: the frozen network and its linear layer
            w = state["linear.weight"]
            model = ProbeModel(model, int(meta["probe_layer"]), torch.zeros_like(w), torch.zeros(len(w)))
        missing, unexpected = model.load_state_dict(state, strict=False)
        bad = [k for k in missing if not k.endswith("_extra_state")] + list(unexpected)
        if bad:
            raise MedtrainError(f"{source} does not fit the run's model ({', '.join(bad[:3])} ...)")
    module = Network(model, shape.task, shape.num_classes, torch.tensor(meta["mean"]), torch.tensor(meta["std"]),
                     cfg.to_dict(), input_transform=input_transform(cfg))
    module.eval()
    return RunModel(module, cfg, meta)


def untrained_run_model(model: str, in_chans: int = 1, num_classes: int = 2, input_size: int = 28,
                        spatial_dims: int = 2, **settings) -> RunModel:
    """A :class:`RunModel` of an untrained ``model`` (mean 0.5, std 0.25 per channel, weights drawn with seed
    0): what export and its checks can be tried on without training.

    Its BatchNorm statistics are those of one batch of random images, as training would set them: with
    the initial statistics (mean 0, variance 1) deep networks' logits grow to thousands and the
    probabilities saturate to exactly 0 and 1, which would hide any difference a check looks for."""
    cfg = config_mod.resolve({"model": model, **settings})
    meta = {"model": model, "in_chans": in_chans, "num_classes": num_classes, "input_size": input_size,
            "spatial_dims": spatial_dims, "task": MULTICLASS if num_classes > 2 else BINARY,
            "label_names": {str(j): f"class{j}" for j in range(num_classes)},
            "mean": [0.5] * in_chans, "std": [0.25] * in_chans}
    with torch.random.fork_rng():  # the same untrained weights every call, the caller's generator untouched
        torch.manual_seed(0)
        run = build_run_model(cfg, meta)
    norms = [m for m in run.module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # the running statistics become the plain average over the batches seen
    if norms:
        g = torch.Generator().manual_seed(0)
        run.module.train()
        with torch.no_grad():
            run.module(torch.randint(0, 256, (8, *run.input_shape), generator=g, dtype=torch.uint8))
        run.module.eval()
    return run
