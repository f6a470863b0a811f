"""Figures a clinical reader looks at: saliency overlays of volumes are oriented as radiology shows them."""
from __future__ import annotations

import numpy as np


def test_ras_volume_slices_are_shown_superior_and_anterior_up_with_the_patients_right_on_the_left():
    # an explain overlay of a NIfTI showed the head down and no side letters (a user walkthrough)
    from medtrain.reports._plots_saliency import volume_views

    vol = np.zeros((1, 28, 28, 28), np.uint8)  # (C, D, H, W) = (C, Z, Y, X), RAS: +Z superior, +Y anterior, +X right
    vol[0, 22:, :, :] = 50      # a superior slab
    vol[0, :, 22:, :] += 100    # an anterior slab
    vol[0, :, :, 22:] += 25     # a block on the patient's right
    views = {name: (v[0], sides) for v, _, name, sides in volume_views(vol, vol[0].astype(float) / 255, ras=True)}
    axial, coronal, sagittal = views["axial"], views["coronal"], views["sagittal"]
    assert (axial[1], coronal[1], sagittal[1]) == ("APRL", "SIRL", "SIAP")
    assert axial[0][0].mean() > axial[0][-1].mean()            # anterior up
    assert axial[0][:, 0].mean() > axial[0][:, -1].mean()      # the patient's right on the viewer's left
    assert coronal[0][0].mean() > coronal[0][-1].mean()        # superior up
    assert sagittal[0][0].mean() > sagittal[0][-1].mean()      # superior up
    assert sagittal[0][:, 0].mean() > sagittal[0][:, -1].mean()  # anterior on the left
    plain = volume_views(vol, vol[0].astype(float), ras=False)  # orientation unknown (.npz): array order, no letters
    assert [s for *_, s in plain] == ["", "", ""]
    np.testing.assert_array_equal(plain[1][0], np.take(vol, 14, axis=2))


RETINA = ["DR_with_macular_edema", "age_related_macular_degeneration_dry", "age_related_macular_degeneration_wet",
          "choroidal_nevus", "coats_disease", "epiretinal_membrane", "glaucoma_suspect", "hypertensive_retinopathy",
          "macular_hole", "mild_NPDR", "moderate_NPDR", "myopic_maculopathy", "no_DR", "optic_disc_drusen",
          "proliferative_DR", "retinal_vein_occlusion_branch", "retinal_vein_occlusion_central",
          "retinitis_pigmentosa", "severe_NPDR", "toxoplasmosis_scar"]


def test_confusion_matrix_of_20_long_class_names_labels_every_row_and_column_distinctly(tmp_path, monkeypatch):
    # names cut to 14 characters showed ..._dry and ..._wet both as "age_related_ma" (a user walkthrough)
    from medtrain.reports import plots

    shown = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: shown.append(fig))
    cm = np.arange(400).reshape(20, 20) % 7
    plots.confusion_matrix(cm, {str(i): n for i, n in enumerate(RETINA)}, tmp_path / "cm.png", "twenty")
    ax = shown[0].axes[0]
    for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
        labels = [t.get_text() for t in ticks]
        assert len(labels) == 20 and len(set(labels)) == 20, labels
        assert "choroidal_nevus" in labels and "no_DR" in labels  # a name that fits is kept whole
        dry, wet = labels[1], labels[2]
        assert dry.startswith("age_related") and dry.endswith("dry") and wet.endswith("wet")
        assert all(len(t) <= 24 for t in labels)
        assert all(t.get_fontsize() >= 6 for t in ticks)
    width, height = shown[0].get_size_inches() * 120  # the report shows it about 1100 px wide: not shrunk far
    assert width < 1300 and height < 1300


def test_tick_labels_that_still_coincide_when_shortened_are_numbered():
    from medtrain.reports.plots import tick_labels

    names = ["scan_" + "x" * 30 + "_a_" + "y" * 12, "scan_" + "x" * 30 + "_b_" + "y" * 12, "normal"]
    labels = tick_labels(names)
    assert len(set(labels)) == 3 and [t.split(":")[0] for t in labels] == ["0", "1", "2"], labels
    assert labels[2] == "2: normal"
    assert tick_labels(["normal", "pneumonia"]) == ["normal", "pneumonia"]


