"""The Python entry points: ``train(config)``, ``evaluate(run_dir)`` and ``train_or_reuse(config)``.

What a run directory holds is described in :mod:`medtrain.rundir`, its one writer; whether a folder that holds a run
is reused, continued or refused, in :mod:`medtrain.reuse`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shlex
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

import torch

from medtrain import config as config_mod
from medtrain import provenance, rundir
from medtrain._io import sweep_temporaries
from medtrain._io.cache import root as cache_root
from medtrain.augment.policies import policy_digests
from medtrain.config import Config
from medtrain.data import Split, load_splits
from medtrain.data.arrays import unwritten
from medtrain.data.duplicates import find_duplicates, warn_duplicates
from medtrain.data.store import local_processes
from medtrain.errors import MedtrainError, TrainingDiverged, TrainingInterrupted
from medtrain._out_checks import check_out_of_data
# train's inputs, checked before any data are read
from medtrain._train_inputs import _arrays_written, _as_config, _new_run_folder, check_bools
# the rules of a folder that already holds a run; RESUMABLE_KEYS and check_reusable are imported from here too
from medtrain.reuse import (RESUMABLE_KEYS, RunResult, _already_finished, _resume_config, _same_run, check_policies,
                            check_reusable, check_same_data, resume_named, source_gone)
from medtrain.runscores import recorded_interval_notes, score_split, write_scores
from medtrain.operating_point import positive_index
# check_run_dir: medtrain.load's check of a run folder given, one line naming the argument
from medtrain.runmodel import check_run_dir, float32_default, isolate_rng, load_run_module, received_model
from medtrain.tasks import BINARY, MULTILABEL
from medtrain.models.factory import BatchNormAbsent, check_model_name, create_model, default_model
from medtrain.models.inflate import check_inflatable
from medtrain.models.pretrained import check_source_path
from medtrain.training import choices
from medtrain.training.build import check_network_input, resolve_auto
from medtrain.training.estimate import RunEstimate
from medtrain.training.distributed import check_devices, is_multiprocess, launch_rank, single_process_only
from medtrain.models.cost import macs_per_image
from medtrain.training.fit import check_augment, fit, smaller_images
from medtrain.training.probe import fit_probe

#: An image side above which a run from own images says it could be resized (``--image-size``).
LARGE_SIDE = 1024


def train(config=None, *, resume: str | Path | None = None, verbose: bool = True, callbacks: list | None = None,
          evaluate_test: bool = True, idle_settings: bool = False) -> RunResult:
    """:func:`medtrain.train`, documented there (``help(medtrain.train)``: the settings, the :class:`RunResult`
    returned, what it raises); ``medtrain train`` and :func:`train_or_reuse` call it too."""
    check_bools(verbose=verbose, evaluate_test=evaluate_test, idle_settings=idle_settings)
    if resume is not None:  # resume=123 or train()'s result had been pathlib's TypeError
        try:
            check_run_dir(resume)
        except MedtrainError as e:  # the same rule and words as medtrain.load's, naming this argument
            raise MedtrainError(str(e).replace("run_dir must", "resume must", 1)) from None
        if not str(resume).strip():  # --resume "" (an unset shell variable) had trained a new run into the default
            raise MedtrainError(f"--resume is empty ({str(resume)!r}); name the run folder")  # folder (the CLI's)
    with _caller_state_kept(), float32_default():
        return _train(config, resume, verbose, callbacks, evaluate_test, idle_settings)


def _reads(run_dir: Path, path: Path) -> bool:
    """Whether the run in ``run_dir`` (started, finished or not) trains on ``path`` (its config unreadable: it may)."""
    try:
        return rundir.is_run(run_dir) and os.path.samefile(rundir.read_config(run_dir).get("data") or "", path)
    except (OSError, MedtrainError):
        return rundir.is_run(run_dir)


@contextlib.contextmanager
def _caller_state_kept():
    """A run seeds the global generators (Lightning's ``seed_everything``: torch, numpy, random and its
    ``PL_*`` variables); a notebook's own draws after ``train`` returned were then those after seed 0."""
    env = {k: v for k, v in os.environ.items() if k.startswith("PL_")}
    try:
        with isolate_rng(include_cuda=torch.cuda.is_initialized()):
            yield
    finally:
        for k in [k for k in os.environ if k.startswith("PL_") and k not in env]:
            del os.environ[k]
        os.environ.update(env)


