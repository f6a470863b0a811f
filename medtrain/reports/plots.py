"""Learning-curve and confusion-matrix figures (matplotlib, headless).

Every figure is a bare :class:`matplotlib.figure.Figure` on its own Agg canvas, never a pyplot one: medtrain
runs inside notebooks and scripts that show their own figures, and a module-level ``matplotlib.use("Agg")``
had switched the whole process's backend on the first ``medtrain.train`` (inline figures and Tk/Qt windows
stopped appearing; a user walkthrough). Nothing here selects a backend or registers a figure with pyplot.
"""
from __future__ import annotations

import os
import textwrap

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from medtrain.reports.names import metric_name
from medtrain.reports import png
from medtrain.tasks import class_names

#: Text properties of every string that carries user data (class, folder, file, run names, titles): drawn as
#: written. matplotlib reads a string with two ``$`` as mathtext, so a class folder ``cost $5-$10`` was drawn
#: as maths and ``bad $\frac$ x`` crashed the run after training (a user walkthrough). Only these texts are
#: literal: a global ``text.parse_math`` off would also print a log axis's ``$\mathdefault{10^{1}}$`` ticks raw.
LITERAL = {"parse_math": False}
#: multi-label matrices per row: one row of 14 panels had been a 2931x268 strip
PANELS_PER_ROW = 5
#: up to this many epochs the learning curve marks each epoch: a line through one point draws nothing
MARKED_EPOCHS = 30
#: what the train line is: each epoch's mean over its training steps, taken with augmentation (Mixup/CutMix
#: targets) and dropout on where the run uses them, unlike the validation loss (eval mode, unaugmented); a
#: lecturer comparing "train loss" with the validation loss had read the gap as overfitting alone
TRAIN_LOSS_NOTE = "augmentation, dropout on if used"


def figure(**kwargs) -> Figure:
    """A figure outside pyplot (nothing to close: it goes with its last reference), drawn by Agg as a
    pyplot figure under the Agg backend had been, so sizes and layout are unchanged."""
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path, **kwargs) -> None:
    """What every plot here saves with: :func:`medtrain.reports.png.save_png`, looked up at each call (the test
    suite's runs replace it with a blank of the figure's size, and tests replace ``_save`` to catch figures)."""
    png.save_png(fig, path, **kwargs)


def _legend(ax, **kwargs) -> None:
    """``ax.legend`` with literal entries (:data:`LITERAL`): a label may carry a user's name."""
    for t in ax.legend(**kwargs).get_texts():
        t.set_parse_math(False)


def learning_curve(history: list, best_epoch: int, stop_epoch: int, path: str | os.PathLike,
                   title: str = "", early_stopped: bool = False, checkpoint: str = "best", monitor: str | None = None,
                   early_stop: str | None = None, patience: int | None = None) -> None:
    """Train vs validation loss per epoch, the kept epoch (the best, or the last: ``checkpoint``) and the stop
    epoch marked, each with the metric that chose it where given (``monitor``, ``early_stop`` and ``patience``):
    with --early-stop val_loss and --monitor val_auc the figure had marked "best epoch (6)" beside a val-loss
    minimum at 8 and "early stop (13)", patience counted from 8, and val AUC is not drawn."""
    ep = [h["epoch"] + 1 for h in history]
    marks = {"marker": "o", "ms": 4} if len(ep) <= MARKED_EPOCHS else {}  # --epochs 1 had been an empty box
    fig = figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(ep, [h["train_loss"] for h in history], label=f"train loss ({TRAIN_LOSS_NOTE})", **marks)
    ax.plot(ep, [h["val_loss"] for h in history], label="validation loss", **marks)
    if checkpoint == "last":
        kept = f"kept: last epoch ({best_epoch + 1})"
    elif monitor:
        kept = f"kept: best {metric_name(monitor)} (epoch {best_epoch + 1})"
    else:
        kept = f"best epoch ({best_epoch + 1})"
    ax.axvline(best_epoch + 1, color="green", ls="--", label=kept)
    if early_stopped:
        by = (f": {metric_name(early_stop)}{f', patience {patience}' if patience is not None else ''}"
              if early_stop else "")
        ax.axvline(stop_epoch + 1, color="red", ls=":", label=f"early stop{by} (epoch {stop_epoch + 1})"
                   if by else f"early stop ({stop_epoch + 1})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs: one epoch had ticks 0.96 ... 1.04
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title, **LITERAL)
    _legend(ax)
    _save(fig, path)


