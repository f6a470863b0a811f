"""What a folder of images holds, as the loaders tell it: the image files by their names (:data:`IMAGE_SUFFIXES`),
DICOM files by theirs, why a class's sub-folder gives no image (empty, or DICOM and NIfTI files, which are read from
a CSV), a medtrain run folder among the class folders, and a class folder or image whose name is not UTF-8,
refused in one line. Used by the class-folder loaders
(:func:`medtrain.data.folder.load_folder`, :mod:`medtrain.data._dicom_folder`) and :mod:`medtrain.data.dicom`."""
from __future__ import annotations

import os
import shlex
from pathlib import Path

from medtrain._io import CONFIG_FILE, METRICS_FILE, WEIGHTS_FILE
from medtrain.data.nifti import is_nifti
from medtrain.errors import MedtrainError

#: the image files that folders (training, ``predict``) hold; an animated GIF is read as its first frame, a TIFF of
#: more than one page (a stack of slices) is refused (:func:`medtrain.data._image_open._check_pages`)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
#: DICOM files by their name (:func:`medtrain.data.dicom.is_dicom_file` knows unnamed ones by their marker)
DICOM_SUFFIXES = (".dcm", ".dicom")


def _dicom_or_nifti(p: Path) -> bool:
    """A NIfTI file, or a DICOM file by its name or its ``DICM`` marker (as :mod:`medtrain.data.dicom` tells)."""
    if is_nifti(p) or p.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(p, "rb") as f:
            return f.read(132)[128:] == b"DICM"
    except OSError:
        return False


def _no_images(c: str, folder: Path, visible: list[Path]) -> MedtrainError:
    """Why class ``c``'s folder gave no image: empty, or the files it holds (``visible``) and their kinds."""
    files = [p for p in visible if p.is_file()]
    if not files:
        return MedtrainError(f"class '{c}' has no images in {folder}")
    kinds = sorted({p.suffix.lower() or p.name for p in files})
    shown = ", ".join(kinds[:5]) + (", ..." if len(kinds) > 5 else "")
    said = (f"class '{c}' has no images in {folder}: it holds {len(files)} file{'s' if len(files) != 1 else ''}, "
            f"none an image ({shown})")
    given = next((p for p in sorted(files) if _dicom_or_nifti(p)), None)
    if given is None:
        return MedtrainError(f"{said}; images are {', '.join(IMAGE_SUFFIXES)}")
    root = folder.parent  # DICOM and NIfTI are read from a CSV, or a folder's labels.csv (data.load_splits)
    return MedtrainError(f"{said}; DICOM and NIfTI files are not read from class folders but from a CSV of path,label"
                         f"[,split]: write {root / 'labels.csv'} with one line per file, paths relative to it (e.g. "
                         f"{given.relative_to(root).as_posix()},{c}), and pass --data {shlex.quote(str(root))}")


def _no_run_inside(c: str, folder: Path, visible: list[Path]) -> None:
    """Refuse class ``c``'s folder where it is, or holds, a medtrain run folder (its ``config.yaml`` beside
    ``metrics.json`` or ``model.safetensors``): the run's plots would be read as images of the class, or as a class of
    their own (a run trained into the data folder by an older medtrain, which refused only an --out inside the
    folder it trained on: a walk's next run took its PNGs as a third class, and read every image as RGB)."""
    runs = sorted({p.parent for p in visible if p.name == CONFIG_FILE
                   and ((p.parent / METRICS_FILE).is_file() or (p.parent / WEIGHTS_FILE).is_file())})
    if runs:
        what = "is a medtrain run folder" if runs[0] == folder else f"holds the medtrain run folder {runs[0]}"
        raise MedtrainError(f"class folder {folder} {what}: its plots would be read as images of class '{c}'; "
                            f"move the run out of the data folder")


def _check_utf8_names(root: Path, classes: list[str], paths: list[Path]) -> None:
    """Refuse, in one line, a class folder or image whose name is not UTF-8 (a Latin-1 'normál' from an old
    archive): its name cannot be written into the run's UTF-8 files (splits.csv, metrics.json), and had been a
    UnicodeEncodeError traceback once training was set up."""
    for name in [*classes, *(p.relative_to(root).as_posix() for p in paths)]:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(name).decode("utf-8", "backslashreplace")
            raise MedtrainError(f"{root}: the name {shown!r} is not UTF-8 (an older archive's encoding?); rename it, "
                                "e.g. with convmv -f latin1 -t utf8") from None