DOLLAR_NAMES = ["cost $5-$10", "bad $\\frac$ x", "pair $5-$ ok"]  # own-data class folders (a user walkthrough)


def _drawn(monkeypatch):
    """Figures the plots module saves, saved for real (a mathtext error is raised while drawing)."""
    from medtrain.reports import plots

    figs, save = [], plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path, **kw: (figs.append(fig), save(fig, path, **kw)))
    return figs


USER_MATHS = ("$5-$", "$\\frac$", "$data$", "$x$", "$AUC$", "$b$")  # what the test's names and titles carry


def _user_texts(fig):
    from matplotlib.text import Text

    fig.draw_without_rendering()  # tick labels are made while drawing
    return [t for t in fig.findobj(Text) if any(m in t.get_text() for m in USER_MATHS) and t.get_visible()]


def test_class_names_with_dollar_signs_are_drawn_literally_in_every_figure(tmp_path, monkeypatch):
    # `bad $\frac$ x` crashed the run after training with a mathtext ParseSyntaxException; `$5-$` became maths
    from medtrain.reports import _plots_saliency, plots

    figs = _drawn(monkeypatch)
    names = {str(i): n for i, n in enumerate(DOLLAR_NAMES)}
    title = f"my $data$ · {DOLLAR_NAMES[1]}"
    history = [{"epoch": e, "train_loss": 1.0 / (e + 1), "val_loss": 1.2 / (e + 1)} for e in range(3)]
    plots.learning_curve(history, 1, 2, tmp_path / "lc.png", title, early_stopped=True)
    plots.confusion_matrix(np.arange(9).reshape(3, 3), names, tmp_path / "cm.png", title)
    plots.confusion_matrix(np.ones((3, 2, 2), int), names, tmp_path / "ml.png", title)
    bins = {"confidence": [0.2, 0.7], "frequency": [0.3, 0.6], "count": [5, 5]}
    plots.reliability_diagram({"validation": {"before": bins, "after": bins, "ece": 0.1, "ece_scaled": 0.05,
                                              "temperature": 1.3}}, tmp_path / "rel.png", title)
    rng = np.random.default_rng(0)
    plots.roc_pr(rng.integers(0, 2, 50), rng.random(50), tmp_path / "roc.png", 0.5, "rule $x$", title)
    plots.cost_accuracy_scatter([(n, 1e6 * (i + 1), 0.8) for i, n in enumerate(DOLLAR_NAMES)], tmp_path / "c.png",
                                title)
    _plots_saliency.saliency_overlay(np.zeros((1, 8, 8), np.uint8), np.zeros((8, 8)), tmp_path / "sal.png", title)
    plots.seed_dots(DOLLAR_NAMES, {"val $AUC$": [[0.8, 0.9]] * 3}, tmp_path / "s.png", title, xlabel="a $b$")
    for name in ("lc", "cm", "ml", "rel", "roc", "c", "sal", "s"):
        assert (tmp_path / f"{name}.png").stat().st_size > 0, name
    assert len(figs) == 8
    for fig in figs:
        texts = _user_texts(fig)
        assert texts and all(not t.get_parse_math() for t in texts), [t.get_text() for t in texts]
    matrix = figs[1].axes[0]
    for ticks in (matrix.get_xticklabels(), matrix.get_yticklabels()):
        assert [t.get_text() for t in ticks] == DOLLAR_NAMES
    assert [a.get_title() for a in figs[2].axes] == DOLLAR_NAMES


def test_a_log_axis_keeps_its_powers_of_ten_typeset(tmp_path, monkeypatch):
    # only user texts are literal: 10^1 on the cost plot's log axis is still maths, not "$\mathdefault{10^{1}}$"
    from medtrain.reports import plots

    figs = _drawn(monkeypatch)
    plots.cost_accuracy_scatter([("a", 1e6, 0.8), ("b", 1e8, 0.9)], tmp_path / "cost.png")
    figs[0].draw_without_rendering()
    ticks = [t for t in figs[0].axes[0].get_xticklabels() if "$" in t.get_text()]
    assert ticks and all(t.get_parse_math() for t in ticks)