def tick_labels(names: list[str], width: int = 24) -> list[str]:
    """Class names as distinct tick labels: a name longer than ``width`` keeps its start and its end around a
    middle "…" (the end often tells classes apart: ``..._dry``, ``..._wet``); if labels still coincide, every
    label is prefixed by its class index (``3: age_related…eration_dry``)."""
    head = (width - 1) // 2
    short = [n if len(n) <= width else f"{n[:head]}…{n[head + 1 - width:]}" for n in map(str, names)]
    if len(set(short)) < len(short):
        short = [f"{i}: {n}" for i, n in enumerate(short)]
    return short


def confusion_matrix(cm, label_names: dict, path: str | os.PathLike, title: str = "") -> None:
    """Counts with true class on rows; for multi-label, one 2x2 matrix per label, :data:`PANELS_PER_ROW` to a
    row."""
    cms = np.asarray(cm)
    names = class_names(label_names)
    if cms.ndim == 3:  # multi-label
        cols = min(PANELS_PER_ROW, len(cms))
        rows = -(-len(cms) // cols)
        fig = figure(figsize=(2.2 * cols, 2.6 * rows), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False)
        for a in axes.ravel()[len(cms):]:  # the last row's empty places
            a.remove()
        for a, m, n in zip(axes.ravel(), cms, tick_labels(names, 28)):
            _matrix(a, m, ["0", "1"], n)
        if title:
            fig.suptitle(title, fontsize=9, **LITERAL)
    else:
        fig = confusion_figure(cms, names, title)
    _save(fig, path)


def confusion_figure(cm, names: list[str], title: str = ""):
    """The single-label matrix's figure, sized so that a report (about 1100 px wide) shows it legibly: cells
    and fonts shrink as the classes grow, down to a floor that keeps 20-30 classes readable."""
    k = len(cm)
    cell = min(0.6, max(0.32, 7.0 / max(k, 1)))  # inches
    font = 8 if k <= 10 else 7 if k <= 24 else 6
    fig = figure(figsize=(cell * k + 3, cell * k + 2.5))
    ax = fig.subplots()
    _matrix(ax, np.asarray(cm), tick_labels(names), title, font, max(6.0, min(8.0, cell * 20)))
    return fig


def _matrix(ax, m, names, title, font: float = 8, cell_font: float = 8) -> None:
    ax.imshow(m, cmap="Blues")
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, str(v), ha="center", va="center", color="black" if v < m.max() / 2 else "white",
                fontsize=cell_font)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", rotation_mode="anchor", fontsize=font,
                  **LITERAL)
    ax.set_yticks(range(len(names)), names, fontsize=font, **LITERAL)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9, **LITERAL)


def cost_accuracy_scatter(points, path: str | os.PathLike, title: str = "") -> None:
    """``points``: (label, multiply-accumulates, test AUC); MACs on a log axis, each point labelled."""
    fig = figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for label, macs, auc in points:
        ax.scatter(macs / 1e6, auc, s=18)
        ax.annotate(label, (macs / 1e6, auc), fontsize=6, xytext=(3, 2), textcoords="offset points",
                    **LITERAL)
    ax.set_xscale("log")
    ax.set_xlabel("multiply-accumulates per image (millions, log scale)")
    ax.set_ylabel("test AUC")
    ax.set_title(title, **LITERAL)
    ax.grid(alpha=0.3)
    _save(fig, path)


