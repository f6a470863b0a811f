"""The Python entry points: ``train(config)``, ``evaluate(run_dir)`` and ``train_or_reuse(config)``.

What a run directory holds is described in :mod:`medtrain.rundir`, its one writer.
"""
from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import torch

from medtrain import config as config_mod
from medtrain import rundir
from medtrain._io import write_json
from medtrain.config import Config
from medtrain.data import load_splits
from medtrain.errors import MedtrainError, TrainingInterrupted
from medtrain.evaluation import evaluate_split
from medtrain.models.factory import check_model_name, default_model
from medtrain.models.inflate import check_inflatable
from medtrain.models.weights import load_state, read_meta
from medtrain.tasks import BINARY
from medtrain.training.build import build_model, normalisation
from medtrain.training.fit import fit
from medtrain.training.module import Classifier
from medtrain.training.probe import ProbeModel, fit_probe

#: Settings that may differ between a run and its continuation (or reuse) without changing its result.
RESUMABLE_KEYS = ("progress", "data_dir", "accelerator", "devices", "num_nodes", "out")


def _as_config(config) -> Config:
    if isinstance(config, Config):
        return config_mod.resolve(config.to_dict())
    if isinstance(config, (str, Path)):
        return config_mod.resolve(config_mod.load_yaml(config))
    return config_mod.resolve(config or {})


def _differences(saved: Config, want: dict, ignore=RESUMABLE_KEYS) -> list[tuple[str, object, object]]:
    """``(key, saved value, wanted value)`` for each setting of ``want`` that differs from the run's."""
    have = saved.to_dict()
    if want.get("model") == "auto":  # the saved config names the network auto resolved to
        want = {**want, "model": have["model"]}
    return [(k, have[k], v) for k, v in want.items() if k not in ignore and have.get(k) != v]


def _resume_config(run_dir: Path, overrides: dict | None) -> Config:
    """The saved config of ``run_dir``; ``overrides`` may only change :data:`RESUMABLE_KEYS`."""
    saved = rundir.load_config(run_dir)
    given = {k.replace("-", "_"): v for k, v in (overrides or {}).items()}
    wanted = config_mod.resolve(saved.to_dict(), given).to_dict()  # coerced as the saved values are
    diff = _differences(saved, {k: wanted[k] for k in given})
    if diff:
        k, have, want = diff[0]
        raise MedtrainError(f"--resume {run_dir}: --{k.replace('_', '-')} {want} differs from the run's {have}; "
                            f"a resumed run keeps its settings (only {', '.join(RESUMABLE_KEYS)} may change)")
    return config_mod.resolve(saved.to_dict(), {k: v for k, v in given.items() if k in RESUMABLE_KEYS})


