"""A monitored metric has one label (medtrain.reports.names): the learning curve's and a search's axis had each kept
a copy of the same table; the module holding it imports no matplotlib, and a search's report module loads no
plotting module on import."""
from __future__ import annotations

import subprocess
import sys

import optuna
import pytest

from medtrain.reports import names, plots
from medtrain.tune.report import metric_label


def _loaded_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return set(done.stdout.split())


def test_the_names_module_imports_no_matplotlib():
    loaded = _loaded_after("medtrain.reports.names")
    assert not any(m == "matplotlib" or m.startswith("matplotlib.") for m in loaded)


def test_a_searchs_report_module_loads_no_plotting_module_on_import():
    # (matplotlib itself comes with Lightning's torchmetrics on this import; medtrain's figures do not)
    loaded = _loaded_after("medtrain.tune.report")
    assert "medtrain.reports.plots" not in loaded and "medtrain.reports.names" in loaded


@pytest.mark.parametrize("monitor", ["val_auc", "val_acc", "val_loss"])
def test_a_search_names_its_metric_as_the_learning_curve_names_the_kept_epochs(tmp_path, monkeypatch, monitor):
    seen = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: seen.extend(t.get_text() for t in
                                                                      fig.axes[0].get_legend().get_texts()))
    history = [{"epoch": e, "train_loss": 1.0, "val_loss": 1.0} for e in range(2)]
    plots.learning_curve(history, 1, 1, tmp_path / "lc.png", monitor=monitor)
    study = optuna.create_study(direction="minimize" if monitor == "val_loss" else "maximize")
    study.set_user_attr("medtrain", {"monitor": monitor})
    label = metric_label(study)
    assert label == names.METRIC_NAMES[monitor]
    assert f"kept: best {label} (epoch 2)" in seen
