"""The learning curve's kept-epoch and early-stop marks name the metric that chose each."""
from medtrain.reports import plots


def _labels(monkeypatch, **kw) -> list[str]:
    seen = []
    real = plots._save

    def keep(fig, path):
        seen.extend(t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts())
        real(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    history = [{"epoch": e, "train_loss": 1.0 / (e + 1), "val_loss": 0.5 + abs(e - 7) / 20} for e in range(13)]
    plots.learning_curve(history, 5, 12, kw.pop("path"), "t", early_stopped=True, **kw)
    return seen


def test_marks_name_both_metrics_when_they_differ(tmp_path, monkeypatch):
    # --early-stop val_loss --patience 5 with the default --monitor val_auc: the kept epoch is val AUC's best,
    # the stop counts from val loss's
    labels = _labels(monkeypatch, path=tmp_path / "lc.png", monitor="val_auc", early_stop="val_loss", patience=5)
    assert "kept: best val AUC (epoch 6)" in labels
    assert "early stop: val loss, patience 5 (epoch 13)" in labels
    assert (tmp_path / "lc.png").stat().st_size > 0


def test_kept_last_says_last(tmp_path, monkeypatch):
    labels = _labels(monkeypatch, path=tmp_path / "lc.png", checkpoint="last", monitor="val_auc",
                     early_stop="val_acc", patience=3)
    assert "kept: last epoch (6)" in labels and "early stop: val ACC, patience 3 (epoch 13)" in labels