def _train(config, resume, verbose: bool, callbacks, evaluate_test: bool, idle_settings: bool = False) -> dict:
    t0 = time.perf_counter()
    provenance.start_peak_memory()  # metrics.json's peak memory is this run's, not the process's so far
    writer = launch_rank() == 0
    verbose = verbose and writer
    config, written = _arrays_written(config, verbose, resume)
    try:
        return _train_given(config, resume, verbose, callbacks, evaluate_test, idle_settings, t0, writer)
    except BaseException:  # refused (labels of one class, another run in out...): the arrays written for it go too
        if written is not None and not _reads(written[2], written[0]):
            unwritten(*written[:2])
        raise


def _train_given(config, resume, verbose: bool, callbacks, evaluate_test: bool, idle_settings: bool, t0: float,
                 writer: bool) -> dict:
    same = False  # the same settings given again for a run in --out: it continues, or is returned as it is
    if resume is None:
        cfg = asked = _as_config(config)
        check_network_input(cfg)  # a network that cannot take --image-size: before the data are read or out made
        typed = set(config) if isinstance(config, Mapping) else None  # a Config's or YAML's: unknown
        run_dir = _new_run_folder(cfg, writer)
        if isinstance(config, dict):  # the settings a notebook typed, refused as the CLI refuses them typed
            try:  # an older run's own settings, refused by a check added since: its resume named, as the CLI does
                config_mod.checks.check_typed_for_a_new_run(cfg, set(config))
            except MedtrainError as e:
                raise MedtrainError(f"{e}{resume_named(cfg, run_dir, set(config), python=True)}") from None
        if _same_run(cfg, run_dir, writer, typed=typed, verbose=verbose):
            same, resume = True, run_dir
            config = {k: getattr(cfg, k) for k in RESUMABLE_KEYS if k != "out" and getattr(cfg, k) is not None}
    if resume is not None:
        run_dir = Path(resume)
        if config is not None and (isinstance(config, Config) or not isinstance(config, Mapping)):
            raise MedtrainError("with resume, config is a dict of the settings given again (or None)")
        cfg = _resume_config(run_dir, config)
        if rundir.is_finished(run_dir):
            return _already_finished(run_dir, verbose, cfg if same else None)
        if writer:
            rundir.refuse_if_busy(run_dir)  # at once, not after loading the data
        if received_model(run_dir):  # a model handed on: "resuming" it had trained from scratch over it, unsaid
            raise MedtrainError(f"{run_dir} holds a finished model without its {rundir.METRICS_FILE} and no checkpoint "
                                "to resume from; train into a new --out")
        if same and verbose:
            print(f"continuing the interrupted run in {run_dir} (same settings){source_gone(cfg, run_dir)}", flush=True)
    else:
        check_out_of_data(cfg, run_dir)
        # the rule of a flipping TTA train's flip decision asks (a config file's settings, or a Config's, are not
        # typed): before the data are read (it had refused after loading them and printing the run's first line)
        config_mod.flips.check_tta_flips_trained(cfg)
        if cfg.pretrained:  # a source that is no source: before the data are read and the run's first line
            check_source_path(cfg.pretrained)
    check_model_name(cfg.model)  # before anything is written
    if not cfg.batch_norm and cfg.model != "auto":  # a network with no batch norm to remove, before the data are read
        try:  # (it had been refused after the data, the run's first line and the flip pilots)
            with torch.device("meta"):
                create_model(cfg.model, in_chans=1, num_classes=2, batch_norm=False)
        except BatchNormAbsent:
            raise
        except Exception:  # noqa: BLE001  (any other problem of the network is said with the data's shapes, later)
            pass
    check_devices(cfg, training=True)
    processes = local_processes(cfg.devices, cfg.accelerator)  # of this machine, each holding its copy of the data
    splits = rundir.run_splits(run_dir, cfg, processes, say=True) if resume is not None else load_splits(cfg, processes)
    splits.extra["duplicates"] = find_duplicates(splits)  # before a search's trial drops its test images
    if writer:
        warn_duplicates(splits.extra["duplicates"], splits.name, "volume" if len(splits.spatial_shape) == 3 else "image")
    if not evaluate_test:  # a search's trial: the test images are dropped before training sees the data
        splits = dataclasses.replace(splits, test=Split(splits.test.images[:0], splits.test.labels[:0]))
    members_auto = cfg.members is None  # auto's count follows the precision trained in (a float32 fallback: fit)
    cfg = resolve_auto(cfg, len(splits.spatial_shape))  # the saved config names the concrete lr, batch, network
    check_network_input(cfg, splits)  # the data's own size and channels, before anything is written
    if cfg.data is None and cfg.data_dir is None and splits.source and resume is None:
        # the cache folder the MedMNIST file was read from ($MEDTRAIN_DATA or the default): eval, predict and explain
        # of this run then work in a shell without $MEDTRAIN_DATA (where it is set, it is still looked in). Found as
        # every cache path is (medtrain._io.cache), links not followed: a linked file's folder is not the cache (its
        # MedicalNet weights had been looked for, and downloaded, beside the file the link points to)
        cfg = dataclasses.replace(cfg, data_dir=os.path.abspath(cache_root()))
    if len(splits.spatial_shape) == 3:
        check_inflatable(cfg.model)  # a 2D family that cannot become 3D is refused by name, nothing written
    if cfg.operating_point is not None and splits.task not in (BINARY, MULTILABEL):  # before anything is written
        raise MedtrainError(f"operating_point {cfg.operating_point} needs a binary task or a multi-label one (a "
                            f"threshold per label); {splits.name} is {splits.task}")
    positive_index(cfg.positive_class, splits.label_names)  # an unknown class is refused before anything is written
    if cfg.positive_class is not None and splits.task != BINARY:  # it had been recorded and read by nothing
        raise MedtrainError(f"positive_class {cfg.positive_class} applies to a binary task; {splits.name} is "
                            f"{splits.task}")
    # as is an augmentation setting or op that cannot apply
    check_augment(cfg, splits, new=resume is None and not idle_settings)
    created = resume is None and not run_dir.exists() and writer
    # an --out folder that exists but holds no run (made empty by the user, or holding their files): what this call
    # writes there is removed again if it is refused before training ends, what was there is kept
    had = {p.name for p in run_dir.iterdir()} if writer and not created and run_dir.is_dir() else None
    if writer:
        run_dir.mkdir(parents=True, exist_ok=True)  # for its lock
    # taken before anything is written (a refused --resume had rewritten the running run's config.yaml) and
    # outside the clean-up below: a process refused here must not remove the folder another one trains in
    with rundir.training_lock(run_dir, created) if writer else contextlib.nullcontext():
        # checked again now that no other process can start or finish a run here: another one may have done so
        # while this one loaded its data (a `train` had trained over a finished run, a `--resume` resumed one)
        if writer and resume is not None and rundir.is_finished(run_dir):
            return _already_finished(run_dir, verbose, cfg if same else None)
        if writer and resume is None and rundir.is_run(run_dir):
            _same_run(asked, run_dir, writer, started=True)  # other settings: refused, naming them
            if rundir.is_finished(run_dir):
                return _already_finished(run_dir, verbose, cfg)
            raise MedtrainError(f"{run_dir} was started by another process while this one loaded its data; run the "
                                "same command again to continue it")
        if writer:  # a killed writer's temporaries (.model.safetensors.<random>.tmp): older than our lock, none is live
            sweep_temporaries(run_dir, older_than=run_dir / rundir.LOCK_FILE, within=(rundir.CHECKPOINT_DIR,))
        try:
            if writer:
                rundir.write_config(run_dir, cfg)
                if splits.record is not None and resume is None:  # now, so that a resumed run can check its data
                    rundir.write_splits(run_dir / rundir.SPLITS_FILE, splits.record)
            return _train_in(cfg, splits, run_dir, resume is not None, callbacks, t0, verbose, members_auto)
        except Exception as e:
            # A user error found before the first epoch ended (an unreadable source, a bad layer name, a caller's
            # callback that raised, a bug) or a run that diverged before any usable epoch: leave nothing behind
            # (a half-started folder refused the same call again, "already holds a run"). Once a checkpoint
            # exists, or after Ctrl-C (a KeyboardInterrupt, as TrainingInterrupted is: never caught here), the
            # directory is for --resume; once metrics.json is written (its checkpoints removed) it is a finished run.
            fresh = not rundir.is_finished(run_dir) and (isinstance(e, TrainingDiverged) or not rundir.has_checkpoint(run_dir))
            if created and fresh:
                shutil.rmtree(run_dir, ignore_errors=True)
            elif fresh and resume is None and had is not None:  # its config.yaml and splits.csv had made the
                _remove_all_but(run_dir, had)  # corrected command "run with other settings" (a user walkthrough)
            raise