def test_compare_cells_that_differ_only_at_the_end_get_distinct_seed_plot_labels(tmp_path, monkeypatch):
    # names cut to 17 characters showed "shift,erasing,cutmix" and "shift,erasing,cutout" as one (a user walkthrough)
    from medtrain.reports import plots

    figs = _drawn(monkeypatch)
    long_ = ["policy=" + "x" * 30 + "_a", "policy=" + "x" * 30 + "_b"]
    cells = ["shift,erasing,cutmix", "shift,erasing,cutout", "base"] + long_
    plots.seed_dots(cells, {"val AUC": [[0.8, 0.9]] * 5, "test AUC": [[0.7, 0.75]] * 5}, tmp_path / "seeds.png")
    for ax in figs[0].axes:
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert len(set(labels)) == len(cells), labels
        assert "shift,erasing,cutmix" in labels[0] and "shift,erasing,cutout" in labels[1]
        assert labels[3].endswith("_a") and labels[4].endswith("_b")


def test_fourteen_label_confusion_matrices_are_laid_out_in_a_grid_that_reads_on_a_page(tmp_path, monkeypatch):
    # one row of 14 2x2 panels had been a 2931x268 px strip (a user walkthrough)
    from PIL import Image

    from medtrain.reports import plots

    figs = _drawn(monkeypatch)
    names = {str(i): f"finding_{i}" for i in range(14)}
    plots.confusion_matrix(np.ones((14, 2, 2), int), names, tmp_path / "ml.png", "chest")
    width, height = Image.open(tmp_path / "ml.png").size
    assert width / height < 3 and width < 1600, (width, height)
    assert sorted(a.get_title() for a in figs[0].axes) == sorted(names.values())  # every label's panel, no blank one


def test_a_one_epoch_learning_curve_shows_its_point(tmp_path, monkeypatch):
    # --epochs 1 (and every 1-epoch tune trial) drew an empty box: a line without markers shows no single point
    from medtrain.reports import plots

    figs = _drawn(monkeypatch)
    plots.learning_curve([{"epoch": 0, "train_loss": 0.7, "val_loss": 0.8}], 0, 0, tmp_path / "lc.png", "one")
    # (the train line's label says how it was taken: "train loss (augmentation, dropout on if used)")
    curves = [line for line in figs[0].axes[0].get_lines() if " loss" in line.get_label()]
    assert len(curves) == 2
    for line in curves:
        assert len(line.get_xdata()) == 1 and line.get_marker() not in (None, "", " ", "None", "none")
        assert line.get_markersize() > 0


def test_the_reliability_panels_are_titled_by_split_under_one_run_title(tmp_path, monkeypatch):
    # side by side, "pneumoniamnist · resnet18_28_half · seed 0 · validation" and "... · test" ran into each other
    from medtrain.reports import plots

    figs = _drawn(monkeypatch)
    bins = {"confidence": [0.2, 0.7], "frequency": [0.3, 0.6], "count": [5, 5]}
    panel = {"before": bins, "after": bins, "ece": 0.1, "ece_scaled": 0.05, "temperature": 1.3}
    plots.reliability_diagram({"validation": panel, "test": panel}, tmp_path / "rel.png",
                              "pneumoniamnist · resnet18_28_half · seed 0")
    (fig,) = figs
    assert [ax.get_title() for ax in fig.axes] == ["validation", "test"]
    assert fig.get_suptitle() == "pneumoniamnist · resnet18_28_half · seed 0"


