"""Writing an explanation: ``maps.npz`` and one overlay PNG per input, all at once."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from medtrain._io import atomic_dir

MAPS_FILE = "maps.npz"


def _file_stem(name: str) -> str:
    stem = Path(name).name
    for suffix in (".nii.gz", ".nii", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:60] or "input"


def _read_as_ras(name: str) -> bool:
    """Whether the input ``name`` was a NIfTI file or DICOM series, which the data layer reorders to RAS."""
    return name.lower().endswith((".nii", ".nii.gz")) or Path(name).is_dir()


def write_explanation(res, out: str | os.PathLike) -> list[Path]:
    """Write an :class:`~medtrain.explain.Explanation` ``res`` as ``maps.npz`` (``maps``, ``inputs``, ``target``,
    ``target_name``, ``method``, ``layer``) and one overlay PNG per input (``NNNN_<name>.png``; for volumes the
    three central orthogonal slices) into the folder ``out``, all at once: an error leaves nothing; the overlays of an earlier explanation in ``out`` are
    removed. Returns the written PNGs."""
    from medtrain.reports.plots import saliency_overlay

    out = Path(out)
    pngs = []  # an out that is a file is refused by atomic_dir (_io.check_output), the CLI's --out check too
    with atomic_dir(out) as tmp:
        for i, name in enumerate(res.names):
            k = int(res.targets[i])
            png = f"{i:04d}_{_file_stem(name)}.png"
            title = (f"{name} · {res.method}{f' at {res.layer}' if res.layer else ''} · "
                     f"{res.labels[k]} (p = {res.probs[i, k]:.3f})")
            saliency_overlay(res.images[i], res.maps[i], tmp / png, title, ras=_read_as_ras(name))
            pngs.append(out / png)
        np.savez_compressed(tmp / MAPS_FILE, maps=res.maps, inputs=np.array(res.names, dtype=str),
                            target=res.targets, target_name=np.array([res.labels[k] for k in res.targets], dtype=str),
                            method=np.array(res.method), layer=np.array(res.layer or ""))
    # overlays of an earlier explanation written into the same folder would sit beside these maps as if
    # they were theirs: gone (found in a user walkthrough); other files are left alone
    for old in set(out.glob("[0-9][0-9][0-9][0-9]_*.png")) - set(pngs):
        old.unlink()
    return pngs
