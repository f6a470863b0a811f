"""A folder of DICOM series or NIfTI volumes with a label CSV, loaded into :class:`~medtrain.data.base.Splits`.

``load_volume_folder("scans/", "scans/labels.csv", spacing=1.5, size=64, window="lung")`` reads every row
``path,label[,split]`` of the CSV (paths relative to the folder): a sub-folder is a DICOM series, a
``.nii``/``.nii.gz`` file a NIfTI volume, any other file a single 2D DICOM image (radiograph). Each volume is

1. decoded and reordered to RAS (:mod:`medtrain.data.dicom`, :mod:`medtrain.data.nifti`);
2. resampled (trilinear) to ``spacing`` mm, then centre-cropped or zero-padded to ``size``; with
   ``spacing=None`` it is resized to ``size`` directly (:mod:`medtrain.data.geometry`);
3. mapped to [0, 1]: CT through the HU window ``(level, width)`` when one is given, otherwise (and for
   MR) between its own 1st and 99th percentiles (:mod:`medtrain.data.intensity`);
4. stored as uint8 ``(1, D, H, W)``, D running inferior->superior, H posterior->anterior, W left->right.

A colour 2D DICOM image (RGB, YBR, PALETTE COLOR) is kept as 8-bit RGB and resized as a colour PNG is; a data
set holding one is RGB throughout (grey images repeated over the channels), as the folder loader decides.

The uint8 result is cached in ``cache_dir`` under a key made of the file paths, their modification times
and sizes, and the settings, so a later epoch or run reads one small ``.npz`` instead of decoding DICOM
again. The cache holds voxels only: no DICOM attribute is written anywhere.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from medtrain._io import atomic_path, cache_dir as _cache_dir, path_kind, sweep_temporaries, why_not_read
from medtrain._io.cache import VOLUMES, folder
from medtrain.data._medmnist_names import own_data_name
from medtrain.data.base import Split, Splits
from medtrain.data import dicom
from medtrain.data._volume_notes import active as notes_active, collected
# grid_affine: where load_entry's voxels lie in the scan, under its public owner's name (predict imports no private
# data module)
from medtrain.data._grid_affine import grid_affine  # noqa: F401
from medtrain.data.duplicates import image_digests
from medtrain.data.folder import check_same_size, check_square, resize_square
from medtrain.data.geometry import (CutVolumeWarning, cut_note, cut_one, parse_size, resample, resize2d, say_cut,
                                    triple)
from medtrain.data.intensity import (intensity_record, looks_like_hounsfield, normalise_intensity, parse_window,
                                     say_hounsfield, to_uint8)
from medtrain.data.nifti import (NoAirWarning, VolumeData, check_hounsfield, is_nifti, no_air_note, read_nifti,
                                  say_no_air)
from medtrain.data.split import encode_labels, split_record
from medtrain.data.store import ABANDONED_S, content_key
from medtrain.data.table import LabelTable, group_hash, read_label_csv
from medtrain.errors import MedtrainError
from medtrain.tasks import BINARY, MULTICLASS

log = logging.getLogger(__name__)


class SkippedEntryWarning(UserWarning):
    """An entry ``--skip-bad`` left out of a data set, with the reason: said as it is read, not again when a finished
    run's data is read again (:mod:`medtrain.data._quiet`: eval, export... had said the training data's skips as
    if the data they were given had those problems)."""


_CACHE_VERSION = 3  # bump when the processing changes, so old cache entries are not reused (2: the HU check;
# 3: colour DICOM kept as RGB, MONOCHROME1 series inverted, NaN voxels of NIfTI the darkest value)


# --------------------------------------------------------------------------- one entry, cached


def _source_files(path: Path) -> list[Path]:
    if path.is_dir():
        return dicom.series_files(path)
    return [path]


def _cache_key(files: list[Path], settings: dict) -> str:
    items = []
    for f in files:
        items.append([str(f.resolve()), content_key(f)])
    blob = json.dumps({"v": _CACHE_VERSION, "files": items, "settings": settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


def _decode(path: Path, spacing, size, window, kind: str, facts: dict | None = None,
            by_run: bool = False) -> tuple[np.ndarray, bool]:
    """Decode and process one entry -> (uint8 array, whether a CT window was applied); ``facts`` (given) gets
    ``hounsfield``: whether its values look like CT in HU (DICOM Modality CT, or :func:`looks_like_hounsfield`).
    ``by_run``: ``window`` is the one a run was trained with (a refusal does not tell to drop --window)."""
    facts = {} if facts is None else facts
    if kind == "image":
        s = dicom.read_dicom_file(path)
        if s.frames != 1:
            raise MedtrainError(f"{path}: multi-frame DICOM ({s.frames} frames) is not one 2D image; a 2D "
                                f"data set takes one frame per file: save each frame as its own file (a 3D volume: "
                                f"convert it to NIfTI, e.g. with dcm2niix)")
        if s.colour is not None:  # (3, H, W), its values and resizing a colour PNG's (folder._array)
            im = Image.fromarray(s.colour, "RGB")
            x = np.asarray(resize_square(im, size[-1]) if size is not None else im, dtype=np.uint8)
            return np.ascontiguousarray(x.transpose(2, 0, 1)), False
        windowed = window is not None and s.is_ct
        facts["hounsfield"] = bool(s.is_ct)
        x = resize2d(s.pixels, tuple(size[-2:])) if size is not None else s.pixels  # None: its own size
        x = normalise_intensity(x, window if windowed else None)
        if s.monochrome1:
            x = 1.0 - x
        return to_uint8(x), windowed
    vol: VolumeData = read_nifti(path) if is_nifti(path) else dicom.read_dicom_series(path)
    windowed = window is not None and vol.kind in ("ct", "unknown")
    facts["hounsfield"] = vol.kind == "ct" or (vol.kind == "unknown" and looks_like_hounsfield(vol.array))
    if windowed and vol.kind == "unknown":  # refused if it is not HU for the window; said if it has no air
        facts["no_air"] = check_hounsfield(path, vol.array, window, by_run)
    # RAS (X, Y, Z) -> (D, H, W) = (Z, Y, X): depth runs along the body axis, as in axial stacks. (Where each voxel
    # of the result lies in the scan, these steps as one affine: medtrain.data._grid_affine, kept with them.)
    arr = vol.array.transpose(2, 1, 0)
    sp = vol.spacing[::-1]
    facts["extent"] = [n * s for n, s in zip(arr.shape, sp)]  # its field of view in mm, which --spacing may cut
    try:
        x = resample(arr, sp, spacing, size)
    except MedtrainError as e:
        raise MedtrainError(f"{path}: {e}") from None
    x = normalise_intensity(x, window if windowed else None)
    return to_uint8(x), windowed


def _is_volume(path: Path) -> bool:
    """A DICOM series folder or a NIfTI file, rather than a 2D DICOM image."""
    return path_kind(path) == "dir" or is_nifti(path)


def load_entry(path: str | os.PathLike, *, spacing=None, size=(64, 64, 64), window=None,
               cache_dir: str | os.PathLike | None = None, image_size: int | None = None,
               facts: dict | None = None) -> tuple[np.ndarray, bool]:
    """One DICOM series folder, NIfTI file or 2D DICOM file -> uint8 ``(D, H, W)`` or ``(H, W)`` (a colour 2D
    DICOM: ``(3, H, W)``), cached.
    A 2D image is resized to ``image_size`` squared when given, else to the last two of ``size``; with
    ``size=None`` it keeps its own size (as a PNG does without ``--image-size``).

    Returns the array and whether a CT window (rather than percentile normalisation) was applied; ``facts`` (given)
    gets ``hounsfield``, whether the entry looked like CT in HU (:func:`_decode`; kept in its cache entry). A volume whose crop to ``size`` at
    ``spacing`` cuts away more than 10% of its extent along an axis is said (:func:`medtrain.data.geometry.say_cut`):
    without ``facts`` in a :class:`~medtrain.data.geometry.CutVolumeWarning` of its own, with them as ``cut``; so is a
    NIfTI volume windowed though it has no air (:func:`medtrain.data.nifti.say_no_air`; with them as ``no_air``).
    Inside :func:`medtrain.data._volume_notes.notes_once` (predict, explain, ``eval --data``) both are said there, in
    one line each for all the inputs read.
    """
    path = Path(path)
    found = path_kind(path)
    if found is None:  # a FIFO or device named x.nii is refused unopened, and said to be what it is
        raise MedtrainError(f"{path}: {why_not_read(path, 'not found')}")
    kind = "volume" if _is_volume(path) else "image"
    spacing = triple(spacing, "spacing") if spacing is not None else None
    if kind == "image" and image_size:
        size = (1, int(image_size), int(image_size))
    size = parse_size(size) if size is not None or kind == "volume" else None
    win = parse_window(window)
    files = _source_files(path)
    cache_file = None
    if cache_dir is not None:
        settings = {"spacing": spacing, "size": size, "window": win, "kind": kind}
        cache_file = folder(VOLUMES, cache_dir) / f"{_cache_key(files, settings)}.npz"
        cached = None
        if cache_file.is_file():
            try:
                with np.load(cache_file) as z:  # a volume's extent and air kept since they are said: else rebuilt
                    if (kind != "volume" or "extent" in z.files) and (facts is None or "hounsfield" in z.files):
                        if facts is not None:
                            facts["hounsfield"] = bool(z["hounsfield"])
                        seen = {k: z[k].tolist() for k in ("extent", "no_air") if k in z.files}
                        cached = z["voxels"], bool(z["windowed"])
            except Exception:  # noqa: BLE001  (a damaged cache entry is rebuilt, never trusted)
                log.warning("rebuilding damaged cache entry %s", cache_file.name)
        if cached is not None:
            if facts is not None or not collected(path, seen, spacing, size, win):
                say_cut(path, seen.get("extent"), spacing, size, facts)
                say_no_air(path, seen.get("no_air"), win, facts)
            return cached
    found: dict = {}
    by_run = facts is None and notes_active()  # predict's, explain's... input: the run's --window
    arr, windowed = _decode(path, spacing, size, win, kind, found, by_run)
    seen = {k: found.pop(k) for k in ("extent", "no_air") if found.get(k) is not None}
    if facts is not None:  # (its extent and air are said below, into facts as cut and no_air)
        facts["hounsfield"] = found.get("hounsfield", False)
    if cache_file is not None:
        _sweep_once(cache_file.parent)
        with atomic_path(cache_file) as tmp, open(tmp, "wb") as f:
            np.savez(f, voxels=arr, windowed=np.array(windowed), hounsfield=np.array(found.get("hounsfield", False)),
                     **{k: np.array(v, np.float64) for k, v in seen.items()})
    if facts is not None or not collected(path, seen, spacing, size, win):  # (in predict's notes_once: one line)
        say_cut(path, seen.get("extent"), spacing, size, facts)
        say_no_air(path, seen.get("no_air"), win, facts)
    return arr, windowed


_swept: set[str] = set()  #: the cache folders this process swept


def _sweep_once(folder: Path) -> None:
    """Remove, once per process and folder, the temporary entries (``.KEY.npz.<random>.tmp``) a killed process left
    in the volume cache (they had stayed for good): those unwritten for the store's :data:`ABANDONED_S`, the rule of
    its own sweep (an entry being written by another process is newer)."""
    if str(folder) not in _swept:
        _swept.add(str(folder))
        sweep_temporaries(folder, older_than=time.time() - ABANDONED_S)


# --------------------------------------------------------------------------- the folder


def load_volume_folder(
    folder: str | os.PathLike,
    csv: str | os.PathLike | None = None,
    spacing: float | Sequence[float] | None = None,
    size: int | Sequence[int] = 64,
    window=None,
    skip_bad: bool = False,
    image_size: int | None = None,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    cache_dir: str | os.PathLike | None = None,
    group_column: str | None = None,
    folds: int = 0,
    fold: int | None = None,
    table: LabelTable | None = None,
) -> Splits:
    """Load DICOM series / NIfTI volumes (or 2D DICOM images) listed in a CSV into :class:`Splits`.

    Args:
        folder: root folder; CSV paths are relative to it (absolute paths are used as they are).
        csv: the CSV ``path,label[,split]`` (default ``folder/labels.csv``), as read by
            :func:`medtrain.data.table.read_label_csv`; without a split column, the split is
            :func:`medtrain.data.split.stratified_split`'s, seeded by ``seed``.
        spacing: target voxel size in mm, isotropic or ``(D, H, W)``; None resizes each volume to
            ``size`` whatever its voxel size.
        size: output ``(D, H, W)`` voxels (an int for a cube); 2D images use the last two unless
            ``image_size`` (``--image-size``) gives their side.
        window: CT window, a preset name (:data:`~medtrain.data.intensity.WINDOW_PRESETS`: lung,
            mediastinum, bone, brain, abdomen) or ``(level, width)`` in HU; None normalises every volume by its 1-99 percentiles.
            Applied to CT DICOM and to NIfTI (assumed in HU: a NIfTI volume nearly all clipped to one end of the
            window is refused by :func:`check_hounsfield`, one without air said in one line); MR DICOM always uses
            percentiles.
        skip_bad: False raises on the first unreadable/unsupported entry; True leaves it out and lists it,
            with the reason, in ``splits.extra["skipped"]`` (``[{"path": ..., "reason": ...}]``).
        seed, val_fraction, test_fraction: the stratified split when the CSV has no split column; pixel-identical
            volumes (a copy under another name) land in one split and one fold, as a patient's do.
        group_column: the CSV column naming each row's patient (default: ``patient``, ``patient_id`` or
            ``subject`` if present); without one, DICOM entries are grouped by their PatientID's hash
            (:func:`medtrain.data.dicom.patient_group`), so one patient's series never straddle splits.
        folds, fold: cross-validation, the fold held out (:func:`medtrain.data.split.assign_splits`).
        cache_dir: where decoded volumes are cached (default ``$MEDTRAIN_DATA`` or ``~/.cache/medtrain``).
        table: the rows already read, relative to ``folder`` (a folder of class folders of DICOM files:
            :mod:`medtrain.data._dicom_folder`); ``csv`` then only names them in messages and the split record.

    Returns:
        validated Splits with uint8 images ``(N, 1, D, H, W)`` (or ``(N, C, H, W)`` for 2D DICOM, C = 3 when any
        image is colour) and
        int64 labels; ``extra`` records the settings and the skipped files.

    Raises:
        MedtrainError: naming the file, for a bad CSV, a multi-label one (labels joined in a cell, 0/1 label
            columns) or (unless ``skip_bad``) any bad entry.
    """
    folder = Path(folder)
    if path_kind(folder) != "dir":
        raise MedtrainError(f"{folder}: data folder not found")
    csv_path = Path(csv) if csv is not None else folder / "labels.csv"
    table = table if table is not None else read_label_csv(csv_path, group_column)
    if table.label_names is not None:  # one class per entry below: each combination had trained as a class
        raise MedtrainError(f"{csv_path}: multi-label rows (several labels per entry) are read from a CSV of image "
                            f"files (PNG, JPEG, ...), not of DICOM/NIfTI entries, which take one class per row; "
                            f"convert the images, or give an .npz with a 0/1 label matrix")
    win = parse_window(window)
    size3 = parse_size(size)
    spacing3 = triple(spacing, "spacing") if spacing is not None else None
    cache = Path(cache_dir) if cache_dir is not None else _cache_dir()

    arrays, labels, splits, skipped, inputs, groups, sources, volumes = [], [], [], [], [], [], [], []
    n_windowed = n_hu = 0
    cut, no_air = [], []  #: (path, extent in mm) of the volumes --volume-size cuts at --spacing (say_cut), (path,
    # (min, max)) of those windowed without air (say_no_air)
    paths = table.resolve(folder)
    if spacing3 is not None and not any(_is_volume(p) for p in paths):
        raise MedtrainError(f"--spacing resamples volumes; {csv_path} lists 2D DICOM images (--image-size sizes "
                            f"them)")
    for i, path in enumerate(paths):
        volume = _is_volume(path)
        facts: dict = {}
        try:  # a 2D image keeps its size unless --image-size gives one (--volume-size is the volumes')
            arr, windowed = load_entry(path, spacing=spacing3, size=size3 if volume else None, window=win,
                                       cache_dir=cache, image_size=image_size, facts=facts)
        except MedtrainError as e:
            if not skip_bad:
                raise
            skipped.append({"path": str(path), "reason": str(e)})
            warnings.warn(SkippedEntryWarning(f"skipped {e}"), stacklevel=2)  # (not again when a run's data is reread)
            continue
        arrays.append(arr)
        volumes.append(volume)
        sources.append(str(path))
        inputs.append(table.paths[i])
        if table.groups is not None:
            groups.append(table.groups[i])
        elif not is_nifti(path):  # DICOM: the patient's hash, or the entry itself when it names none
            groups.append(dicom.patient_group(path) or group_hash("\0entry\0" + table.paths[i]))
        else:
            groups.append(None)
        labels.append(table.labels[i])
        if table.splits is not None:
            splits.append(table.splits[i])
        n_windowed += int(windowed)
        n_hu += int(facts.get("hounsfield", False))
        if "cut" in facts:
            cut.append((path, facts["cut"]))
        if "no_air" in facts:
            no_air.append((path, facts["no_air"]))
    if not arrays:
        raise MedtrainError(f"{csv_path}: no readable entries ({len(skipped)} skipped)")
    lost = sorted(set(table.labels) - set(labels))
    if lost:  # --skip-bad must not turn a 3-class task into a 2-class one (as for image folders)
        raise MedtrainError(f"{csv_path}: every entry of class {', '.join(map(repr, lost))} is unreadable "
                            f"({len(skipped)} skipped in all); fix the files or leave the class out")
    if len(set(volumes)) > 1:
        raise MedtrainError(f"{csv_path}: mixes 2D DICOM images and 3D volumes; use one kind per data set")
    if not volumes[0]:  # 2D: (C, H, W), grey unless some image has colour (as folder._decode decides)
        rgb = any(a.ndim == 3 for a in arrays)
        arrays = [a if a.ndim == 3 else np.repeat(a[None], 3 if rgb else 1, axis=0) for a in arrays]
        for source, a in zip(sources, arrays):
            check_same_size(sources[0], arrays[0].shape[1:], source, a.shape[1:])
        check_square(sources[0], arrays[0].shape[2], arrays[0].shape[1])
    if win is not None and not n_windowed:  # MR, PET...: normalised by percentiles, the window silently unused
        raise MedtrainError(f"--window applies to CT (Hounsfield units); no entry of {csv_path} is CT (DICOM "
                            f"Modality), so none could be windowed")
    intensity = intensity_record(n_hu, len(arrays), win, n_windowed)  # metrics.json data.intensity
    if cut:  # one line for the data set, each time it is loaded (a cached volume is cut as it was)
        warnings.warn(CutVolumeWarning(f"{csv_path}: " + cut_note(len(cut), len(arrays), spacing3, size3,
                                                                  cut_one(cut[0][0], cut[0][1], spacing3, size3))),
                      stacklevel=2)
    if no_air:
        warnings.warn(NoAirWarning(f"{csv_path}: " + no_air_note(len(no_air), len(arrays), win, no_air[0], False)),
                      stacklevel=2)
    # most looking like CT in HU, read without a window: said each time it is loaded, as the cut and no-air lines
    # (a finished run's own data read again is not: medtrain.data._quiet)
    say_hounsfield(csv_path, intensity, "volume" if volumes[0] else "image")

    y, label_names = encode_labels(labels)
    if any(g is None for g in groups):  # NIfTI without a group column: each entry its own group
        groups = [g or group_hash("\0entry\0" + x) for g, x in zip(groups, inputs)]
    images = torch.from_numpy(np.stack(arrays))
    if volumes[0]:
        images = images.unsqueeze(1)  # (N, 1, D, H, W); 2D images have their channels
    # where medtrain deals the splits (or folds) itself, pixel-identical volumes (a copy under another name) are kept
    # in one, as the folder loader keeps images (split_record splits them as distinct, and warns, where that fails)
    deals = table.splits is None or bool(folds)
    record = split_record(inputs, y, splits if table.splits is not None else None, val_fraction, test_fraction,
                          seed, groups, folds, fold, label_names=label_names, source=csv_path,
                          digests=image_digests(images.numpy()) if deals else None)
    assign = record.assign
    labels_t = torch.from_numpy(y)

    def part(i: int) -> Split:
        m = torch.from_numpy(assign == i)
        return Split(images[m].clone(), labels_t[m].clone(), [p for p, a in zip(sources, assign) if a == i],
                     record.part_groups(i))

    out = Splits(
        name=own_data_name(folder.name, f"{folder.name}/") if folder.name else str(folder),
        task=BINARY if len(label_names) == 2 else MULTICLASS,
        label_names=label_names,
        train=part(0), val=part(1), test=part(2),
        source=str(csv_path),
        record=record,
        extra={
            "kind": "volume" if images.ndim == 5 else "image",
            "spacing": list(spacing3) if spacing3 else None,
            "size": list(size3) if images.ndim == 5 else list(images.shape[-2:]),
            "window": list(win) if win else None,
            "normalisation": {"window": n_windowed, "percentile": len(arrays) - n_windowed},
            "intensity": intensity,
            "skipped": skipped,
        },
    )
    return out.validate()