# What the subprocess below draws: every figure medtrain writes, in a "notebook" whose backend is its own (svg
# needs no display and is not Agg), with a figure of its own open and current, and then reports what is left.
_NOTEBOOK = r'''
import json, sys
from pathlib import Path

import matplotlib
matplotlib.use("svg")
import matplotlib.pyplot as plt
import numpy as np
import optuna

mine = plt.figure()  # the user's own figure, open and current
facecolor = matplotlib.rcParams["axes.facecolor"]
from medtrain.reports import _plots_saliency, curves, plots
from medtrain.tune import report

out = Path(sys.argv[1])
history = [{"epoch": e, "train_loss": 1 / (e + 1), "val_loss": 1.2 / (e + 1), "val_auc": 0.5 + 0.1 * (e % 3)}
           for e in range(6)]
plots.learning_curve(history, 1, 4, out / "lc.png", "t $a$", early_stopped=True)
plots.confusion_matrix(np.arange(9).reshape(3, 3), {"0": "normal", "1": "pneumonia $x$", "2": "other"},
                       out / "cm.png", "cm")
plots.confusion_matrix(np.ones((7, 2, 2), int), {str(i): f"f{i}" for i in range(7)}, out / "ml.png", "ml")
bins = {"confidence": [0.2, 0.7], "frequency": [0.3, 0.6], "count": [5, 5]}
panel = {"before": bins, "after": bins, "ece": 0.1, "ece_scaled": 0.05, "temperature": 1.3}
plots.reliability_diagram({"validation": panel, "test": panel}, out / "rel.png", "rel")
rng = np.random.default_rng(0)
plots.roc_pr(rng.integers(0, 2, 50), rng.random(50), out / "roc.png", 0.5, "rule", "roc")
plots.cost_accuracy_scatter([("a", 1e6, 0.8), ("b", 1e8, 0.9)], out / "cost.png", "cost")
_plots_saliency.saliency_overlay(np.zeros((1, 8, 8), np.uint8), rng.random((8, 8)), out / "sal.png", "sal")
_plots_saliency.saliency_overlay(np.zeros((1, 8, 9, 10), np.uint8), rng.random((8, 9, 10)), out / "vol.png", "vol", ras=True)
plots.seed_dots(["a", "b"], {"val AUC": [[0.8, 0.9]] * 2}, out / "seeds.png", "s")
run = {"history": history, "best_epoch": 2, "stop_epoch": 5, "early_stopped": False}
cell = {"group": "base", "cell": {}, "runs": [run]}
curves.overlay_curves(cell, {**cell, "group": "aug"}, out / "overlay.png", replay_patience=2)
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
study.optimize(lambda t: t.suggest_float("lr", 1e-3, 1e-1, log=True) + t.suggest_float("p", 0, 0.5), n_trials=6)
skipped = report.write_plots(study, out)
print(json.dumps({"backend": matplotlib.get_backend(), "fignums": plt.get_fignums(), "mine": plt.gcf() is mine,
                  "facecolor_kept": matplotlib.rcParams["axes.facecolor"] == facecolor, "skipped": skipped}))
'''


def test_drawing_every_figure_leaves_a_notebooks_matplotlib_backend_figures_and_style_as_they_were(tmp_path):
    # the first medtrain.train in a notebook had switched the process to Agg (module-level matplotlib.use):
    # inline figures and Tk/Qt windows stopped appearing; tune's optuna plots also left the ggplot style on
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from PIL import Image

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("MPLBACKEND", None)
    done = subprocess.run([sys.executable, "-c", _NOTEBOOK, str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads(done.stdout.strip().splitlines()[-1])
    assert state["backend"] == "svg"                     # the process's backend is the user's
    assert state["fignums"] == [1] and state["mine"]     # pyplot holds the user's figure, still current, and no other
    assert state["facecolor_kept"] and state["skipped"] == []
    names = ["lc", "cm", "ml", "rel", "roc", "cost", "sal", "vol", "seeds", "overlay", "history", "importance"]
    for name in names:
        with Image.open(tmp_path / f"{name}.png") as im:
            im.verify()  # a whole PNG, not an SVG or a cut-off file
    # the same pixels sizes as when matplotlib.use("Agg") drew them (recorded before the change)
    sizes = {n: Image.open(tmp_path / f"{n}.png").size for n in ("lc", "cm", "history", "importance")}
    assert sizes == {"lc": (644, 470), "cm": (557, 558), "history": (700, 450), "importance": (700, 450)}