def _remove_all_but(run_dir: Path, kept: set[str]) -> None:
    """Remove what a refused call wrote into an existing folder: every entry not among ``kept`` (its lock file
    included: the lock is released when the call ends)."""
    for p in run_dir.iterdir():
        if p.name not in kept:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)


def start_line(splits, model: str, run_dir: Path) -> str:
    """The run's first line: its data (task, classes, images per split and, for patient data, the patients per split,
    as the summary's last line gives them), the network and the run folder."""
    sizes = "/".join(str(len(splits.split(s))) for s in ("train", "val", "test"))
    groups = [splits.split(s).groups for s in ("train", "val", "test")]
    patients = (f" of {'/'.join(str(len(set(g))) for g in groups)} patients"
                if all(g is not None for g in groups) else "")
    return (f"medtrain: {splits.name} ({splits.task}, {splits.num_classes} "
            f"{'labels' if splits.task == MULTILABEL else 'classes'}, train/val/test {sizes}{patients}, "
            f"{splits.in_chans}x{'x'.join(map(str, splits.spatial_shape))}) -> {model}{_inflated(splits, model)}, "
            f"run {run_dir}")


def _inflated(splits, model: str) -> str:
    """`` (a 2D network, inflated to 3D: I3D)`` where a 2D network trains on volumes: it had been done without a word,
    at a quarter of the default 3D network's speed (a walk)."""
    from medtrain.models.input_size import spatial_dims_of

    if len(splits.spatial_shape) != 3 or spatial_dims_of(model) == 3:
        return ""
    return " (a 2D network, its kernels inflated to 3D: I3D)"


