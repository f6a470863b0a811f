"""Writing an explanation: ``maps.npz`` and one overlay PNG per input, all at once."""
from __future__ import annotations

import os
import re
import zipfile
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


def _overlay_name(i: int, name: str) -> str:
    return f"{i:04d}_{_file_stem(name)}.png"


_OVERLAY = re.compile(r"[0-9]{4}_[A-Za-z0-9._-]+\.png")


def _earlier_overlays(out: Path) -> set[str]:
    """The overlays an earlier explanation wrote into ``out``, as its ``maps.npz`` lists them (``overlays``; one
    written before they were listed: named after its ``inputs``); none without a readable ``maps.npz``."""
    try:
        with np.load(out / MAPS_FILE, allow_pickle=False) as z:
            names = ([str(n) for n in z["overlays"]] if "overlays" in z.files
                     else [_overlay_name(i, str(n)) for i, n in enumerate(z["inputs"])])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return set()
    return {n for n in names if _OVERLAY.fullmatch(n)}  # a name, never a path out of the folder


def write_explanation(res, out: str | os.PathLike) -> list[Path]:
    """Write an :class:`~medtrain.explain.Explanation` ``res`` as ``maps.npz`` (``maps``, ``inputs``, ``target``,
    ``target_name``, ``method``, ``layer``, ``overlays``) and one overlay PNG per input (``NNNN_<name>.png``; for
    volumes the three central orthogonal slices) into the folder ``out``, all at once: an error leaves nothing.
    The overlays an earlier explanation in ``out`` wrote are removed; other files are left alone. Returns the
    written PNGs."""
    from medtrain.reports.plots import saliency_overlay

    out = Path(out)
    earlier = _earlier_overlays(out)
    pngs = []  # an out that is a file is refused by atomic_dir (_io.check_output), the CLI's --out check too
    with atomic_dir(out) as tmp:
        for i, name in enumerate(res.names):
            k = int(res.targets[i])
            png = _overlay_name(i, name)
            title = (f"{name} · {res.method}{f' at {res.layer}' if res.layer else ''} · "
                     f"{res.labels[k]} (p = {res.probs[i, k]:.3f})")
            saliency_overlay(res.images[i], res.maps[i], tmp / png, title, ras=_read_as_ras(name))
            pngs.append(out / png)
        np.savez_compressed(tmp / MAPS_FILE, maps=res.maps, inputs=np.array(res.names, dtype=str),
                            target=res.targets, target_name=np.array([res.labels[k] for k in res.targets], dtype=str),
                            method=np.array(res.method), layer=np.array(res.layer or ""),
                            overlays=np.array([p.name for p in pngs], dtype=str))
    # an earlier explanation's overlays would sit beside these maps as if they were theirs; only those its maps
    # listed go: every NNNN_*.png had gone, a user's 2024_holiday.png too (a security walkthrough)
    for name in earlier - {p.name for p in pngs}:
        if not (out / name).is_dir():
            (out / name).unlink(missing_ok=True)
    return pngs