def train(config=None, resume: str | Path | None = None, verbose: bool = True, callbacks: list | None = None) -> dict:
    """Train, select the best validation checkpoint, evaluate it on the test split and write the run.

    Args:
        config: a :class:`Config`, a dict of settings, or a YAML path. With ``resume``: a dict of the
            settings given again; they must equal the run's own, except :data:`RESUMABLE_KEYS`.
        resume: a run directory to continue from its last checkpoint (its saved config is used).
        verbose: print the summary table.
        callbacks: extra Lightning callbacks for the Trainer.

    Returns:
        the content of ``metrics.json``.
    """
    t0 = time.perf_counter()
    if resume is not None:
        run_dir = Path(resume)
        if isinstance(config, (Config, str, Path)):
            raise MedtrainError("with resume, config is a dict of the settings given again (or None)")
        cfg = _resume_config(run_dir, config)
        if rundir.is_finished(run_dir):
            if verbose:
                print(f"{run_dir} is already finished; nothing to resume")
            return rundir.read_metrics(run_dir)
    else:
        cfg = _as_config(config)
        run_dir = Path(cfg.out) if cfg.out else rundir.default_run_dir(cfg)
        if rundir.is_run(run_dir):
            raise MedtrainError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
    check_model_name(cfg.model)  # before anything is written
    splits = load_splits(cfg)
    if cfg.model == "auto":  # the saved config names the concrete network
        cfg = dataclasses.replace(cfg, model=default_model(len(splits.spatial_shape)))
    if len(splits.spatial_shape) == 3:
        check_inflatable(cfg.model)  # a 2D family that cannot become 3D is refused by name, nothing written
    if cfg.operating_point is not None and splits.task != BINARY:  # refused before anything is written
        raise MedtrainError(f"operating_point {cfg.operating_point} needs a binary task; "
                            f"{splits.name} is {splits.task}")
    created = resume is None and not run_dir.exists()
    rundir.write_config(run_dir, cfg)
    try:
        return _train_in(cfg, splits, run_dir, resume is not None, callbacks, t0, verbose)
    except MedtrainError as e:
        # A user error found before the first epoch ended (an unreadable source, a bad layer name...):
        # leave nothing behind. Once a checkpoint exists, or after Ctrl-C, the directory is for --resume.
        if created and not isinstance(e, TrainingInterrupted) and not rundir.has_checkpoint(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _train_in(cfg: Config, splits, run_dir: Path, resume: bool, callbacks, t0: float, verbose: bool) -> dict:
    if verbose:
        print(f"medtrain: {splits.name} ({splits.task}, {splits.num_classes} classes, "
              f"train/val/test {len(splits.train)}/{len(splits.val)}/{len(splits.test)}, "
              f"{splits.in_chans}x{'x'.join(map(str, splits.spatial_shape))}) -> {cfg.model}, run {run_dir}",
              flush=True)
    if cfg.transfer == "linear-probe":  # CNN codes + a linear classifier, no Lightning loop
        result = fit_probe(cfg, splits, run_dir)
    else:
        result = fit(cfg, splits, run_dir, resume=resume, callbacks=callbacks)
    if result.interrupted:
        raise TrainingInterrupted(f"interrupted after epoch {result.stop_epoch + 1}; continue with "
                                  f"`medtrain train --resume {run_dir}`")
    return rundir.write_run(cfg, splits, run_dir, result, t0, verbose)


def train_or_reuse(config, verbose: bool = False, callbacks: list | None = None) -> dict:
    """The metrics of the run ``config`` describes (``config.out`` is its directory): read when it is
    finished, resumed when it was interrupted, trained otherwise.

    Every command that reuses runs (``compare``, ``augment search``, ``models --dataset``, ``advise
    --verify``) goes through here, so a directory trained with other settings is never silently reused.

    Raises:
        MedtrainError: the directory holds a run of other settings (naming the first difference).
    """
    cfg = _as_config(config)
    if not cfg.out:
        raise MedtrainError("train_or_reuse needs the run directory (out)")
    run_dir = Path(cfg.out)
    if rundir.is_run(run_dir):
        diff = _differences(rundir.load_config(run_dir), cfg.to_dict())
        if diff:
            shown = "; ".join(f"{k}: {have!r}, now {want!r}" for k, have, want in diff[:3])
            more = f"; {len(diff) - 3} more" if len(diff) > 3 else ""
            raise MedtrainError(f"{run_dir} was run with other settings ({shown}{more}); use another output folder")
        if rundir.is_finished(run_dir):
            if verbose:
                print(f"{run_dir} finished, reused")
            return rundir.read_metrics(run_dir)
        return train({"progress": cfg.progress}, resume=run_dir, verbose=verbose, callbacks=callbacks)
    return train(cfg, verbose=verbose, callbacks=callbacks)


def evaluate(run_dir: str | Path, split: str = "test", verbose: bool = True) -> dict:
    """Re-evaluate a run's saved best weights on a split; writes ``eval_<split>.json``.

    The temperature and operating-point threshold stored in the weights' metadata are applied, so the
    result holds the run's ``calibration`` (ECE before/after scaling) and ``operating_point`` figures too.
    """
    run_dir = Path(run_dir)
    if not rundir.is_run(run_dir) or not (run_dir / rundir.WEIGHTS_FILE).is_file():
        raise MedtrainError(f"{run_dir} is not a finished run directory (needs {rundir.CONFIG_FILE} and "
                            f"{rundir.WEIGHTS_FILE})")
    cfg = rundir.load_config(run_dir)
    splits = load_splits(cfg)
    meta = read_meta(run_dir / rundir.WEIGHTS_FILE)
    model, _ = build_model(cfg, splits, transfer=False)  # the run's own weights follow; no source needed
    state = load_state(run_dir / rundir.WEIGHTS_FILE)
    if "probe_layer" in meta:  # a linear-probe run: the frozen network and its linear layer
        w = state["linear.weight"]
        model = ProbeModel(model, int(meta["probe_layer"]), torch.zeros_like(w), torch.zeros(len(w)))
    missing, unexpected = model.load_state_dict(state, strict=False)
    bad = [k for k in missing if not k.endswith("_extra_state")] + list(unexpected)
    if bad:
        raise MedtrainError(f"{run_dir / rundir.WEIGHTS_FILE} does not fit the run's model ({', '.join(bad[:3])} ...)")
    _, _, input_transform = normalisation(cfg, splits)
    module = Classifier(model, splits.task, splits.num_classes, torch.tensor(meta["mean"]), torch.tensor(meta["std"]),
                        cfg.to_dict(), input_transform=input_transform)
    res = evaluate_split(module, splits.split(split), splits.label_names, bootstrap=cfg.bootstrap, seed=cfg.seed,
                         tta=cfg.tta, mc_dropout=cfg.mc_dropout, temperature=meta.get("temperature"),
                         threshold=meta.get("threshold"))
    for k in ("scores", "scores_scaled", "entropy"):
        res.pop(k, None)
    write_json(run_dir / rundir.eval_file(split), res)
    if verbose:
        print(f"{run_dir} on {split}: ACC {res['acc']:.4f} {res['acc_ci']}  AUC {res['auc']:.4f} {res['auc_ci']}")
        if "calibration" in res:
            c = res["calibration"]
            print(f"  ECE {c['ece']:.4f} -> {c['ece_scaled']:.4f} at temperature {c['temperature']:.3f}")
        if "operating_point" in res:
            print("  " + rundir.operating_point_line(res["operating_point"]))
    return res
