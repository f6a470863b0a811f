"""The saliency overlays ``medtrain explain`` draws: an image, or a volume's three orthogonal slices through its map's
peak (shown as radiology does where the volume is in RAS order), beside the same view with the map laid over it.
Drawn as every figure of :mod:`medtrain.reports.plots` is, with its ``figure``, and saved by its ``_save``, both
looked up there at each call (tests replace them to catch figures)."""
from __future__ import annotations

import os

import numpy as np

from medtrain.reports import plots


#: RAS volumes (D, H, W) = (Z, Y, X) shown as radiology does: one slice along each axis, superior
#: (coronal, sagittal) or anterior (axial) up, the patient's right on the viewer's left, anterior left in the
#: sagittal view; ``(top, bottom, left, right)`` letters name the sides
RAS_VIEWS = (("axial", "APRL"), ("coronal", "SIRL"), ("sagittal", "SIAP"))


def peak_voxel(saliency) -> tuple[int, ...] | None:
    """Where a map ``(*spatial)`` is highest (its first maximum in array order), as indices; None where it is
    constant (an all-zero map: no evidence anywhere), which has no peak."""
    s = np.asarray(saliency, dtype=float)
    if not s.size or not s.max() > s.min():
        return None
    return tuple(int(i) for i in np.unravel_index(np.argmax(s), s.shape))


def volume_views(image, saliency, ras: bool, at=None) -> list[tuple[np.ndarray, np.ndarray, str, str]]:
    """The three orthogonal slices through voxel ``at`` ``(z, y, x)`` (None: the central slices) of ``image``
    ``(C, D, H, W)`` and ``saliency`` ``(D, H, W)``: ``(image (C, h, w), map (h, w), name, side letters)``.
    ``ras``: the volume is in RAS order (read from NIfTI or DICOM), so slices are turned to the radiological
    display of :data:`RAS_VIEWS`; otherwise (a .npz, whose orientation is unknown) they are shown in array order,
    named by axis, without letters."""
    at = tuple(size // 2 for size in saliency.shape) if at is None else at
    views = []
    for a, i in enumerate(at):
        v, m = np.take(image, i, axis=a + 1), np.take(saliency, i, axis=a)
        if ras:  # rows run inferior->superior (posterior->anterior), columns left->right or posterior->anterior
            views.append((v[:, ::-1, ::-1], m[::-1, ::-1], RAS_VIEWS[a][0], RAS_VIEWS[a][1]))
        else:
            views.append((v, m, f"axis {a} (array order)", ""))
    return views


def saliency_overlay(image, saliency, path: str | os.PathLike, title: str = "", ras: bool = False) -> None:
    """An image ``(C, H, W)`` (or volume ``(C, D, H, W)``, shown as its three orthogonal slices through the map's
    peak, :func:`peak_voxel`, or the central ones where the map has none: :func:`volume_views`; the panels name
    their slice's index) beside the same view with a saliency map ``(*spatial)`` in [0, 1] laid over it
    (``jet``, alpha 0.5, with its colour bar). The central slices had been drawn whatever the map: a walkthrough's
    off-centre lesion crossed none of them in 68% of positive test volumes, its map's peak never shown."""
    img, sal = np.asarray(image), np.asarray(saliency, dtype=float)
    at = peak_voxel(sal) if img.ndim == 4 else None
    slices = at or tuple(size // 2 for size in sal.shape)
    views = [(img, sal, "", "")] if img.ndim == 3 else volume_views(img, sal, ras, at)
    if img.ndim == 4:
        # (z, y, x) named: the NIfTI map beside it is indexed (x, y, z), and (0, 8, 12) read as either misleads
        where = (f"slices through the map's peak, voxel (z, y, x) {slices}" if at
                 else "central slices (a map without a peak)")
        title = f"{title}\n{where}" if title else where
    fig = plots.figure(figsize=(2.6 * len(views) + 0.6, 5.4))
    axes = fig.subplots(2, len(views), squeeze=False)
    for j, (v, s, name, sides) in enumerate(views):
        shown = v[0] if v.shape[0] == 1 else np.moveaxis(v[:3], 0, -1)
        for i in range(2):
            ax = axes[i, j]
            ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=255)
            ax.set_xticks([])  # no ticks, but the frame stays: white tissue is not lost in the white page
            ax.set_yticks([])
            for letter, xy in zip(sides, ((0.5, 1.0), (0.5, -0.02), (-0.02, 0.5), (1.02, 0.5))):
                ax.text(*xy, letter, transform=ax.transAxes, ha="center", va="bottom" if xy[1] >= 1 else
                        "top" if xy[1] < 0 else "center", fontsize=7, color="black")
        overlay = axes[1, j].imshow(s, cmap="jet", alpha=0.5, vmin=0, vmax=1)
        if name:
            axes[0, j].set_title(f"{name} · slice {slices[j]}", fontsize=8, pad=10 if sides else 4, **plots.LITERAL)
    bar = fig.colorbar(overlay, ax=axes.ravel().tolist(), fraction=0.03, shrink=0.5, pad=0.04)
    bar.set_label("saliency (per image, 0-1)", fontsize=7)
    bar.ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9, **plots.LITERAL)
    plots._save(fig, path, palette=False)  # an image under a colour map: a palette would band it
