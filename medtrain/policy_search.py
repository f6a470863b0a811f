"""Searching augmentation policies with real training runs: the ``train_fn`` that
:mod:`medtrain.augment.search` calls for each candidate (``medtrain augment search``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from medtrain import config as config_mod
from medtrain.api import train_or_reuse
from medtrain.augment.policies import randaugment_policy, save_policy
from medtrain.errors import MedtrainError


def _val_auc(result: dict) -> float:
    """Validation AUC of the selected checkpoint: ``result["val"]["auc"]`` of ``medtrain.train``'s result.

    (``metrics.json`` has no ``best`` mapping: ``best_epoch`` is an int and the selected checkpoint's
    validation metrics are under ``val``.) A missing or non-numeric value is an error, not a silent NaN,
    so a changed result layout cannot turn every candidate into "failed".
    """
    val = result.get("val") if isinstance(result, dict) else None
    auc = val.get("auc") if isinstance(val, dict) else None
    if isinstance(auc, bool) or not isinstance(auc, (int, float)):
        raise MedtrainError("the training result holds no validation AUC (expected a number at val.auc)")
    return float(auc)


def make_train_fn(base_cfg, work_dir: Path, verbose: bool = False) -> Callable[[list, dict], float]:
    """A ``train_fn`` for :func:`medtrain.augment.search.randaugment_grid_search` built on ``medtrain.train``.

    RandAugment reaches training as a policy file (``--augment ...,ra-n2-m9.yaml``), so training needs no
    setting of its own for N and M. A candidate whose run directory already holds results is not trained
    again, and an interrupted one is resumed, so a stopped search continues where it was; a directory
    trained with other settings (another budget, model, base augmentation, ...) is refused, not reused
    (:func:`medtrain.api.train_or_reuse`).
    The score is the validation AUC of the checkpoint training selected (``metrics.json``'s ``val.auc``).
    """
    def train_fn(spec: list, params: dict) -> float:
        aug = list(spec)
        name = "baseline"
        if "randaugment" in aug:
            n, m = params["ra_n"], params["ra_m"]
            name = f"ra-n{n}-m{m:g}"
            policy_path = work_dir / f"{name}.yaml"
            save_policy(randaugment_policy(n, m), policy_path)
            aug[aug.index("randaugment")] = str(policy_path)
        run_dir = work_dir / name
        overrides = {"augment": aug, "out": str(run_dir), "progress": False, "bootstrap": 0}
        if "epochs" in params:
            overrides["epochs"] = params["epochs"]
        return _val_auc(train_or_reuse(config_mod.resolve(base_cfg.to_dict(), overrides), verbose=verbose))

    return train_fn
