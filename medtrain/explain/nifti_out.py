"""A volume's map (a NIfTI file's or a DICOM series') written as NIfTI (``NNNN_<name>_map.nii.gz``), to lay over its
scan in 3D Slicer, ITK-SNAP or FSLeyes: float32 in the model's voxel grid, with the affine of that grid in the scan's millimetres
(:func:`medtrain.predict_inputs.model_affine`), so a viewer, which places images by their affine, puts each map voxel
where the network saw it."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

#: the NIfTI map of an input: its overlay's name, ``_map.nii.gz`` for ``.png``
SUFFIX = "_map.nii.gz"
NAME = re.compile(r"[0-9]{4}_[A-Za-z0-9._-]+" + re.escape(SUFFIX))

_SCANNER = 1  #: NIfTI's ``NIFTI_XFORM_SCANNER_ANAT``: where the scan's own header names no space


def map_name(overlay: str) -> str:
    """``0003_scan.png`` -> ``0003_scan_map.nii.gz``."""
    return overlay[: -len(".png")] + SUFFIX


def _space(source: str) -> tuple[int, str]:
    """The space code (``sform_code``, else ``qform_code``: the one nibabel's affine came from) of the NIfTI file
    ``source`` and the map's spatial unit (mm), for the map to say the same; scanner space in mm where it names none, and for a DICOM
    series folder (its patient coordinates, in mm, are the scanner's: :func:`medtrain.data.dicom.read_dicom_series_grid`)."""
    import nibabel as nib

    from medtrain.data.nifti import is_nifti

    if not is_nifti(source):  # a DICOM series folder
        return _SCANNER, "mm"
    try:
        header = nib.load(source).header
        codes = int(header["sform_code"]), int(header["qform_code"])
    except Exception:  # noqa: BLE001  (gone or changed since it was read: the map keeps the affine computed then)
        return _SCANNER, "mm"
    # mm whatever the source's unit: the grid's affine is in millimetres (data.nifti reads a header's micrometres or
    # metres as such), so the source's own unit would put the map 1000x off
    return next((c for c in codes if c > 0), _SCANNER), "mm"


def write_map(volume_map: np.ndarray, affine: np.ndarray, path: Path, source: str) -> None:
    """Write ``volume_map`` ``(D, H, W)`` (maps.npz's order, ``(Z, Y, X)``) to ``path`` as a float32 NIfTI of
    ``(X, Y, Z)`` voxels (the map transposed, RAS order as viewers expect) under ``affine``, the grid's affine from
    :func:`medtrain.predict_inputs.model_affine`: both its sform and qform, in the space of ``source``'s header."""
    import nibabel as nib

    img = nib.Nifti1Image(np.ascontiguousarray(np.asarray(volume_map, dtype=np.float32).transpose(2, 1, 0)),
                          affine)
    code, unit = _space(source)
    img.set_sform(affine, code=code)
    img.set_qform(affine, code=code)  # (a sheared affine: nibabel's closest; the sform, which viewers prefer, exact)
    img.header.set_xyzt_units(xyz=unit)
    img.header.set_data_dtype(np.float32)
    nib.save(img, str(path))