def _train_in(cfg: Config, splits, run_dir: Path, resume: bool, callbacks, t0: float, verbose: bool,
              members_auto: bool = False) -> dict:
    if verbose:
        print(start_line(splits, cfg.model, run_dir), flush=True)
        side = max(splits.spatial_shape)
        if len(splits.spatial_shape) == 2 and side > LARGE_SIDE and cfg.image_size is None:
            # 16 radiographs of 3000 x 3000 had taken 12 GB within 30 s of a CPU run, without a hint
            print(f"medtrain: note: the images are {side} pixels wide and train at that size (networks' memory and "
                  f"time grow with the pixels); --image-size 224 or 512 resizes them", flush=True)
        shape = tuple(splits.spatial_shape)
        if len(shape) == 2 and cfg.model == default_model(2) and shape[0] * shape[1] > 64 * 64:
            # auto's network keeps its 28-px stem at any size: 7.43 GMACs at 224 px, 4.1x a standard ResNet-18's
            count = functools.partial(macs_per_image, in_chans=splits.in_chans, num_classes=splits.num_classes)
            macs, n = count(cfg.model, shape=shape), cfg.members or 1
            each = f" for each of its {n} networks" if n > 1 else ""
            # the size the data's kind allows (--image-size, MedMNIST's --size, arrays resized before saving)
            how, side = smaller_images(cfg, shape, target=64) or (None, None)
            smaller = f", {how} {count(cfg.model, shape=(side, side)) / 1e9:.2f} GMACs" if how else ""
            print(f"medtrain: note: {cfg.model} keeps its 28-px stem (3x3, stride 1, no max-pool) at "
                  f"{'x'.join(map(str, shape))}: {macs / 1e9:.2f} GMACs per image{each}, "
                  f"{macs / count(cfg.model, shape=(28, 28)):.0f}x its cost at 28 px; --model resnet18 (a stem that "
                  f"downsamples) costs {count('resnet18', shape=shape) / 1e9:.2f} GMACs at this size{smaller}",
                  flush=True)
    # Choices that can hurt (flips, TTA, the class-balanced loss) are made on validation: the flip before
    # training (recorded, so a resumed run trains the same way), the others on the trained network.
    made = (rundir.read_choices(run_dir) or {}) if resume else {}
    check_policies(run_dir, made.get("policies") or {})  # the run's last epochs had trained with another policy, unsaid
    policies = policy_digests(cfg.augment)
    flip = made.get("flip")
    if flip is None:
        flip = choices.decide_flip(cfg, splits, run_dir / rundir.PILOT_DIR, fit, pilots=not is_multiprocess(cfg),
                                   verbose=verbose)
        if launch_rank() == 0:
            rundir.write_choices(run_dir, {"flip": flip, "policies": policies})
    trained = choices.effective_config(cfg, flip)
    if cfg.transfer == "linear-probe":  # CNN codes + a linear classifier, no Lightning loop
        result = fit_probe(trained, splits, run_dir)
    else:
        if verbose:  # one line, early on, where the training steps project to over 10 minutes (as the pilots' is):
            # said by a verbose train (a batch job's progress=False too), not by compare's quiet cells
            smaller = smaller_images(cfg, tuple(splits.spatial_shape))
            callbacks = [*(callbacks or []), RunEstimate(smaller=smaller and smaller[0])]
        result = fit(trained, splits, run_dir, resume=resume, callbacks=callbacks, started=t0, verbose=verbose,
                     fallen=flip.get("precision"), members_auto=members_auto)  # a pilot's float32 fallback
        trained = result.cfg or trained
    if not result.global_zero or launch_rank() != 0:  # one writer, even where a process thinks itself alone
        return RunResult({}, run_dir)
    if result.interrupted:
        done = f"after epoch {result.stop_epoch + 1}" if result.stop_epoch >= 0 else "before its first epoch ended"
        raise TrainingInterrupted(f"interrupted {done}; continue with `medtrain train --resume "
                                  f"{shlex.quote(str(run_dir))}`",
                                  progress=f"interrupted {done}", python="in Python, train() with the same settings "
                                  f"continues it (or train(resume={str(run_dir)!r}))")
    tta = choices.decide_tta(trained, result.module, splits, flip)
    trained = dataclasses.replace(trained, tta=tta["chosen"])
    cw = choices.decide_class_weights(trained, result.module, splits, trained.tta)
    made = {"flip": flip, "tta": tta, "class_weights": cw}
    rundir.write_run(trained, splits, run_dir, result, t0, verbose, choices=made)
    return RunResult(rundir.read_metrics(run_dir), run_dir)  # as the file holds it (NaN: null), as when returned again