def reliability_diagram(panels: dict, path: str | os.PathLike, title: str = "") -> None:
    """One panel per split: observed frequency against mean confidence per bin, before and after
    temperature scaling. ``panels``: ``{split: {"before": bins, "after": bins, "ece": e, "ece_scaled": e2,
    "temperature": T}}`` with ``bins`` as :func:`medtrain.metrics.reliability` returns them; ``"pooled": True``
    where the bins pool a multi-label task's labels (the panel and its ECE say so); ``"positive": NAME``, a binary
    task's class whose probability the bins hold (the axes name it, as the ROC figure names it)."""
    fig = figure(figsize=(4.2 * len(panels), 4.2))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (name, p) in zip(axes[0], panels.items()):
        ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="perfect calibration")
        ece = "pooled ECE" if p.get("pooled") else "ECE"
        for key, label, style in (("before", f"before ({ece} {p['ece']:.3f})", "o-"),
                                  ("after", f"T = {p['temperature']:.2f} ({ece} {p['ece_scaled']:.3f})", "s-")):
            b = p[key]
            ax.plot(b["confidence"], b["frequency"], style, ms=4, label=label)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        of = f" of {p['positive']!r}" if p.get("positive") is not None else ""
        ax.set_xlabel(f"mean predicted probability{of} (per bin)", **LITERAL)
        ax.set_ylabel(f"observed frequency{of}", **LITERAL)
        ax.set_title(name + (" (all labels pooled)" if p.get("pooled") else ""), fontsize=9,
                     **LITERAL)  # the run's title once, above: side by side the two had run together
        _legend(ax, fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10, **LITERAL)
    _save(fig, path)


def roc_pr(y_true, score, path: str | os.PathLike, threshold: float | None = None, rule: str = "",
           title: str = "", rates: dict | None = None) -> None:
    """ROC and precision-recall curves of a binary task's positive-class score; the operating point
    (``score >= threshold`` called positive) marked when given, at ``rates`` where the caller has them: the test
    ``sensitivity``, ``specificity`` and ``ppv`` at the threshold (``metrics.json``'s ``operating_point.test``; the
    star had been computed again here from the threshold), else from ``score``; no star where a rate it needs is
    undefined (no PR star where no image is called positive)."""
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    from medtrain.operating_point import rates_at

    y, s = np.asarray(y_true).reshape(-1), np.asarray(score, dtype=float)
    fpr, tpr, _ = roc_curve(y, s)
    prec, rec, _ = precision_recall_curve(y, s)
    fig = figure(figsize=(9, 4.2))
    a, b = fig.subplots(1, 2)
    a.plot(fpr, tpr, label=f"ROC (AUC {auc(fpr, tpr):.3f})")
    a.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    a.set_xlabel("1 - specificity")
    a.set_ylabel("sensitivity")
    b.plot(rec, prec, label="precision-recall")
    b.axhline(y.mean(), color="grey", ls=":", lw=1, label=f"prevalence {y.mean():.2f}")
    b.set_xlabel("recall (sensitivity)")
    b.set_ylabel("precision (PPV)")
    if threshold is not None:
        rates = rates or rates_at(y, s, threshold)
        label = f"{rule} (threshold {threshold:.3f})"
        if _finite(rates.get("sensitivity")) and _finite(rates.get("specificity")):
            a.plot([1 - rates["specificity"]], [rates["sensitivity"]], "r*", ms=12, label=label)
            if _finite(rates.get("ppv")):
                b.plot([rates["sensitivity"]], [rates["ppv"]], "r*", ms=12, label=label)
    for ax in (a, b):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        _legend(ax, fontsize=7, loc="lower right" if ax is a else "lower left")
    fig.suptitle(title, fontsize=9, **LITERAL)
    _save(fig, path)


