"""The Python entry points: ``train(config)`` and ``evaluate(run_dir)``.

A run directory holds the resolved ``config.yaml``, ``metrics.json`` (stable keys: ``history``,
``best_epoch``, ``stop_epoch``, ``test`` with ``acc``, ``auc``, ``acc_ci``, ``auc_ci``, and ``wall_s``), the
best weights ``model.safetensors``, ``learning_curve.png``, ``confusion_matrix.png`` and Lightning's
``checkpoints/`` (``last.ckpt`` for ``--resume``).
"""
from __future__ import annotations

import dataclasses
import json
import resource
import shutil
import sys
import time
from pathlib import Path

import yaml

from medtrain import config as config_mod
from medtrain._io import write_json, write_yaml
from medtrain.config import Config
from medtrain.errors import MedtrainError, TrainingInterrupted

CONFIG_FILE, METRICS_FILE, WEIGHTS_FILE = "config.yaml", "metrics.json", "model.safetensors"


def default_run_dir(cfg: Config) -> Path:
    name = cfg.dataset or Path(cfg.data).stem
    return Path("runs") / f"{name}-{cfg.model}-s{cfg.seed}"


def _as_config(config) -> Config:
    if isinstance(config, Config):
        return config_mod.resolve(config.to_dict())
    if isinstance(config, (str, Path)):
        return config_mod.resolve(config_mod.load_yaml(config))
    return config_mod.resolve(config or {})


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def _device_memory() -> dict:
    """Peak GPU memory (what PyTorch allocated) and the device's name, when the run used CUDA."""
    import torch

    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return {}
    return {"peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20, "device": torch.cuda.get_device_name()}


def train(config=None, resume: str | Path | None = None, verbose: bool = True, callbacks: list | None = None) -> dict:
    """Train, select the best validation checkpoint, evaluate it on the test split and write the run.

    Args:
        config: a :class:`Config`, a dict of settings, or a YAML path.
        resume: a run directory to continue from its last checkpoint (its saved config is used).
        verbose: print the summary table.
        callbacks: extra Lightning callbacks for the Trainer.

    Returns:
        the content of ``metrics.json``.
    """
    t0 = time.perf_counter()
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / CONFIG_FILE).is_file():
            raise MedtrainError(f"cannot resume: {run_dir} is not a run directory (no {CONFIG_FILE})")
        saved = yaml.safe_load((run_dir / CONFIG_FILE).read_text())
        overrides = {"progress": False} if isinstance(config, dict) and config.get("progress") is False else {}
        cfg = config_mod.resolve(saved, overrides)
        if (run_dir / METRICS_FILE).is_file():
            done = json.loads((run_dir / METRICS_FILE).read_text())
            if verbose:
                print(f"{run_dir} is already finished; nothing to resume")
            return done
    else:
        cfg = _as_config(config)
        run_dir = Path(cfg.out) if cfg.out else default_run_dir(cfg)
        if (run_dir / CONFIG_FILE).exists():
            raise MedtrainError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
    from medtrain.data import load_splits
    from medtrain.models.factory import check_model_name, default_model

    check_model_name(cfg.model)  # before anything is written
    splits = load_splits(cfg)
    if cfg.model == "auto":  # the saved config names the concrete network
        cfg = dataclasses.replace(cfg, model=default_model(len(splits.spatial_shape)))
    cfg_dict = cfg.to_dict()
    cfg_dict["out"] = str(run_dir)
    created = resume is None and not run_dir.exists()
    write_yaml(run_dir / CONFIG_FILE, cfg_dict)
    try:
        return _train_in(cfg, splits, run_dir, resume, callbacks, t0, verbose)
    except MedtrainError as e:
        # A user error found before the first epoch ended (an unreadable source, a bad layer name...):
        # leave nothing behind. Once a checkpoint exists, or after Ctrl-C, the directory is for --resume.
        if created and not isinstance(e, TrainingInterrupted) and not any((run_dir / "checkpoints").glob("*.ckpt")):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _train_in(cfg: Config, splits, run_dir: Path, resume, callbacks, t0: float, verbose: bool) -> dict:
    if verbose:
        print(f"medtrain: {splits.name} ({splits.task}, {splits.num_classes} classes, "
              f"train/val/test {len(splits.train)}/{len(splits.val)}/{len(splits.test)}, "
              f"{splits.in_chans}x{'x'.join(map(str, splits.spatial_shape))}) -> {cfg.model}, run {run_dir}",
              flush=True)

    if cfg.transfer == "linear-probe":  # transfer learning: CNN codes + a linear classifier, no Lightning loop
        from medtrain.transfer.probe import train_probe

        return train_probe(cfg, splits, run_dir, t0, verbose)

    from medtrain.training.fit import fit

    result = fit(cfg, splits, run_dir, resume=resume is not None, callbacks=callbacks)
    if result.interrupted:
        raise TrainingInterrupted(f"interrupted after epoch {result.stop_epoch + 1}; continue with "
                                  f"`medtrain train --resume {run_dir}`")
    return _finish(cfg, splits, run_dir, result, t0, verbose)


