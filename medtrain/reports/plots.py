"""Learning-curve and confusion-matrix figures (matplotlib, headless)."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from medtrain._io import atomic_path  # noqa: E402


def _save(fig, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def learning_curve(history: list, best_epoch: int, stop_epoch: int, path: str | os.PathLike,
                   title: str = "", early_stopped: bool = False) -> None:
    """Train vs validation loss per epoch, the selected (best) epoch and the stop epoch marked."""
    ep = [h["epoch"] + 1 for h in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ep, [h["train_loss"] for h in history], label="train loss")
    ax.plot(ep, [h["val_loss"] for h in history], label="validation loss")
    ax.axvline(best_epoch + 1, color="green", ls="--", label=f"best epoch ({best_epoch + 1})")
    if early_stopped:
        ax.axvline(stop_epoch + 1, color="red", ls=":", label=f"early stop ({stop_epoch + 1})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    _save(fig, path)


def confusion_matrix(cm, label_names: dict, path: str | os.PathLike, title: str = "") -> None:
    """Counts with true class on rows; for multi-label, one 2x2 matrix per label side by side."""
    cms = np.asarray(cm)
    names = [label_names.get(str(i), str(i)) for i in range(len(label_names))]
    if cms.ndim == 3:  # multi-label
        fig, axes = plt.subplots(1, len(cms), figsize=(2.2 * len(cms), 2.6))
        for a, m, n in zip(np.atleast_1d(axes), cms, names):
            _matrix(a, m, ["0", "1"], n)
    else:
        k = len(cms)
        fig, ax = plt.subplots(figsize=(1.0 + 0.6 * k + 2, 1.0 + 0.6 * k + 1.5))
        _matrix(ax, cms, [n[:14] for n in names], title)
    _save(fig, path)


def _matrix(ax, m, names, title) -> None:
    ax.imshow(m, cmap="Blues")
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, str(v), ha="center", va="center", color="black" if v < m.max() / 2 else "white", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)


def cost_accuracy_scatter(points, path: str | os.PathLike, title: str = "") -> None:
    """``points``: (label, multiply-accumulates, test AUC); MACs on a log axis, each point labelled."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, macs, auc in points:
        ax.scatter(macs / 1e6, auc, s=18)
        ax.annotate(label, (macs / 1e6, auc), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("multiply-accumulates per image (millions, log scale)")
    ax.set_ylabel("test AUC")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _save(fig, path)
