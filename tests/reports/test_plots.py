"""Figures a clinical reader looks at: saliency overlays of volumes are oriented as radiology shows them."""
from __future__ import annotations

import numpy as np


def test_ras_volume_slices_are_shown_superior_and_anterior_up_with_the_patients_right_on_the_left():
    # an explain overlay of a NIfTI showed the head down and no side letters (a user walkthrough)
    from medtrain.reports.plots import volume_views

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