def train_or_reuse(config, verbose: bool = False, callbacks: list | None = None, evaluate_test: bool = True,
                   idle_settings: bool = True) -> dict:
    """The metrics of the run ``config`` describes (``config.out`` is its directory): read when it is
    finished, resumed when it was interrupted, trained otherwise.

    Every command that reuses runs (``compare``, ``augment search``, ``models --dataset``, ``advise
    --verify``) goes through here, so a directory trained with other settings is never silently reused.

    These commands train in one process: several devices or nodes are refused (Lightning's launcher would
    re-run the whole command once per extra process).

    ``idle_settings``: as :func:`train`'s, accepted by default here (the cells of a grid); cross-validation,
    one user command, refuses them.

    Raises:
        MedtrainError: the directory holds a run of other settings (naming the first difference), or
            ``config`` asks for several processes.
    """
    cfg = _as_config(config)  # compare's, tune's and crossval's are resolved (config.Resolved): taken as they are
    if not cfg.out:
        raise MedtrainError("train_or_reuse needs the run directory (out)")
    single_process_only(cfg, "a command that trains several runs")
    run_dir = Path(cfg.out)
    check_reusable(cfg, verbose=verbose)  # compare's own check of every cell before training said a changed default
    if rundir.is_run(run_dir):
        if rundir.is_finished(run_dir):
            check_same_data(rundir.load_config(run_dir), run_dir)  # a user's data changed since: not reused
            rundir.remove_checkpoints(run_dir)  # left by an interruption right after its metrics.json
            if verbose:
                print(f"{run_dir} finished, reused")
            return rundir.read_metrics(run_dir)
    try:
        if rundir.is_run(run_dir):
            return train({"progress": cfg.progress}, resume=run_dir, verbose=verbose, callbacks=callbacks,
                         evaluate_test=evaluate_test)
        return train(cfg, verbose=verbose, callbacks=callbacks, evaluate_test=evaluate_test,
                     idle_settings=idle_settings)
    except TrainingInterrupted as e:  # the way on is the command that trains the runs, not `train --resume`
        raise TrainingInterrupted(f"{e.progress} in {run_dir}; run the same command again to continue: finished "
                                  f"runs are reused and this one resumes", e.progress,
                                  "in Python, the same call again continues so") from None