def _finite(v) -> bool:
    """Whether ``v`` is a number, not NaN (an undefined rate: NaN in memory, null in metrics.json)."""
    return isinstance(v, (int, float)) and np.isfinite(v)


#: a multi-label run's roc_pr.png draws this many labels' curves at most (the first, in label order: one colour
#: each); the rest are named under the panels as left out
ROC_LABELS = 10


def roc_pr_labels(y_true, scores, names: list[str], path: str | os.PathLike, points: dict | None = None,
                  rule: str = "", title: str = "", unit: str = "label") -> None:
    """A multi-label task's ROC and precision-recall curves, one per label (``y_true`` and ``scores``: ``(N, L)``),
    or a multi-class task's, one per class against the rest (``y_true`` one-hot, ``unit`` "class"),
    :data:`ROC_LABELS` at most, each label's operating point marked with a star of its colour where the caller has
    it: ``points``, ``{name: rates}`` with each label's test ``sensitivity``, ``specificity`` and ``ppv`` at its
    threshold chosen on validation (``metrics.json``'s ``operating_point.test.per_label``; the star had been computed
    again here from the threshold); no PR star where the PPV is undefined (no image called positive). The ROC legend
    names each label with its AUC, the PR legend with its average precision; labels left out (past
    :data:`ROC_LABELS`, or one class only in ``y_true``) are named."""
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    y, s = np.asarray(y_true).astype(int), np.asarray(scores, dtype=float)
    both = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]  # a curve needs positives and negatives
    drawn, points = both[:ROC_LABELS], points or {}
    fig = figure(figsize=(10, 4.8), layout="constrained")
    a, b = fig.subplots(1, 2)
    a.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    for k, j in enumerate(drawn):
        colour, name = f"C{k}", str(names[j])
        fpr, tpr, _ = roc_curve(y[:, j], s[:, j])
        prec, rec, _ = precision_recall_curve(y[:, j], s[:, j])
        a.plot(fpr, tpr, color=colour, lw=1.2, label=f"{name} (AUC {roc_auc_score(y[:, j], s[:, j]):.3f})")
        b.plot(rec, prec, color=colour, lw=1.2, label=f"{name} (AP {average_precision_score(y[:, j], s[:, j]):.3f})")
        rates = points.get(name) or {}
        star = {"color": colour, "mec": "black", "mew": 0.5, "ms": 11}
        if _finite(rates.get("sensitivity")) and _finite(rates.get("specificity")):
            a.plot([1 - rates["specificity"]], [rates["sensitivity"]], "*", **star)
            if _finite(rates.get("ppv")):
                b.plot([rates["sensitivity"]], [rates["ppv"]], "*", **star)
    if points and drawn:  # one legend entry for the stars: each label's own threshold
        a.plot([], [], "*", color="white", mec="black", ms=11, label=f"{rule or 'operating point'} (each label's "
                                                                           f"threshold)")
    for ax, (xlabel, ylabel) in ((a, ("1 - specificity", "sensitivity")),
                                 (b, ("recall (sensitivity)", "precision (PPV)"))):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if drawn:
            _legend(ax, fontsize=6.5, loc="lower right" if ax is a else "lower left")
    why = "one class in the test split" if unit == "label" else "no image of it in the test split"
    left = [f"{names[j]} ({why})" for j in range(y.shape[1]) if j not in both]
    left += [str(names[j]) for j in both[ROC_LABELS:]]
    if left:
        fig.supxlabel(f"Not drawn ({len(left)} of {y.shape[1]} {'classes' if unit == 'class' else 'labels'}): "
                      + ", ".join(left), fontsize=7, wrap=True, **LITERAL)
    fig.suptitle(title, fontsize=9, **LITERAL)
    _save(fig, path)


