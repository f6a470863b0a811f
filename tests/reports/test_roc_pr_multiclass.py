"""A multi-class (or ordinal) run's report and each external site's draw ROC and precision-recall curves, one per
class against the rest, whose AUCs' mean is the run's test AUC as MedMNIST computes it: only binary and multi-label
runs had any (RetinaMNIST's report had none)."""
import numpy as np
import pytest
from conftest import fast_config, run_cli

import medtrain
from medtrain import metrics
from medtrain.reports import plots
from medtrain.tasks import MULTICLASS, one_vs_rest


def test_the_curves_auc_mean_is_the_multi_class_auc_and_a_class_without_images_is_named(tmp_path, monkeypatch):
    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figs.append(fig))
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    s = rng.dirichlet(np.ones(3), 60) + np.eye(3)[y] * rng.uniform(0, 1, (60, 1))
    s /= s.sum(1, keepdims=True)
    plots.roc_pr_labels(one_vs_rest(y, 3), s, ["a", "b", "c"], tmp_path / "r.png", unit="class")
    legend = [t.get_text() for t in figs[0].axes[0].get_legend().get_texts()]
    assert [t.split(" (")[0] for t in legend] == ["a", "b", "c"]
    aucs = [float(t.split("AUC ")[1].rstrip(")")) for t in legend]
    assert np.mean(aucs) == pytest.approx(metrics.auc(y, s, MULTICLASS), abs=1e-3)  # MedMNIST's multi-class AUC
    assert 0.6 < metrics.auc(y, s, MULTICLASS) < 0.99
    four = np.hstack([s, np.zeros((60, 1))])  # a fourth class no test image has
    plots.roc_pr_labels(one_vs_rest(y, 4), four, ["a", "b", "c", "d"], tmp_path / "r.png", unit="class")
    assert figs[1]._supxlabel.get_text() == "Not drawn (1 of 4 classes): d (no image of it in the test split)"


def test_a_three_class_run_and_its_external_site_draw_them(three_class_npz, tmp_path, capsys):
    run = tmp_path / "run"
    medtrain.train(fast_config(three_class_npz, run, epochs=1, bootstrap=0), verbose=False)
    assert (run / "roc_pr.png").is_file()
    assert "one curve per class against the rest (the mean of their AUCs is the test AUC)" in \
        (run / "report.html").read_text()
    code, _, err = run_cli(capsys, "eval", run, "--data", three_class_npz)
    assert code == 0, err
    assert len(list(run.glob("roc_pr_external_*.png"))) == 1
    assert "one curve per class against the rest" in (run / "report.html").read_text().split("External")[-1]


def test_a_runs_and_a_sites_class_curves_are_of_the_scores_their_aucs_are(three_class_npz, tmp_path, capsys,
                                                                         monkeypatch):
    # the curves had been drawn of the temperature-scaled scores, which move the one-vs-rest rankings: their
    # legend's class AUCs differed from the per-class table and the test AUC by up to 0.014 (a reader's walk)
    import json

    drawn = []
    real = plots.roc_pr_labels
    monkeypatch.setattr(plots, "roc_pr_labels", lambda y, s, *a, **k: (drawn.append(np.asarray(s)), real(y, s, *a, **k)))
    run = tmp_path / "run"
    medtrain.train(fast_config(three_class_npz, run, epochs=2, bootstrap=0), verbose=False)
    m = json.loads((run / "metrics.json").read_text())
    assert m["calibration"]["temperature"] != 1  # else the scores drawn would be the same either way
    y = np.load(three_class_npz)["test_labels"].ravel()
    assert metrics.auc(y, drawn[0], MULTICLASS) == pytest.approx(m["test"]["auc"], abs=1e-9)
    code, _, err = run_cli(capsys, "eval", run, "--data", three_class_npz)
    assert code == 0, err
    site = json.loads(next(run.glob("eval_external_*.json")).read_text())
    assert site["n"] == len(y) and metrics.auc(y, drawn[1], MULTICLASS) == pytest.approx(site["auc"], abs=1e-9)
    assert "scores before temperature scaling" in (run / "report.html").read_text().split("External")[-1]