def evaluate(run_dir: str | Path, split: str = "test", *, verbose: bool = True) -> dict:
    """:func:`medtrain.evaluate`, documented there (``help(medtrain.evaluate)``); ``medtrain eval`` of a run's own
    split and a search's best trial call it too."""
    check_run_dir(run_dir)  # evaluate(123) had been pathlib's TypeError
    # the caller's generators untouched (the network is initialised before its weights are loaded) and float32
    # whatever the caller's default dtype
    with isolate_rng(include_cuda=torch.cuda.is_initialized()), float32_default():
        return _evaluate(Path(run_dir), split, verbose)


def _evaluate(run_dir: Path, split: str, verbose: bool) -> dict:
    run = load_run_module(run_dir)
    if not rundir.is_finished(run_dir):  # a model handed on alone (an interrupted run was refused above)
        raise MedtrainError(f"{run_dir} has no {rundir.METRICS_FILE}: eval checks the run's data against what it "
                            f"records; copy it too (the data are needed as well), or score labelled images with "
                            f"`medtrain eval {shlex.quote(str(run_dir))} --data DATA`")
    splits = rundir.run_splits(run_dir, run.cfg)
    metrics = rundir.read_metrics(run_dir)
    checked = provenance.check_unchanged(metrics, splits, split, run_dir)
    if not len(splits.split(split)):
        raise MedtrainError(f"{run_dir} has no {split} images to evaluate (its data were split with "
                            f"{split}_fraction 0 or hold no {split} split)")
    res = {**score_split(run, splits.split(split)), "data_checked_by": checked}
    if verbose and checked != "sha256":  # a run of an older medtrain, which recorded no digest of its data
        print(f"note: {run_dir} predates data digests; its {split} split was "
              + ("checked by its labels only" if checked else "not checked against the data it was scored on"))
    for note in recorded_interval_notes(metrics.get(split) or {}, res) if verbose else ():
        print(note)  # intervals its metrics.json has from an older bootstrap, or by another rule
    write_scores(run_dir, split, res, rundir.eval_file(split), verbose)
    # as the file holds it (NaN: null), as train() returns metrics.json: the per-class intervals of --bootstrap 0
    # had been [nan, nan] here and [null, null] in the file, so the result was not equal to the file's JSON
    return rundir.read_metrics(run_dir, rundir.eval_file(split))
