"""The image grid of ``medtrain augment show``: originals in the first column, augmented draws next to them, each
image captioned with its target where the labels are given.

A draw is one call ``x, y = pipeline(x, y)`` on the whole batch of shown images with their soft targets, so the ops
that mix samples (Mixup, CutMix and their switch, :mod:`medtrain.augment.mixing`) mix row ``i`` with row ``N + 1 -
i`` (the batch reversed, as training mixes a batch; of an odd number of rows the middle one is its own pair, left
unmixed, as the title says) and the caption under each draw is the target the loss would see: ``0.63 benign + 0.37
malignant``. For CutMix that weight is the share of the image's own pixels (the pasted box of its partner's pixels
takes the rest), for Mixup the weight of its own image in the blend.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from medtrain.augment.mixing import CutMix, Mixup, MixupOrCutMix, soft_targets
from medtrain.errors import MedtrainError
from medtrain.reports.png import save_png
from medtrain.tasks import MULTILABEL, class_names

#: caption lines under an image at most, and characters to a line (a 1.5-inch cell at font size 6)
CAPTION_LINES, CAPTION_WIDTH = 3, 26


def mixes(pipeline) -> bool:
    """Whether ``pipeline`` holds an op that mixes samples (its draws then pair the rows)."""
    return isinstance(pipeline, nn.Module) and any(isinstance(m, (Mixup, CutMix, MixupOrCutMix))
                                                   for m in pipeline.modules())


def pair_order(labels: Tensor, task: str) -> Tensor:
    """An order of shown images (indices into ``labels``) in which the rows a mixing op pairs (``i`` and ``N + 1 -
    i``) are of different classes wherever the classes allow: sorted by class, so the first rows meet the last. A
    multi-label task keeps its order."""
    if task == MULTILABEL:
        return torch.arange(len(labels))
    return torch.sort(labels.long().reshape(-1), stable=True).indices


def target_text(y: Tensor, label_names: dict, task: str) -> str:
    """A soft target ``(K,)`` in words: the class for a one-hot target, ``0.63 benign + 0.37 malignant`` for a mixed
    one (largest weight first); a multi-label target as its positive labels, or each label's weight where mixed
    (``1.00 effusion, 0.37 mass``). A class named by its index alone is ``class 0``."""
    names = class_names(label_names, y.shape[0])
    names = [f"class {n}" if n == str(k) else n for k, n in enumerate(names)]  # data without names: "0.63 class 0"
    w = [float(v) for v in y.tolist()]
    exact = all(v in (0.0, 1.0) for v in w)
    if task == MULTILABEL:
        if exact:
            return ", ".join(n for n, v in zip(names, w) if v) or "no label"
        return ", ".join(f"{v:.2f} {n}" for v, n in sorted(zip(w, names), key=lambda t: -t[0]) if v > 0)
    if exact and sum(w) == 1.0:
        return names[w.index(1.0)]
    return " + ".join(f"{v:.2f} {n}" for v, n in sorted(zip(w, names), key=lambda t: -t[0]) if v > 0)


def draw_columns(x: Tensor, y: Tensor, pipeline: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]] | None,
                 draws: int) -> list[tuple[Tensor, Tensor]]:
    """The grid's columns: ``(x, y)`` of the originals, then of ``draws`` calls of ``pipeline`` (one call per column,
    on the whole batch: per-sample random choices differ down a column), images clamped to [0, 1]."""
    columns = [(x, y)]
    with torch.no_grad():
        for _ in range(draws):
            if pipeline is None:
                columns.append((x, y))
                continue
            xd, yd = pipeline(x, y)
            columns.append((xd.clamp(0, 1), yd))
    return columns


def grid_captions(columns: list[tuple[Tensor, Tensor]], label_names: dict, task: str) -> list[list[str]]:
    """The caption of every image, ``[column][row]``: its target in words (:func:`target_text`)."""
    return [[target_text(y[i], label_names, task) for i in range(y.shape[0])] for _, y in columns]


def _wrapped(text: str) -> str:
    lines = textwrap.wrap(text, CAPTION_WIDTH, break_on_hyphens=False) or [""]
    if len(lines) > CAPTION_LINES:
        lines = lines[:CAPTION_LINES]
        lines[-1] = lines[-1][:CAPTION_WIDTH - 1] + "…"
    return "\n".join(lines)


def _unpaired(n: int, pipeline) -> str:
    """The title's line for the row a mixing op pairs with itself (``n`` odd: the middle one, row ``(n + 1) / 2``,
    which ``N + 1 - i`` maps onto itself): it stays unmixed. ``--n 1`` and odd ``--n`` had drawn that row under a
    title saying each row is mixed, its captions its own class alone."""
    if n % 2 == 0 or not mixes(pipeline):
        return ""
    if n == 1:
        return "the one row is its own pair: it stays unmixed (show 2 or more images to see mixing)"
    return f"row {(n + 1) // 2}, the middle one, is its own pair: it stays unmixed"


def render_grid(
    images: Tensor,
    pipeline: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]] | None,
    draws: int,
    path: str | os.PathLike,
    title: str = "",
    labels: Tensor | None = None,
    label_names: dict | None = None,
    task: str | None = None,
) -> Path:
    """Write a PNG: one row per image, the original first, then ``draws`` augmented versions.

    Args:
        images: uint8 ``(N, C, H, W)``, C = 1 (shown grey) or 3; other channel counts show channel 0.
        pipeline: called ``x, y = pipeline(x, y)`` on the float batch in [0, 1] (``None``: originals only).
            Each draw is one call on the whole batch, so per-sample random choices differ down a column.
        draws: augmented columns.
        path: the PNG, written atomically.
        title: figure title.
        labels: the images' split labels (``(N,)`` class indices, or ``(N, K)`` 0/1 for a multi-label ``task``):
            the pipeline gets their soft targets, and each image is captioned with its target after the draw
            (a mixed one as ``0.63 benign + 0.37 malignant``). ``None``: no captions, zero targets.
        label_names: ``{"0": "benign", ...}``, the names of the captions (default: the class indices).
        task: the labels' task (:mod:`medtrain.tasks`; default single-label).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if images.dtype != torch.uint8 or images.ndim != 4:
        raise MedtrainError(f"render_grid needs uint8 images (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    if draws < 1 or images.shape[0] < 1:
        raise MedtrainError("the grid needs at least one image and one draw")
    if labels is not None and len(labels) != images.shape[0]:
        raise MedtrainError(f"render_grid: {len(labels)} labels for {images.shape[0]} images")
    x = images.float() / 255.0
    captions = None
    if labels is None:
        y = torch.zeros(x.shape[0], 2)
    else:
        task = task or ""
        k = len(label_names) if label_names else (labels.shape[1] if labels.ndim == 2 else int(labels.max()) + 1)
        y = soft_targets(labels, task, max(k, 2 if task != MULTILABEL else 1))
    columns = draw_columns(x, y, pipeline, draws)
    if labels is not None:
        captions = grid_captions(columns, label_names or {}, task)
    n, cols = x.shape[0], draws + 1
    width = (1.5 if labels is not None else 1.3) * cols  # inches; ~14 title characters to an inch
    title = "\n".join(t for t in (title, textwrap.fill(_unpaired(n, pipeline), max(int(14 * width), 30))) if t)
    lines = title.count("\n") + 1 if title else 0
    if captions:  # room for up to CAPTION_LINES lines under each image (inches)
        head, foot, gap = 0.3 + 0.2 * lines, 0.4, 0.35
        height = 1.3 * n + gap * (n - 1) + head + foot
        top, bottom, hspace = 1 - head / height, foot / height, gap / 1.3
    else:
        height = 1.3 * n + (0.4 + 0.2 * (lines - 1) if title else 0.1)
        top, bottom, hspace = 1 - (0.45 + 0.2 * (lines - 1) if title else 0.25) / height, 0.02, 0.05
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, cols, squeeze=False)
    for j, (col, _) in enumerate(columns):
        for i in range(n):
            ax = axes[i][j]
            img = col[i].detach().cpu()
            if img.shape[0] == 3:
                ax.imshow(img.permute(1, 2, 0).numpy(), interpolation="nearest")
            else:
                ax.imshow(img[0].numpy(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if captions:
                ax.set_xlabel(_wrapped(captions[j][i]), fontsize=6, labelpad=2)
            if i == 0:
                ax.set_title("original" if j == 0 else f"draw {j}", fontsize=8)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=bottom, top=top, wspace=0.05, hspace=hspace)
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 0.05 / height, va="top")
    # as every figure is written: characters no font draws (class names in Chinese) said in one line, not per glyph
    save_png(fig, path, dpi=100, tight=False, palette=False)
    return Path(path)