def seed_dots(groups: list[str], values: dict[str, list[list[float]]], path: str | os.PathLike, title: str = "",
              unit: str = "seed", xlabel: str = "", flagged: list[list[bool]] | None = None,
              flag_label: str = "", undefined: dict[str, list[str | None]] | None = None,
              averaged: list[bool] | None = None) -> None:
    """One panel per metric: each group's values (one dot per seed or fold) with its mean ± std as a bar, but for a
    group whose ``averaged`` entry is False: its dots alone (values the tables beside the figure give no mean ± std,
    a cross-validation's thresholds chosen on each fold's own calibrated scale and its temperatures).
    ``values``: ``{metric: [[v, ...] per group]}``. ``flagged``: ``[[bool per run] per group]``, in ``values``' run
    order: those runs' dots are drawn as red crosses, in every panel, named ``flag_label`` in the legend (a
    comparison's runs that call every test image one class, which its tables name). A group without a value in a
    panel says so in its place: ``undefined``'s ``{metric: [why, per group]}`` (``AUC undefined: ...``), else "no value
    in any <unit>" (an undefined AUC's panel had been left empty without a word)."""
    fig = figure(figsize=(max(4.0, 1.0 + 0.9 * len(groups)) * len(values) / 1.4, 3.8))
    axes = fig.subplots(1, len(values), squeeze=False)
    x = np.arange(len(groups))
    for ax, (metric, per_group) in zip(axes[0], values.items()):
        labelled = set()  # each legend entry once, at its first dot (the first group may have no finite value)
        for i, vals in enumerate(per_group):
            marks = flagged[i] if flagged else []
            kept = [(float(a), j < len(marks) and bool(marks[j])) for j, a in enumerate(vals)
                    if a is not None and np.isfinite(float(a))]
            if not kept:
                why = ((undefined or {}).get(metric) or [None] * len(per_group))[i] or f"no value in any {unit}"
                ax.text(x[i], 0.5, textwrap.fill(why, 34), transform=ax.get_xaxis_transform(), rotation=90,
                        ha="center", va="center", fontsize=6.5, color="0.35", **LITERAL)
                continue
            v, f = np.array([a for a, _ in kept]), np.array([b for _, b in kept])
            jitter = np.linspace(-0.12, 0.12, len(v)) if len(v) > 1 else np.zeros(1)
            for which, style in ((~f, dict(marker="o", ms=5, alpha=0.7, color="tab:blue", label=unit)),
                                 (f, dict(marker="X", ms=7, color="tab:red", label=flag_label or "flagged"))):
                if which.any():
                    label = None if style["label"] in labelled else style["label"]
                    labelled.add(style["label"])
                    ax.plot(x[i] + jitter[which], v[which], ls="none", **{**style, "label": label})
            if averaged is not None and i < len(averaged) and not averaged[i]:
                continue
            ax.errorbar([x[i] + 0.28], [v.mean()], yerr=[v.std(ddof=1) if len(v) > 1 else 0.0], fmt="_", ms=12,
                        color="black", capsize=3, label=None if "mean" in labelled else "mean ± std")
            labelled.add("mean")
        # distinct labels: g[:17] had shown "shift,erasing,cutmix" and "shift,erasing,cutout" as one
        ax.set_xticks(x, tick_labels(groups), rotation=30, ha="right", fontsize=7, **LITERAL)
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.set_title(metric, fontsize=9, **LITERAL)
        ax.set_xlabel(xlabel, fontsize=8, **LITERAL)
        ax.grid(axis="y", alpha=0.3)
    entries: dict = {}  # one legend, on the first panel, of every panel's entries (a run may be flagged in another)
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if entries:
        # room above the first panel's dots and bars for its legend: "best" had put it over a mean ± std bar (the
        # evidence walk, session 33), where no free corner was left
        first = axes[0][0]
        low, high = first.get_ylim()
        first.set_ylim(low, high + (0.15 + 0.12 * len(entries)) * (high - low))
        _legend(first, handles=list(entries.values()), labels=list(entries), fontsize=7, loc="upper center")
    if title:
        fig.suptitle(title, fontsize=9, **LITERAL)
    _save(fig, path)