def weights_meta(cfg: Config, splits, module, **extra) -> dict:
    """What ``model.safetensors`` says about itself: network, data shape, classes, normalisation."""
    return {"model": cfg.model, "in_chans": splits.in_chans, "num_classes": splits.num_classes,
            "task": splits.task, "label_names": splits.label_names, "mean": module.mean.flatten().tolist(),
            "std": module.std.flatten().tolist(), **extra}


def _finish(cfg: Config, splits, run_dir: Path, result, t0: float, verbose: bool) -> dict:
    from medtrain.evaluation import evaluate_split
    from medtrain.models.weights import save_weights
    from medtrain.reports import plots
    from medtrain.reports.baselines import comparison_table

    module = result.module
    save_weights(module.model, run_dir / WEIGHTS_FILE,
                 weights_meta(cfg, splits, module, dropout=cfg.dropout, batch_norm=cfg.batch_norm,
                              best_epoch=result.best_epoch))
    val = evaluate_split(module, splits.val, splits.label_names, bootstrap=0, tta=cfg.tta)
    test = evaluate_split(module, splits.test, splits.label_names, bootstrap=cfg.bootstrap, seed=cfg.seed,
                          tta=cfg.tta, mc_dropout=cfg.mc_dropout) if len(splits.test) else {}
    entropy = test.pop("entropy", None)
    if test:
        _write_predictions(run_dir / "predictions_test.csv", splits.test.labels, test.pop("scores"), entropy)
    if splits.extra.get("skipped"):
        write_json(run_dir / "skipped.json", splits.extra["skipped"])
    out = {
        "dataset": splits.name, "task": splits.task, "model": cfg.model, "seed": cfg.seed,
        "history": result.history, "best_epoch": result.best_epoch, "stop_epoch": result.stop_epoch,
        "early_stopped": result.stopped_early, "monitor": cfg.monitor,
        "val": {k: val[k] for k in ("acc", "auc")},
        "test": test,
        "wall_s": time.perf_counter() - t0,
        "train_images_per_s": result.train_images_per_s,
        "peak_rss_mb": _peak_rss_mb(),
        **_device_memory(),
        "sizes": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)},
    }
    if getattr(module.model, "transfer_plan", None) is not None:  # what transfer copied/froze/re-drew
        out["transfer"] = module.model.transfer_plan.to_dict()
    write_json(run_dir / METRICS_FILE, out)
    title = f"{splits.name} · {cfg.model} · seed {cfg.seed}"
    if result.history:
        plots.learning_curve(result.history, result.best_epoch, result.stop_epoch, run_dir / "learning_curve.png",
                             title, early_stopped=result.stopped_early)
    if test:
        plots.confusion_matrix(test["confusion"], splits.label_names, run_dir / "confusion_matrix.png", title)
    if verbose and test:
        print(f"\nbest epoch {result.best_epoch + 1} (by {cfg.monitor}), stopped after epoch {result.stop_epoch + 1}; "
              f"wall {out['wall_s']:.0f} s, {out['train_images_per_s']:.0f} train images/s")
        print(f"test AUC {test['auc']:.4f} [{test['auc_ci'][0]:.3f}, {test['auc_ci'][1]:.3f}]  "
              f"test ACC {test['acc']:.4f} [{test['acc_ci'][0]:.3f}, {test['acc_ci'][1]:.3f}]  (95% bootstrap CIs)")
        print(comparison_table(splits.name, test["auc"], test["acc"], test["auc_ci"], test["acc_ci"]))
    return out


