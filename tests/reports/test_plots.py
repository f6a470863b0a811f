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
