"""The train line of learning_curve.png and of overlay_curves is each epoch's mean over its training steps, with
augmentation (Mixup/CutMix targets) and dropout on where the run uses them; the validation loss is eval mode on
unaugmented images. A legend reading only "train loss" had the gap read as overfitting alone."""
from __future__ import annotations

from medtrain.reports import curves, plots


def _history(n=5):
    return [{"epoch": e, "train_loss": 1.0 / (e + 1), "val_loss": 0.8 / (e + 1) + 0.1, "val_auc": 0.5 + e / 20}
            for e in range(n)]


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]


def test_learning_curve_legend_says_the_train_loss_is_taken_with_augmentation_and_dropout(tmp_path, monkeypatch):
    seen = []
    real = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: (seen.extend(_legend_texts(fig)), real(fig, path)))
    plots.learning_curve(_history(), 2, 4, tmp_path / "lc.png", "t")
    train = [t for t in seen if t.startswith("train loss")]
    assert train == ["train loss (augmentation, dropout on if used)"]
    assert "validation loss" in seen
    assert (tmp_path / "lc.png").stat().st_size > 0


def test_overlay_curves_legend_says_the_train_loss_is_taken_with_augmentation_and_dropout(tmp_path, monkeypatch):
    figs = []
    real = plots.figure
    monkeypatch.setattr(plots, "figure", lambda **kw: figs.append(real(**kw)) or figs[-1])
    run = {"history": _history(), "best_epoch": 2, "stop_epoch": 4, "early_stopped": False}
    a = {"group": "none", "cell": {}, "runs": [run]}
    b = {"group": "dropout", "cell": {"dropout": "0.3"}, "runs": [run]}
    curves.overlay_curves(a, b, tmp_path / "o.png")
    texts = _legend_texts(figs[0])
    assert [t for t in texts if ": train" in t] == ["none: train (augmentation, dropout on if used)",
                                                   "dropout (dropout=0.3): train (augmentation, dropout on if used)"]
    assert "none: validation" in texts
    assert (tmp_path / "o.png").stat().st_size > 0
