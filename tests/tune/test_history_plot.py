"""history.png says what it plots: the study's metric on the y axis (it had said "Objective Value"), whole trial
numbers on the x axis (ticks at 0.5, 1.5 had been drawn), and the pruned trials, which Optuna's plot leaves out, at
their last reported value with a marker of their own."""
from __future__ import annotations

import optuna
import optuna.visualization.matplotlib as ovm

from medtrain.tune.report import HISTORY_PNG, write_plots


def study_with_a_pruned_trial(monitor: str) -> optuna.Study:
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))
    study.set_user_attr("medtrain", {"monitor": monitor})

    def objective(trial):
        x = [0.6, 0.8, 0.1][trial.number]
        trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        for epoch in range(3):
            trial.report(x, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return x

    study.optimize(objective, n_trials=3)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    return study


def drawn_history(study, tmp_path, monkeypatch):
    drawn = []
    real = ovm.plot_optimization_history
    monkeypatch.setattr(ovm, "plot_optimization_history", lambda *a, **k: drawn.append(real(*a, **k)) or drawn[-1])
    write_plots(study, tmp_path)
    assert (tmp_path / HISTORY_PNG).is_file()
    (ax,) = drawn
    return ax


def test_the_history_names_its_metric_shows_pruned_trials_and_whole_trial_numbers(tmp_path, monkeypatch):
    ax = drawn_history(study_with_a_pruned_trial("val_auc"), tmp_path, monkeypatch)
    assert ax.get_ylabel() == "val AUC"
    points = {(round(float(x)), round(float(y), 6)) for c in ax.collections for x, y in c.get_offsets()}
    assert (2, 0.1) in points  # the pruned trial, at its last reported value
    assert any("pruned" in t.get_text() for t in ax.get_legend().get_texts())
    assert all(float(t).is_integer() for t in ax.get_xticks())


def test_a_loss_study_says_loss(tmp_path, monkeypatch):
    assert drawn_history(study_with_a_pruned_trial("val_loss"), tmp_path, monkeypatch).get_ylabel() == "val loss"