def _write_predictions(path: Path, labels, scores, entropy) -> None:
    """One row per test image: its label(s), the predicted probabilities and (MC dropout) the entropy."""
    import numpy as np

    from medtrain._io import write_text

    labels = np.asarray(labels).reshape(len(scores), -1)
    k = scores.shape[1]
    head = ["index"] + [f"label{j}" for j in range(labels.shape[1])] + [f"p{j}" for j in range(k)]
    head += ["entropy"] if entropy is not None else []
    lines = [",".join(head)]
    for i in range(len(scores)):
        row = [str(i)] + [str(int(v)) for v in labels[i]] + [f"{v:.6f}" for v in scores[i]]
        row += [f"{entropy[i]:.6f}"] if entropy is not None else []
        lines.append(",".join(row))
    write_text(path, "\n".join(lines) + "\n")


def evaluate(run_dir: str | Path, split: str = "test", verbose: bool = True) -> dict:
    """Re-evaluate a run's saved best weights on a split; writes ``eval_<split>.json``."""
    from medtrain.data import load_splits
    from medtrain.evaluation import evaluate_split
    from medtrain.models.weights import load_state, read_meta
    from medtrain.training.fit import build_model, normalisation
    from medtrain.training.module import Classifier

    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file() or not (run_dir / WEIGHTS_FILE).is_file():
        raise MedtrainError(f"{run_dir} is not a finished run directory (needs {CONFIG_FILE} and {WEIGHTS_FILE})")
    import torch

    cfg = config_mod.resolve(yaml.safe_load((run_dir / CONFIG_FILE).read_text()))
    splits = load_splits(cfg)
    meta = read_meta(run_dir / WEIGHTS_FILE)
    model = build_model(cfg, splits, transfer=False)  # the run's own weights follow; no source needed
    state = load_state(run_dir / WEIGHTS_FILE)
    if "probe_layer" in meta:  # a linear-probe run: the frozen network and its linear layer
        from medtrain.transfer.probe import ProbeModel

        w = state["linear.weight"]
        model = ProbeModel(model, int(meta["probe_layer"]), torch.zeros_like(w), torch.zeros(len(w)))
    missing, unexpected = model.load_state_dict(state, strict=False)
    bad = [k for k in missing if not k.endswith("_extra_state")] + list(unexpected)
    if bad:
        raise MedtrainError(f"{run_dir / WEIGHTS_FILE} does not fit the run's model ({', '.join(bad[:3])} ...)")
    _, _, input_transform = normalisation(cfg, splits)
    module = Classifier(model, splits.task, splits.num_classes, torch.tensor(meta["mean"]), torch.tensor(meta["std"]),
                        cfg.to_dict(), input_transform=input_transform)
    res = evaluate_split(module, splits.split(split), splits.label_names, bootstrap=cfg.bootstrap, seed=cfg.seed,
                         tta=cfg.tta, mc_dropout=cfg.mc_dropout)
    res.pop("scores", None)
    res.pop("entropy", None)
    write_json(run_dir / f"eval_{split}.json", res)
    if verbose:
        print(f"{run_dir} on {split}: ACC {res['acc']:.4f} {res['acc_ci']}  AUC {res['auc']:.4f} {res['auc_ci']}")
    return res
